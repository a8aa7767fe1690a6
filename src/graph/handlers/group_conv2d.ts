import * as tf from '@tensorflow/tfjs';
import {LayerHandler, channelAxis, configOf, kernelArea, positions, spatialInput} from './types';

/**
 * GroupConv2D with g groups: group k reads input block k and writes output block k, so the
 * pruning unit is a whole conv-group and input and output share one space (docs/method.md §3).
 * kernel [kh, kw, in / g, out].
 */
export const groupConv2d: LayerHandler = {
  consumes: true,
  produces: true,
  group: (ctx) => {
    const input = spatialInput(ctx);
    const groups = ctx.call.layer.getConfig().groups as number;
    const out = ctx.member(ctx.call.outputShape[2]);
    if (input.segments.length !== 1) {
      ctx.block(input, `grouped conv "${ctx.call.layer.name}" reads a concatenation`);
      ctx.block({segments: [out], spatial: 1}, `grouped conv "${ctx.call.layer.name}" reads a concatenation`);
    } else {
      ctx.couple(input.segments[0], out, groups);
    }
    return {segments: [out], spatial: 1};
  },
  macs: (call, _cin, cout) => {
    const input = call.inputShapes[0];
    const perGroupIn = input[channelAxis(call.layer, input)] / (configOf(call.layer).groups as number);
    return positions(call) * kernelArea(call.layer) * perGroupIn * cout;
  },
  slice: ([kernel, bias], keep) => {
    const k = tf.gather(kernel, keep.output, 3);
    return bias ? [k, tf.gather(bias, keep.output)] : [k];
  },
  config: (c, keep) => {
    const perGroupOut = (c.filters as number) / (c.groups as number);
    return {...c, filters: keep.output.length, groups: keep.output.length / perGroupOut};
  },
};
