import * as tf from '@tensorflow/tfjs';
import {CallSite, elements, layerCosts} from './layer_costs';

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
  /** Set when no cost handler knows the class: its MACs are counted as 0. */
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
  /** Output elements of Conv2D, DepthwiseConv2D, GroupConv2D and Dense layers per sample. */
  memory: number;
  /** Output elements of every layer but the inputs, per sample. */
  memoryAll: number;
  /** Layer classes without a cost handler (sorted, unique). */
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

function layerRows(model: tf.LayersModel): LayerMeasurement[] {
  return model.layers.flatMap((layer): LayerMeasurement[] => {
    const className = layer.getClassName();
    if (className === 'InputLayer') return [];
    const sites = callSites(model, layer);
    if (layer instanceof tf.LayersModel) {
      // nested model: its own rows, repeated once per call of it here
      return layerRows(layer).map((row) => ({
        ...row, name: `${layer.name}/${row.name}`, calls: row.calls * sites.length,
        macs: row.macs * sites.length, activations: row.activations * sites.length,
      }));
    }
    const cost = layerCosts[className];
    const config = layer.getConfig();
    const row: LayerMeasurement = {
      name: layer.name,
      className,
      outputShape: sites[0]?.outputShapes[0] ?? [],
      calls: sites.length,
      macs: cost ? sites.reduce((sum, site) => sum + cost.macs(site, config), 0) : 0,
      params: weightCount(layer.weights),
      trainableParams: weightCount(layer.trainableWeights),
      activations: sites.reduce((sum, site) => sum + site.outputShapes.reduce((s, o) => s + elements(o), 0), 0),
    };
    return cost ? [row] : [{...row, unknown: true}];
  });
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
    memory: total(layers.filter((row) => layerCosts[row.className]?.memory), 'activations'),
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
