import {LayerHandler, single} from './types';

/** InputLayer: a fixed space of its own (the model input is never pruned, docs/method.md §3). */
export const inputLayer: LayerHandler = {
  input: true,
  group: (ctx) => {
    const shape = ctx.call.outputShape;
    const out = single(ctx.member(shape[shape.length - 1]));
    ctx.block(out, `model input "${ctx.call.layer.name}"`);
    return out;
  },
};
