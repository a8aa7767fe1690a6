import * as tf from '@tensorflow/tfjs';
import {isInput, isNoise} from './handlers';
import {functionalOf} from './sequential';

/** Shape of one tensor without the batch axis, e.g. [h, w, c]. */
export type Shape = number[];

/** Output `index` of call `call` of layer `layer`. */
export interface TensorRef { layer: string; call: number; index: number }

/** One application of a layer inside the model (a shared layer has several). */
export interface Call {
  layer: tf.layers.Layer;
  call: number;
  inputs: TensorRef[];
  inputShapes: Shape[];
  outputShape: Shape;
}

/** A functional LayersModel read as calls in topological order. */
export interface ModelGraph {
  model: tf.LayersModel;
  calls: Call[];
  inputs: TensorRef[];
  outputs: TensorRef[];
}

// tfjs-layers internals used here (public fields without types in the d.ts).
interface LayerNode {
  inboundLayers: tf.layers.Layer[];
  nodeIndices: number[];
  tensorIndices: number[];
  inputShapes: (number | null)[] | (number | null)[][];
  outputShapes: (number | null)[] | (number | null)[][];
}
interface ContainerInternals {
  containerNodes: Set<string>;
  inputLayers: tf.layers.Layer[];
  outputLayers: tf.layers.Layer[];
  outputLayersNodeIndices: number[];
  outputLayersTensorIndices: number[];
}

export const refKey = (r: TensorRef): string => `${r.layer}#${r.call}:${r.index}`;

const stripBatch = (s: (number | null)[]): Shape => s.slice(1).map((d) => d ?? -1);
const shapeList = (s: LayerNode['inputShapes']): Shape[] =>
  (Array.isArray(s[0]) || s.length === 0 ? (s as (number | null)[][]) : [s as (number | null)[]]).map(stripBatch);

/**
 * Read a functional tf.LayersModel as a list of layer calls in topological order.
 * @example const g = readModel(tf.model({inputs, outputs})); g.calls.map((c) => c.layer.name);
 */
export function readModel(model: tf.LayersModel): ModelGraph {
  if (!(model instanceof tf.LayersModel)) {
    throw new Error('expected a tf.LayersModel built with the functional API (tf.model({inputs, outputs}))');
  }
  if (model instanceof tf.Sequential) return readModel(functionalOf(model)); // same layer objects, weights shared
  const c = model as unknown as ContainerInternals;
  const seen = new Map<string, Call>();
  const order: Call[] = [];
  const visit = (layer: tf.layers.Layer, call: number, path: Set<string>): void => {
    const key = `${layer.name}#${call}`;
    if (seen.has(key)) return;
    if (path.has(key)) throw new Error(`model "${model.name}" has a cycle through layer "${layer.name}"`);
    path.add(key);
    const node = (layer as unknown as {inboundNodes: LayerNode[]}).inboundNodes[call];
    const inputs: TensorRef[] = node.inboundLayers.map((l, i) => ({layer: l.name, call: node.nodeIndices[i], index: node.tensorIndices[i]}));
    node.inboundLayers.forEach((l, i) => visit(l, node.nodeIndices[i], path));
    path.delete(key);
    const outs = shapeList(node.outputShapes);
    const entry: Call = {layer, call, inputs, inputShapes: inputs.length ? shapeList(node.inputShapes) : [], outputShape: outs[0]};
    if (outs.length !== 1) entry.outputShape = [];
    seen.set(key, entry);
    order.push(entry);
  };
  const outputs = c.outputLayers.map((l, i) => ({layer: l.name, call: c.outputLayersNodeIndices[i], index: c.outputLayersTensorIndices[i]}));
  c.outputLayers.forEach((l, i) => visit(l, c.outputLayersNodeIndices[i], new Set()));
  for (const call of order) {
    if (!c.containerNodes.has(`${call.layer.name}_ib-${call.call}`)) {
      throw new Error(`layer "${call.layer.name}" call ${call.call} is not part of model "${model.name}"`);
    }
  }
  const inputs = c.inputLayers.map((l) => ({layer: l.name, call: 0, index: 0}));
  return {model, calls: order, inputs, outputs};
}

/** Hook applied to the inputs of a call before the layer runs (used for masks). */
export type InputHook = (call: Call, inputs: tf.Tensor[]) => tf.Tensor[];

/** Gives the value a model output returns instead of its layer's output (e.g. the values before an output softmax); undefined keeps it. */
export type OutputHook = (call: Call, inputs: tf.Tensor[], kwargs: {training: boolean}) => tf.Tensor | undefined;

/**
 * Run the graph eagerly on concrete inputs, optionally rewriting each call's inputs (`hook`) and what
 * the model outputs return (`output`; the layers' own outputs still feed later calls).
 * Returns the model outputs; intermediate tensors are left to the caller's tf.tidy.
 * @example const [logits] = tf.tidy(() => execute(g, [xs], {training: false}));
 */
export function execute(graph: ModelGraph, inputs: tf.Tensor[], opts: {training: boolean; hook?: InputHook; dropout?: boolean; output?: OutputHook}): tf.Tensor[] {
  const values = new Map<string, tf.Tensor>();
  const returned = new Map<string, tf.Tensor>();
  const outputCalls = new Set(graph.outputs.map((r) => `${r.layer}#${r.call}`));
  graph.inputs.forEach((r, i) => values.set(refKey(r), inputs[i]));
  for (const call of graph.calls) {
    if (isInput(call.layer)) continue;
    let xs = call.inputs.map((r) => {
      const v = values.get(refKey(r));
      if (!v) throw new Error(`missing input ${refKey(r)} for layer "${call.layer.name}"`);
      return v;
    });
    if (opts.hook) xs = opts.hook(call, xs);
    const kwargs = {training: opts.training && !(isNoise(call.layer) && opts.dropout === false)};
    const out = call.layer.apply(xs.length === 1 ? xs[0] : xs, kwargs) as tf.Tensor | tf.Tensor[];
    (Array.isArray(out) ? out : [out]).forEach((t, i) => values.set(refKey({layer: call.layer.name, call: call.call, index: i}), t));
    const other = opts.output && outputCalls.has(`${call.layer.name}#${call.call}`) ? opts.output(call, xs, kwargs) : undefined;
    if (other) returned.set(refKey({layer: call.layer.name, call: call.call, index: 0}), other);
  }
  return graph.outputs.map((r) => (returned.get(refKey(r)) ?? values.get(refKey(r))) as tf.Tensor);
}
