import * as tf from '@tensorflow/tfjs';
import {LayerHandler, positions, single} from './types';

/** Dense: a new space on its output; consumes its input features (a flattened map is fine). kernel [in, out]. */
export const dense: LayerHandler = {
  consumes: true,
  produces: true,
  group: (ctx) => single(ctx.member(ctx.call.outputShape[ctx.call.outputShape.length - 1])),
  macs: (call, cin, cout) => positions(call) * cin * cout,
  slice: ([kernel, bias], keep) => {
    const k = tf.gather(tf.gather(kernel, keep.input, 0), keep.output, 1);
    return bias ? [k, tf.gather(bias, keep.output)] : [k];
  },
  config: (c, keep) => ({...c, units: keep.output.length}),
};
