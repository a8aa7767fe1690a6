import * as tf from '@tensorflow/tfjs';

/**
 * FusedBatchNorm's gradient for x [B, H, W, C] with per-channel mean/variance/scale/offset [C]
 * (tf.layers' BatchNormalization in training), from two per-channel sums:
 *   r = rsqrt(var + eps), S1 = sum(dy), S2 = sum(dy * (x - mean)) over B, H, W
 *   dx = dy * scale * r, dmean = -scale * r * S1, dvar = -scale * r^3 * S2 / 2, dscale = r * S2, doffset = S1
 * (tf's own: 13 whole-tensor ops and 4 sums, the same values). Other layouts use tf's own.
 */
export function fusedBatchNormGradient(original: tf.GradConfig): tf.GradConfig {
  return {
    kernelName: tf.FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      const perChannel = (t: tf.Tensor | undefined) => t == null || (t.rank === 1 && t.shape[0] === x.shape[3]);
      if (Array.isArray(dy) || x.rank !== 4 || !tf.util.arraysEqual(dy.shape, x.shape) || ![mean, variance, scale].every(perChannel) || mean == null || variance == null) {
        return original.gradFunc(dy, saved, attrs);
      }
      const {varianceEpsilon} = attrs as unknown as tf.FusedBatchNormAttrs;
      const axes = [0, 1, 2];
      // [C] each; the whole-tensor temporaries die in this tidy, not at the end of the backward pass
      const [r, scaleR, sumDy, sumDyXc] = tf.tidy(() => {
        const rs = tf.rsqrt(tf.add(variance, varianceEpsilon));
        return [rs, scale == null ? rs : tf.mul(rs, scale), tf.sum(dy, axes), tf.sum(tf.mul(dy, tf.sub(x, mean)), axes)];
      });
      return {
        x: () => tf.mul(dy, scaleR),
        mean: () => tf.neg(tf.mul(scaleR, sumDy)),
        variance: () => tf.mul(tf.mul(tf.mul(scaleR, tf.square(r)), sumDyXc), -0.5),
        scale: () => tf.mul(r, sumDyXc),
        offset: () => sumDy.clone(),
      };
    },
  };
}
