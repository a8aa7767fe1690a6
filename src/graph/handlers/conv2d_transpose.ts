import * as tf from '@tensorflow/tfjs';
import {LayerHandler, kernelArea, positionsOf, single, spatialInput} from './types';

/**
 * Conv2DTranspose: a masked consumer of its input, a new space on its output.
 * kernel [kh, kw, out, in] (tfjs and Keras both put the output axis before the input axis).
 */
export const conv2dTranspose: LayerHandler = {
  consumes: true,
  produces: true,
  group: (ctx) => {
    spatialInput(ctx);
    return single(ctx.member(ctx.call.outputShape[2]));
  },
  // every input position scatters a kh*kw patch from each input channel to each output channel
  macs: (call, cin, cout) => positionsOf(call.layer, call.inputShapes[0]) * kernelArea(call.layer) * cin * cout,
  slice: ([kernel, bias], keep) => {
    const k = tf.gather(tf.gather(kernel, keep.output, 2), keep.input, 3);
    return bias ? [k, tf.gather(bias, keep.output)] : [k];
  },
  config: (c, keep) => ({...c, filters: keep.output.length}),
};
