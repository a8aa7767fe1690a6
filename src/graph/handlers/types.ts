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

/**
 * Everything about one layer class, in one place (docs/method.md §3, §4, §6): how its channels group,
 * what it costs, how it is sliced for export. One handler per getClassName().
 */
export interface LayerHandler {
  /** The model's input (InputLayer): nothing to run, a fixed space of its own. */
  input?: boolean;
  /** Training-only noise (Dropout and the like): identity at inference, left off while scoring. */
  noise?: boolean;
  /** Reads its input through a mask (docs/method.md §1). */
  consumes?: boolean;
  /** Its output is a conv/FC feature map: counted in activation memory (docs/method.md §4). */
  produces?: boolean;
  /** The channel map of the call's output. */
  group(ctx: GroupContext): ChannelMap;
  /**
   * MACs per sample of one call given its current input features and output channels
   * (channel-axis sizes). Absent: 0 (the paper counts convolutions and dense layers only).
   */
  macs?(call: Call, cin: number, cout: number): number;
  /** The layer's weights sliced to the kept channels, in layer.getWeights() order. */
  slice?(weights: tf.Tensor[], keep: Keep, layer: tf.layers.Layer): tf.Tensor[];
  /** The layer's config for the kept channels. */
  config?(config: tf.serialization.ConfigDict, keep: Keep, layer: tf.layers.Layer): tf.serialization.ConfigDict;
}

/**
 * Product of the entries (1 for an empty shape).
 * @example elements([2, 2, 8]) // 32
 */
export const elements = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const configs = new WeakMap<tf.layers.Layer, tf.serialization.ConfigDict>();

/**
 * A layer's config, read once (costs are evaluated many times while ranking).
 * @example configOf(conv).kernelSize // [3, 3]
 */
export function configOf(layer: tf.layers.Layer): tf.serialization.ConfigDict {
  let c = configs.get(layer);
  if (!c) configs.set(layer, (c = layer.getConfig()));
  return c;
}

/**
 * Channel axis of a per-sample shape: 0 for dataFormat 'channelsFirst' ([c, h, w]), else the last.
 * @example channelAxis(conv, [9, 9, 4]) // 2
 */
export const channelAxis = (layer: tf.layers.Layer, shape: readonly number[]): number =>
  (configOf(layer).dataFormat === 'channelsFirst' ? 0 : shape.length - 1);

/**
 * Positions of a per-sample shape: its elements over its channels (h * w; 1 for a vector).
 * @example positionsOf(conv, [4, 4, 8]) // 16
 */
export const positionsOf = (layer: tf.layers.Layer, shape: readonly number[]): number =>
  elements(shape) / (shape[channelAxis(layer, shape)] ?? 1);

/**
 * Number of output positions (h * w) of a call, 1 for vectors.
 * @example positions(call) // 64 for an [8, 8, c] output
 */
export const positions = (call: Call): number => positionsOf(call.layer, call.outputShape);

/**
 * kh * kw of a conv layer's config.
 * @example kernelArea(tf.layers.conv2d({filters: 1, kernelSize: 3})) // 9
 */
export const kernelArea = (layer: tf.layers.Layer): number => {
  const k = configOf(layer).kernelSize as number | number[];
  return Array.isArray(k) ? k[0] * (k[1] ?? k[0]) : k * k;
};

/**
 * A map with one fresh segment.
 * @example single(ctx.member(8))
 */
export const single = (member: number): ChannelMap => ({segments: [member], spatial: 1});

/**
 * The input map of a layer that reads one per-pixel channel axis, or a block.
 * @example const input = spatialInput(ctx);
 */
export function spatialInput(ctx: GroupContext): ChannelMap {
  const m = ctx.inputs[0];
  if (m.spatial !== 1) ctx.block(m, `layer "${ctx.call.layer.name}" reads a flattened tensor as channels`);
  return m;
}

/**
 * A layer whose channels follow no rule: what it reads and what it writes stay as they are.
 * @example const permute = barrier((l) => `Permute "${l.name}" moves the channel axis`);
 */
export function barrier(reason: (layer: tf.layers.Layer) => string): LayerHandler {
  return {
    group: (ctx) => {
      const why = reason(ctx.call.layer);
      ctx.inputs.forEach((m) => ctx.block(m, why));
      const shape = ctx.call.outputShape;
      const out = single(ctx.member(shape[shape.length - 1] ?? 1));
      ctx.block(out, why);
      return out;
    },
  };
}
