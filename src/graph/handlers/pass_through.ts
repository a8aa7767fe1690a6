import {LayerHandler} from './types';

/** Layers without weights that keep the channel axis as it is (activations, pooling, padding...). */
export const passThrough: LayerHandler = {group: (ctx) => ctx.inputs[0]};

/** Training-only noise (Dropout, GaussianNoise...): channels pass through; off while scoring. */
export const noise: LayerHandler = {noise: true, group: (ctx) => ctx.inputs[0]};

/** Softmax: over the channel axis it couples every channel (pruning one renormalises the rest); over another axis it passes through. */
export const softmax: LayerHandler = {
  group: (ctx) => {
    const axis = ctx.call.layer.getConfig().axis as number | number[] | undefined;
    const rank = ctx.call.outputShape.length + 1;
    const axes = axis === undefined ? [-1] : Array.isArray(axis) ? axis : [axis];
    if (axes.some((a) => a === -1 || a === rank - 1)) ctx.block(ctx.inputs[0], `layer "${ctx.call.layer.name}" applies softmax across channels`);
    return ctx.inputs[0];
  },
};

/** Elementwise merges (Add, Multiply, ...): all inputs become one space channel by channel. */
export const merge: LayerHandler = {
  group: (ctx) => {
    ctx.inputs.slice(1).forEach((m) => ctx.coupleMaps(ctx.inputs[0], m));
    return ctx.inputs[0];
  },
};

/** Concatenate: along channels the maps are joined (no coupling); along another axis they merge. */
export const concatenate: LayerHandler = {
  group: (ctx) => {
    const axis = ctx.call.layer.getConfig().axis as number;
    const rank = ctx.call.outputShape.length + 1;
    if (axis !== -1 && axis !== rank - 1) return merge.group(ctx);
    ctx.inputs.forEach((m) => {
      if (m.spatial !== 1) ctx.block(m, `Concatenate "${ctx.call.layer.name}" joins flattened tensors`);
    });
    return {segments: ctx.inputs.flatMap((m) => m.segments), spatial: 1};
  },
};

/** Flatten [h, w, c] -> [h*w*c]: feature (h, w, c) belongs to channel c. */
export const flatten: LayerHandler = {
  group: (ctx) => {
    const shape = ctx.call.inputShapes[0];
    const spatial = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    return {segments: ctx.inputs[0].segments, spatial: ctx.inputs[0].spatial * spatial};
  },
};
