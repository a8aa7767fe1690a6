import * as tf from '@tensorflow/tfjs';
import {LayerHandler, kernelArea, positions, single, spatialInput} from './types';

/** Conv2D: a new space on its output, a masked consumer of its input. kernel [kh, kw, in, out]. */
export const conv2d: LayerHandler = {
  consumes: true,
  produces: true,
  group: (ctx) => {
    spatialInput(ctx);
    return single(ctx.member(ctx.call.outputShape[2]));
  },
  macs: (call, cin, cout) => positions(call) * kernelArea(call.layer) * cin * cout,
  slice: ([kernel, bias], keep) => {
    const k = tf.gather(tf.gather(kernel, keep.input, 2), keep.output, 3);
    return bias ? [k, tf.gather(bias, keep.output)] : [k];
  },
  config: (c, keep) => ({...c, filters: keep.output.length}),
};
