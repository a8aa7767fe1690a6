import * as tf from '@tensorflow/tfjs';
import {LayerHandler, kernelArea, positions, spatialInput} from './types';

/**
 * DepthwiseConv2D: output channel c*m+j reads input channel c only, so input and output are one
 * space (docs/method.md §3). kernel [kh, kw, in, m]; with m = 1 the output keeps the input's map.
 */
export const depthwiseConv2d: LayerHandler = {
  consumes: true,
  produces: true,
  group: (ctx) => {
    const input = spatialInput(ctx);
    const m = (ctx.call.layer.getConfig().depthMultiplier as number | undefined) ?? 1;
    if (m === 1) return input;
    if (input.segments.length !== 1) {
      ctx.block(input, `depthwise layer "${ctx.call.layer.name}" with depth multiplier ${m} reads a concatenation`);
    }
    const out = ctx.member(ctx.call.outputShape[2]);
    ctx.couple(input.segments[0], out, ctx.call.inputShapes[0][2]);
    return {segments: [out], spatial: 1};
  },
  // one kh*kw filter per output channel
  macs: (call, _cin, cout) => positions(call) * kernelArea(call.layer) * cout,
  slice: ([kernel, bias], keep) => {
    const k = tf.gather(kernel, keep.input, 2);
    return bias ? [k, tf.gather(bias, keep.output)] : [k];
  },
};
