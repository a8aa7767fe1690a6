import * as tf from '@tensorflow/tfjs';
import {Grouping, refKey} from '../graph';
import {ownSharedLayers} from '../models/common';
import {keepOf, KeptView} from './masks';

type LayerClass = {fromConfig: (cls: unknown, config: tf.serialization.ConfigDict) => tf.layers.Layer};

/** A fresh layer of the same class from a config (the class must be registered for serialization). */
function rebuild(layer: tf.layers.Layer, config: tf.serialization.ConfigDict): tf.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()];
  if (!entry) throw new Error(`layer "${layer.name}": class ${layer.getClassName()} is not registered with tf.serialization.registerClass`);
  const [cls, fromConfig] = entry as unknown as [LayerClass, LayerClass['fromConfig']];
  return fromConfig(cls, config);
}

/**
 * The physically smaller model (docs/method.md §6): producers sliced on their output axis, BatchNorm
 * and biases sliced, consumers sliced on their input axis. pruned(x) == masked model(x).
 * @example const small = exportPruned(grouping, kept); small.predict(x);
 */
export function exportPruned(g: Grouping, kept: KeptView): tf.LayersModel {
  const layers = new Map<string, tf.layers.Layer>();
  const weights = new Map<string, tf.Tensor[]>();
  const symbolic = new Map<string, tf.SymbolicTensor>();
  const inputs: tf.SymbolicTensor[] = [];
  for (const c of g.calls) {
    const layer = c.call.layer;
    const name = layer.name;
    if (c.handler.input) {
      const t = tf.input({shape: c.call.outputShape, name, dtype: 'float32'});
      inputs.push(t);
      symbolic.set(refKey({layer: name, call: c.call.call, index: 0}), t);
      continue;
    }
    if (!layers.has(name)) {
      const keep = keepOf(g, kept, c);
      const config = c.handler.config ? c.handler.config(layer.getConfig(), keep, layer) : layer.getConfig();
      layers.set(name, rebuild(layer, config));
      const w = layer.getWeights();
      // NOTE: copied through JS so each weight owns its data: wasm's GatherV2 output keeps a rank-4
      // shape in the backend, and wasm's _FusedMatMul then rejects it as a Dense bias. webgpu in Node
      // cannot read synchronously (and has no such issue): there a clone does.
      const sliced = (): tf.Tensor[] => tf.tidy(() => c.handler.slice!(w, keep, layer)).map((t) => {
        const copy = tf.getBackend() === 'webgpu' ? t.clone() : tf.tensor(t.dataSync(), t.shape, t.dtype);
        t.dispose();
        return copy;
      });
      weights.set(name, c.handler.slice && w.length ? sliced() : w);
    }
    const xs = c.call.inputs.map((r) => symbolic.get(refKey(r)) as tf.SymbolicTensor);
    const out = layers.get(name)!.apply(xs.length === 1 ? xs[0] : xs) as tf.SymbolicTensor;
    symbolic.set(refKey({layer: name, call: c.call.call, index: 0}), out);
  }
  const outputs = g.graph.outputs.map((r) => symbolic.get(refKey(r)) as tf.SymbolicTensor);
  const ordered = g.graph.inputs.map((r) => inputs.find((t) => t.name.startsWith(r.layer)) ?? inputs[0]);
  const small = ownSharedLayers(tf.model({inputs: ordered, outputs, name: `${g.graph.model.name}_pruned`}));
  for (const [name, w] of weights) {
    small.getLayer(name).setWeights(w);
    const original = g.graph.model.getLayer(name).getWeights();
    w.forEach((t) => { if (!original.includes(t)) t.dispose(); });
  }
  return small;
}
