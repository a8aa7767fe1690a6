import * as tf from '@tensorflow/tfjs';

/**
 * model.dispose(), then every weight it left: a model read from model.json counts each application of a shared
 * layer (the detector's heads, applied once per FPN level) as an owner, so dispose() keeps those weights.
 * @example disposeModel(await loadModel('runs/det'));
 */
export function disposeModel(model: tf.LayersModel): void {
  const weights = model.weights.map((w) => w.read());
  model.dispose();
  tf.dispose(weights.filter((w) => !w.isDisposed));
}
