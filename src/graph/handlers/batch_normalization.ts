import * as tf from '@tensorflow/tfjs';
import {LayerHandler, spatialInput} from './types';

/** BatchNormalization on the channel axis: passes the space through; gamma, beta, mean, variance [c]. */
export const batchNormalization: LayerHandler = {
  group: (ctx) => {
    const axis = ctx.call.layer.getConfig().axis as number;
    const rank = ctx.call.inputShapes[0].length + 1;
    if (axis !== -1 && axis !== rank - 1) ctx.block(ctx.inputs[0], `BatchNormalization "${ctx.call.layer.name}" normalises axis ${axis}, not channels`);
    return spatialInput(ctx);
  },
  slice: (weights, keep) => weights.map((w) => tf.gather(w, keep.output)),
};
