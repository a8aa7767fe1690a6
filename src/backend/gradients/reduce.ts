import * as tf from '@tensorflow/tfjs';

/** dy of a reduction of x over `axis` divided by `divisor`, broadcast back to x's shape by Tile. */
function broadcastBack(dy: tf.Tensor, x: tf.Tensor, axis: number | number[], divisor: number): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const scaled = divisor === 1 ? tf.reshape(dy, kept) : tf.div(tf.reshape(dy, kept), divisor);
  return tf.tile(scaled, x.shape.map((d, i) => (axes.includes(i) ? d : 1)));
}

/** Whether our Tile-based gradient applies: float32 dy (tf's multiplies by float32 ones). */
const tileable = (dy: tf.Tensor | tf.Tensor[]): dy is tf.Tensor => !Array.isArray(dy) && dy.dtype === 'float32';

/**
 * Mean's gradient dx = tile(dy / N) (tf's multiplies dy by a whole-tensor ones, then divides:
 * three whole-tensor ops, the same values). Falls back to tf's own for non-float32 dy.
 */
export function meanGradient(original: tf.GradConfig): tf.GradConfig {
  return {
    kernelName: tf.Mean,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      if (!tileable(dy)) return original.gradFunc(dy, saved, attrs);
      const {axis} = attrs as unknown as tf.MeanAttrs;
      const n = tf.util.sizeFromShape(tf.util.parseAxisParam(axis, x.shape).map((a) => x.shape[a]));
      return {x: () => broadcastBack(dy, x, axis, n)};
    },
  };
}

/** Sum's gradient dx = tile(dy) (tf's multiplies by a whole-tensor ones). Falls back for non-float32 dy. */
export function sumGradient(original: tf.GradConfig): tf.GradConfig {
  return {
    kernelName: tf.Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      if (!tileable(dy)) return original.gradFunc(dy, saved, attrs);
      return {x: () => broadcastBack(dy, x, (attrs as unknown as tf.SumAttrs).axis, 1)};
    },
  };
}
