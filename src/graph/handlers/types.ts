import * as tf from '@tensorflow/tfjs';
import type {Call} from '../model_graph';

/**
 * Channels of one tensor, in order: the channel sets (members) it concatenates. A flattened
 * tensor repeats them `spatial` times with channels inner: feature f -> channel f % C.
 */
export interface ChannelMap { segments: number[]; spatial: number }

/** What a handler may do while the spaces are built. */
export interface GroupContext {
  call: Call;
  inputs: ChannelMap[];
  /** The channel set this layer writes (one per layer, shared by all its calls). */
  member(channels: number): number;
  /** Couple two channel sets: unit k of one goes with unit k of the other; `groups` caps the units. */
  couple(a: number, b: number, groups?: number): void;
  /** Couple two tensors channel by channel (residual add); blocks both if they do not line up. */
  coupleMaps(a: ChannelMap, b: ChannelMap): void;
  /** Mark every space in `map` not prunable. */
  block(map: ChannelMap, reason: string): void;
}

/** Kept indices on a call's input features and output channels. */
export interface Keep { input: number[]; output: number[] }

/** Per-layer-class rules: one handler per getClassName() (METHOD.md §3). */
export interface LayerHandler {
  /** Reads its input through a mask (METHOD.md §1). */
  consumes?: boolean;
  /** Its output is a conv/FC feature map: counted in activation memory (METHOD.md §4). */
  produces?: boolean;
  /** The channel map of the call's output. */
  group(ctx: GroupContext): ChannelMap;
  /** MACs per sample of one call given its current input features and output channels. */
  macs?(call: Call, cin: number, cout: number): number;
  /** The layer's weights sliced to the kept channels, in layer.getWeights() order. */
  slice?(weights: tf.Tensor[], keep: Keep, layer: tf.layers.Layer): tf.Tensor[];
  /** The layer's config for the kept channels. */
  config?(config: tf.serialization.ConfigDict, keep: Keep): tf.serialization.ConfigDict;
}

/** Number of output positions (h * w) of a call, 1 for vectors. */
export const positions = (call: Call): number => call.outputShape.slice(0, -1).reduce((a, b) => a * b, 1);

/** kh * kw of a conv layer's config. */
export const kernelArea = (layer: tf.layers.Layer): number => {
  const k = layer.getConfig().kernelSize as number | number[];
  return Array.isArray(k) ? k[0] * (k[1] ?? k[0]) : k * k;
};

/** A map with one fresh segment. */
export const single = (member: number): ChannelMap => ({segments: [member], spatial: 1});

/** The input map of a layer that reads one per-pixel channel axis, or a block. */
export function spatialInput(ctx: GroupContext): ChannelMap {
  const m = ctx.inputs[0];
  if (m.spatial !== 1) ctx.block(m, `layer "${ctx.call.layer.name}" reads a flattened tensor as channels`);
  return m;
}
