import * as tf from '@tensorflow/tfjs';

// One functional model per tf.Sequential, rebuilt when layers were added or popped since.
const functionals = new WeakMap<tf.Sequential, {output: tf.SymbolicTensor; model: tf.LayersModel}>();

/**
 * The functional model over the same layer objects as a tf.Sequential (weights shared: training one
 * trains the other), with the Sequential's name; a functional model is returned as it is. The
 * Sequential's own InputLayer (Keras-converted models list it among their layers) or the one tfjs
 * made for a first layer with an inputShape is its input.
 * @example const f = functionalOf(tf.sequential({layers: [tf.layers.dense({units: 2, inputShape: [3]})]})); f.layers.length; // 2
 */
export function functionalOf(model: tf.LayersModel): tf.LayersModel {
  if (!(model instanceof tf.Sequential)) return model;
  if (model.outputs.length !== 1 || model.inputs.length !== 1) {
    throw new Error(`tf.Sequential "${model.name}" has no layers with a known input shape: add a first layer with an inputShape (or an InputLayer)`);
  }
  const known = functionals.get(model);
  if (known?.output === model.outputs[0]) return known.model;
  const functional = tf.model({inputs: model.inputs, outputs: model.outputs, name: model.name});
  functionals.set(model, {output: model.outputs[0], model: functional});
  return functional;
}
