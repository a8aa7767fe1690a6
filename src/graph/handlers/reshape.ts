import {LayerHandler, barrier} from './types';

const squeezed = (shape: number[]): number[] => shape.filter((d) => d !== 1);

/**
 * Reshape that keeps the last axis and only adds or drops size-1 axes (squeeze-excite's
 * [c] -> [1, 1, c] and back): the channel map passes through. Any other reshape is a barrier.
 */
export const reshape: LayerHandler = {
  group: (ctx) => {
    const from = ctx.call.inputShapes[0];
    const to = ctx.call.outputShape;
    const keeps = from[from.length - 1] === to[to.length - 1] && squeezed(from).join() === squeezed(to).join();
    if (keeps) return ctx.inputs[0];
    return barrier((l) => `Reshape "${l.name}" [${from}] -> [${to}] moves channels (only size-1 axes may be added or dropped)`).group(ctx);
  },
  // targetShape [..., c]: the last axis becomes the kept features (-1 is left to tfjs)
  config: (c, keep) => {
    const target = c.targetShape as number[];
    const last = target[target.length - 1];
    return {...c, targetShape: [...target.slice(0, -1), last === -1 ? -1 : keep.output.length]};
  },
};
