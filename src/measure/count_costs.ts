import * as tf from '@tensorflow/tfjs';
import {barrier, channelAxis, configOf, elements, handlerOf, handlers, registerHandler} from '../graph/handlers';
import type {Call} from '../graph';
import {functionalOf} from '../graph/sequential';

/** One call of a layer: per-sample shapes (batch axis dropped) of its inputs and outputs. */
export interface CallSite {
  inputShapes: number[][];
  outputShapes: number[][];
}

/** One row of the per-layer table; counts are per sample, summed over the layer's call sites. */
export interface LayerMeasurement {
  name: string;
  className: string;
  /** Per-sample shape of the first output of the first call. */
  outputShape: number[];
  /** Call sites in the model (a shared layer has several). */
  calls: number;
  macs: number;
  /** Weights, trainable and non-trainable (e.g. BatchNorm moving statistics). */
  params: number;
  trainableParams: number;
  /** Output elements per sample. */
  activations: number;
  /** Its outputs are conv/FC feature maps, counted in `memory`. */
  produces?: true;
  /** Set when no layer handler knows the class: its MACs are counted as 0. */
  unknown?: true;
}

/** Counts that need no running: MACs, weights, activation memory (all per sample). */
export interface Costs {
  /** Per-sample shapes of the model's inputs. */
  inputShapes: number[][];
  layers: LayerMeasurement[];
  /** Multiply-accumulates per sample (what the paper calls FLOPs). */
  macs: number;
  params: number;
  trainableParams: number;
  nonTrainableParams: number;
  /** Output elements of the layers whose handler `produces` (convolutions, dense) per sample. */
  memory: number;
  /** Output elements of every layer but the inputs, per sample. */
  memoryAll: number;
  /** Layer classes without a layer handler (sorted, unique): their MACs are missing from `macs`. */
  unknownClasses: string[];
}

type Shape = (number | null)[];

// Drops the batch axis; a layer with an undefined dimension cannot be costed.
function perSample(shapes: Shape | Shape[], where: string): number[][] {
  const list = (Array.isArray(shapes[0]) ? shapes : [shapes]) as Shape[];
  return list.map((shape) => {
    const rest = shape.slice(1);
    if (rest.some((d) => d == null)) {
      throw new Error(`measure: ${where} has shape [${shape.map(String).join(', ')}] with an undefined ` +
        'non-batch dimension; build the model with a fixed inputShape');
    }
    return rest as number[];
  });
}

// The layer's nodes that belong to this model (a layer may also be called in other models).
// NOTE: keys follow tfjs's Container.nodeKey: `${layer.name}_ib-${nodeIndex}`.
function callSites(model: tf.LayersModel, layer: tf.layers.Layer): CallSite[] {
  return layer.inboundNodes
    .filter((_, i) => model.containerNodes.has(`${layer.name}_ib-${i}`))
    .map((node) => ({
      inputShapes: perSample(node.inputShapes, `layer '${layer.name}'`),
      outputShapes: perSample(node.outputShapes, `layer '${layer.name}'`),
    }));
}

const weightCount = (weights: tf.LayerVariable[]): number =>
  weights.reduce((sum, w) => sum + elements(w.shape as number[]), 0);

function layerRows(outer: tf.LayersModel): LayerMeasurement[] {
  const model = functionalOf(outer); // a tf.Sequential's own container holds no nodes of its layers
  return model.layers.flatMap((layer): LayerMeasurement[] => {
    const className = layer.getClassName();
    if (handlerOf(layer)?.input) return [];
    const sites = callSites(model, layer);
    if (layer instanceof tf.LayersModel) {
      // nested model: its own rows, repeated once per call of it here
      return layerRows(layer).map((row) => ({
        ...row, name: `${layer.name}/${row.name}`, calls: row.calls * sites.length,
        macs: row.macs * sites.length, activations: row.activations * sites.length,
      }));
    }
    const handler = handlerOf(layer);
    const row: LayerMeasurement = {
      name: layer.name,
      className,
      outputShape: sites[0]?.outputShapes[0] ?? [],
      calls: sites.length,
      macs: sites.reduce((sum, site) => sum + siteMacs(layer, site), 0),
      params: weightCount(layer.weights),
      trainableParams: weightCount(layer.trainableWeights),
      activations: sites.reduce((sum, site) => sum + site.outputShapes.reduce((s, o) => s + elements(o), 0), 0),
    };
    if (!handler) return [{...row, unknown: true}];
    return handler.produces ? [{...row, produces: true}] : [row];
  });
}

