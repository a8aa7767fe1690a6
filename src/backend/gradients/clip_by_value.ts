import * as tf from '@tensorflow/tfjs';
import {ClipByValueGrad, ClipByValueGradAttrs} from '../kernels/clip_by_value_grad';

/**
 * A gradient `kernelName` whose dx = (lo <= x <= hi, or lo < x with openMin) ? dy : 0 as our one-pass
 * kernel where the active backend has it (wasm) and x, dy are float32 of one shape; tf's own otherwise.
 */
function clipGradient(kernelName: string, bounds: (attrs: tf.NamedAttrMap) => ClipByValueGradAttrs) {
  return (original: tf.GradConfig): tf.GradConfig => ({
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const applies = tf.getKernel(ClipByValueGrad, tf.getBackend()) != null && x.dtype === 'float32' &&
        !Array.isArray(dy) && dy.dtype === 'float32' && tf.util.arraysEqual(x.shape, dy.shape);
      if (!applies) return original.gradFunc(dy, saved, attrs);
      return {x: () => tf.engine().runKernel(ClipByValueGrad, {x, dy: dy as tf.Tensor}, bounds(attrs) as unknown as tf.NamedAttrMap) as tf.Tensor};
    },
  });
}

/** ClipByValue's gradient: dy where min <= x <= max. */
export const clipByValueGradient = clipGradient(tf.ClipByValue, (attrs) => attrs as unknown as tf.ClipByValueAttrs);

/** Relu6's gradient (tf.relu6): dy where 0 < x <= 6. */
export const relu6Gradient = clipGradient(tf.Relu6, () => ({clipValueMin: 0, clipValueMax: 6, openMin: true}));
