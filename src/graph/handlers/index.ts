import * as tf from '@tensorflow/tfjs';
import {batchNormalization} from './batch_normalization';
import {conv2d} from './conv2d';
import {conv2dTranspose} from './conv2d_transpose';
import {dense} from './dense';
import {depthwiseConv2d} from './depthwise_conv2d';
import {groupConv2d} from './group_conv2d';
import {inputLayer} from './input_layer';
import {concatenate, flatten, merge, noise, passThrough, softmax} from './pass_through';
import {perChannel} from './per_channel';
import {reshape} from './reshape';
import {separableConv2d} from './separable_conv2d';
import {barrier, LayerHandler} from './types';

export type {ChannelMap, GroupContext, Keep, LayerHandler} from './types';
export {barrier, channelAxis, configOf, elements, positionsOf} from './types';

const passThroughClasses = [
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Rescaling',
  'MaxPooling1D', 'AveragePooling1D', 'MaxPooling2D', 'AveragePooling2D', 'MaxPooling3D', 'AveragePooling3D',
  'GlobalAveragePooling1D', 'GlobalMaxPooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D',
  'UpSampling2D', 'ZeroPadding2D', 'Cropping2D', 'Resizing', 'CenterCrop',
] as const;
const noiseClasses = ['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout'] as const;
const mergeClasses = ['Add', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Subtract'] as const;
const perChannelClasses = ['PReLU', 'Normalization'] as const;

// Classes whose costs are known (no MACs) but whose channels follow no rule.
const fixed = (why: string): LayerHandler => barrier((l: tf.layers.Layer) => `layer "${l.name}" of class ${l.getClassName()} ${why}`);
const fixedClasses = {
  LayerNormalization: fixed('normalizes across channels'),
  Permute: fixed('moves the channel axis'),
  RepeatVector: fixed('repeats a vector along a new axis'),
  Masking: fixed('masks time steps by all channels'),
};

/** Layer classes with a built-in handler (their getClassName()). */
export type LayerClass = 'InputLayer' | 'Conv2D' | 'Conv2DTranspose' | 'SeparableConv2D' | 'DepthwiseConv2D' | 'GroupConv2D' |
  'Dense' | 'BatchNormalization' | 'Concatenate' | 'Flatten' | 'Reshape' | 'Softmax' | keyof typeof fixedClasses |
  (typeof passThroughClasses)[number] | (typeof noiseClasses)[number] | (typeof mergeClasses)[number] | (typeof perChannelClasses)[number];

const builtins: Record<LayerClass, LayerHandler> = {
  InputLayer: inputLayer,
  Conv2D: conv2d,
  Conv2DTranspose: conv2dTranspose,
  SeparableConv2D: separableConv2d,
  DepthwiseConv2D: depthwiseConv2d,
  GroupConv2D: groupConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
  Concatenate: concatenate,
  Flatten: flatten,
  Reshape: reshape,
  Softmax: softmax,
  ...fixedClasses,
  ...(Object.fromEntries(passThroughClasses.map((c) => [c, passThrough])) as Record<(typeof passThroughClasses)[number], LayerHandler>),
  ...(Object.fromEntries(noiseClasses.map((c) => [c, noise])) as Record<(typeof noiseClasses)[number], LayerHandler>),
  ...(Object.fromEntries(mergeClasses.map((c) => [c, merge])) as Record<(typeof mergeClasses)[number], LayerHandler>),
  ...(Object.fromEntries(perChannelClasses.map((c) => [c, perChannel])) as Record<(typeof perChannelClasses)[number], LayerHandler>),
};

/**
 * Layer handlers keyed by getClassName(): the built-in classes plus registered ones; a class missing
 * here is a barrier, and its MACs are unknown.
 * @example handlers.Conv2D?.produces // true
 */
export const handlers: Partial<Record<LayerClass, LayerHandler>> & Record<string, LayerHandler | undefined> = {...builtins};

/**
 * The handler of a layer's class, or undefined when the class has none.
 * @example handlerOf(tf.layers.dropout({rate: 0.5}))?.noise // true
 */
export const handlerOf = (layer: tf.layers.Layer): LayerHandler | undefined => handlers[layer.getClassName()];

/**
 * Whether a layer is a model input (InputLayer): nothing to run.
 * @example graph.calls.filter((c) => !isInput(c.layer));
 */
export const isInput = (layer: tf.layers.Layer): boolean => handlerOf(layer)?.input === true;

/**
 * Whether a layer is training-only noise (Dropout and the like), left off while scoring.
 * @example const training = opts.training && !(isNoise(call.layer) && opts.dropout === false);
 */
export const isNoise = (layer: tf.layers.Layer): boolean => handlerOf(layer)?.noise === true;

/**
 * Teach the pruner a layer class of your own: its channel rule, and where it has them its MACs
 * (`macs`; without it the layer counts 0), whether its output counts as activation memory
 * (`produces`) and how its weights and config shrink (`slice`, `config`). Replaces a built-in
 * handler of the same name.
 * @example registerHandler('MyScale', {group: (ctx) => ctx.inputs[0]});
 */
export function registerHandler(className: string, handler: LayerHandler): void {
  handlers[className] = handler;
}