// MACs of one call site from the same handler the pruner uses, at the full channel counts.
function siteMacs(layer: tf.layers.Layer, site: CallSite): number {
  const macs = handlerOf(layer)?.macs;
  if (!macs) return 0;
  const [input, output] = [site.inputShapes[0] ?? [], site.outputShapes[0] ?? []];
  const call: Call = {layer, call: 0, inputs: [], inputShapes: site.inputShapes, outputShape: output};
  return macs(call, input[channelAxis(layer, input)] ?? 1, output[channelAxis(layer, output)] ?? 1);
}

const total = (rows: LayerMeasurement[], key: 'macs' | 'params' | 'trainableParams' | 'activations'): number =>
  rows.reduce((sum, row) => sum + row[key], 0);

/**
 * Per-layer and total MACs, weights and activation memory of a built model (nothing is run).
 * @example const c = countCosts(model); console.log(c.macs, c.params, c.memory);
 */
export function countCosts(model: tf.LayersModel): Costs {
  const layers = layerRows(model);
  const params = total(layers, 'params');
  const trainableParams = total(layers, 'trainableParams');
  return {
    inputShapes: model.inputs.flatMap((input) => perSample(input.shape, `input '${input.name}'`)),
    layers,
    macs: total(layers, 'macs'),
    params,
    trainableParams,
    nonTrainableParams: params - trainableParams,
    memory: total(layers.filter((row) => row.produces), 'activations'),
    memoryAll: total(layers, 'activations'),
    unknownClasses: [...new Set(layers.filter((row) => row.unknown).map((row) => row.className))].sort(),
  };
}

/**
 * Multiply-accumulates per sample of a built model.
 * @example const flops = macsOf(model); // Dense 4 -> 3 alone: 12
 */
export const macsOf = (model: tf.LayersModel): number => countCosts(model).macs;

/**
 * Weights of a model, trainable and non-trainable (needs no fixed input shape).
 * @example paramsOf(model) === model.countParams()
 */
export const paramsOf = (model: tf.LayersModel): number => weightCount(model.weights);

/**
 * What one layer class costs per call site and sample.
 * @deprecated a layer class is described in one place, its handler: use registerHandler(className, {group, macs, produces}).
 */
export interface LayerCost {
  /** Multiply-accumulates of one call on one sample. */
  macs: (site: CallSite, config: tf.serialization.ConfigDict) => number;
  /** Whether its outputs count towards `memory` (the paper's "acts": conv and dense outputs). */
  memory: boolean;
}

/**
 * Sets the MACs and memory flag of a layer class on its handler (a barrier when it has none).
 * The MACs are read from the full shapes, so they do not follow pruning of that layer.
 * @deprecated use registerHandler(className, {group, macs: (call, cin, cout) => ..., produces}): one handler
 * gives grouping, costs and export, and its MACs follow the kept channels.
 * @example registerLayerCost('MyConv', {macs: (s) => s.outputShapes[0][2] * 9, memory: true});
 */
export function registerLayerCost(className: string, cost: LayerCost): void {
  const handler = handlers[className] ??
    barrier((l) => `layer "${l.name}" of class ${className} has a cost but no pruning rule (register one with registerHandler)`);
  registerHandler(className, {
    ...handler,
    produces: cost.memory,
    macs: (call) => cost.macs({inputShapes: call.inputShapes, outputShapes: [call.outputShape]}, configOf(call.layer)),
  });
}
