import {batchNormalization} from './batch_normalization';
import {conv2d} from './conv2d';
import {dense} from './dense';
import {depthwiseConv2d} from './depthwise_conv2d';
import {groupConv2d} from './group_conv2d';
import {concatenate, flatten, merge, passThrough} from './pass_through';
import type {LayerHandler} from './types';

export type {ChannelMap, GroupContext, Keep, LayerHandler} from './types';

const passThroughClasses = [
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Dropout', 'SpatialDropout1D',
  'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'MaxPooling2D', 'AveragePooling2D',
  'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'UpSampling2D', 'ZeroPadding2D', 'Cropping2D',
];
const mergeClasses = ['Add', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Subtract'];

/** Layer handlers keyed by getClassName(); a class missing here is a barrier. */
export const handlers: Record<string, LayerHandler> = {
  Conv2D: conv2d,
  Dense: dense,
  DepthwiseConv2D: depthwiseConv2d,
  GroupConv2D: groupConv2d,
  BatchNormalization: batchNormalization,
  Concatenate: concatenate,
  Flatten: flatten,
  ...Object.fromEntries(passThroughClasses.map((c) => [c, passThrough])),
  ...Object.fromEntries(mergeClasses.map((c) => [c, merge])),
};

/**
 * Teach the pruner a layer class of your own.
 * @example registerHandler('MyScale', {group: (ctx) => ctx.inputs[0]});
 */
export function registerHandler(className: string, handler: LayerHandler): void {
  handlers[className] = handler;
}
