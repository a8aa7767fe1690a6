import * as tf from '@tensorflow/tfjs';
import {LayerHandler} from './types';

/**
 * Elementwise layers with per-channel weights (PReLU alpha [..., c], Normalization mean and
 * variance [..., c]): channels pass through; a weight whose last axis is c is sliced on it, one
 * broadcast over channels (last axis 1, or a scalar) is kept.
 */
export const perChannel: LayerHandler = {
  group: (ctx) => ctx.inputs[0],
  slice: (weights, keep) => weights.map((w) => (w.rank > 0 && w.shape[w.rank - 1] > 1 ? tf.gather(w, keep.output, w.rank - 1) : w.clone())),
};
