import * as tf from '@tensorflow/tfjs';
import {ClipByValueGrad} from '../kernels/clip_by_value_grad';

/**
 * ClipByValue's gradient (ReLU6 of tf.layers.reLU({maxValue})): our one-pass kernel where the
 * active backend has it (wasm) and x, dy are float32 of one shape; tf's own otherwise.
 */
export function clipByValueGradient(original: tf.GradConfig): tf.GradConfig {
  return {
    kernelName: tf.ClipByValue,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const applies = tf.getKernel(ClipByValueGrad, tf.getBackend()) != null && x.dtype === 'float32' &&
        !Array.isArray(dy) && dy.dtype === 'float32' && tf.util.arraysEqual(x.shape, dy.shape);
      if (!applies) return original.gradFunc(dy, saved, attrs);
      return {x: () => tf.engine().runKernel(ClipByValueGrad, {x, dy: dy as tf.Tensor}, attrs) as tf.Tensor};
    },
  };
}
