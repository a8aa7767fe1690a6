import * as tf from '@tensorflow/tfjs';
import {LayerHandler, kernelArea, positions, single, spatialInput} from './types';

/** Depth multiplier m of a separable conv (tfjs 4.22's getConfig() leaves it out, so read the layer). */
const multiplier = (layer: tf.layers.Layer): number => (layer as unknown as {depthMultiplier?: number}).depthMultiplier ?? 1;

/**
 * SeparableConv2D: a depthwise conv then a 1x1 conv. Consumes its input (input channel c feeds
 * depthwise channels c*m .. c*m+m-1 and only those), a new space on its output.
 * getWeights(): depthwise kernel [kh, kw, in, m], pointwise kernel [1, 1, in*m, out], bias [out].
 */
export const separableConv2d: LayerHandler = {
  consumes: true,
  produces: true,
  group: (ctx) => {
    spatialInput(ctx);
    return single(ctx.member(ctx.call.outputShape[2]));
  },
  // at each output position: kh*kw*cin*m (depthwise) + cin*m*cout (pointwise)
  macs: (call, cin, cout) => positions(call) * cin * multiplier(call.layer) * (kernelArea(call.layer) + cout),
  slice: ([depthwise, pointwise, bias], keep, layer) => {
    const m = multiplier(layer);
    const rows = keep.input.flatMap((c) => Array.from({length: m}, (_, j) => c * m + j));
    const d = tf.gather(depthwise, keep.input, 2);
    const p = tf.gather(tf.gather(pointwise, rows, 2), keep.output, 3);
    return bias ? [d, p, tf.gather(bias, keep.output)] : [d, p];
  },
  config: (c, keep, layer) => ({...c, filters: keep.output.length, depthMultiplier: multiplier(layer)}),
};
