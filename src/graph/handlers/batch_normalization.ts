import * as tf from '@tensorflow/tfjs';
import {LayerHandler, spatialInput} from './types';

/**
 * BatchNormalization on the channel axis: passes the space through. Weights [c] each, in
 * getWeights() order: gamma (absent with scale: false), beta (absent with center: false), moving
 * mean, moving variance. Keras writes the axis as a number or a one-entry list ([3]).
 */
export const batchNormalization: LayerHandler = {
  group: (ctx) => {
    const axis = ctx.call.layer.getConfig().axis as number | number[];
    const axes = Array.isArray(axis) ? axis : [axis];
    const rank = ctx.call.inputShapes[0].length + 1;
    if (axes.length !== 1 || (axes[0] !== -1 && axes[0] !== rank - 1)) {
      ctx.block(ctx.inputs[0], `BatchNormalization "${ctx.call.layer.name}" normalises axis ${axis}, not channels`);
    }
    return spatialInput(ctx);
  },
  slice: (weights, keep) => weights.map((w) => tf.gather(w, keep.output)),
};
