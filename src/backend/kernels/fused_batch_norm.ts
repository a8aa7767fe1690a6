import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {composed, KernelArgs} from './wasm_ops';

const nativeBatchNorm = tf.getKernel(tf.FusedBatchNorm, 'wasm')!;

/** Fewer channels than this run wasm's own kernel. */
const MIN_CHANNELS = 4;

/**
 * FusedBatchNorm of x [B, H, W, C] with per-channel [C] statistics as x * a + b, a = scale * rsqrt(var + eps),
 * b = offset - mean * a (as TensorFlow's CPU kernel does), run as a 1x1 XNNPACK depthwise conv with
 * bias: 2-6x faster than wasm's own. Other layouts, and fewer than 4 channels, run wasm's own.
 */
function fusedBatchNorm(args: KernelArgs<'x' | 'mean' | 'variance' | 'offset' | 'scale', tf.FusedBatchNormAttrs>): tf.TensorInfo {
  const {inputs: {x, mean, variance, offset, scale}, backend, attrs: {varianceEpsilon}} = args;
  const c = x.shape[3];
  const perChannel = (t: tf.TensorInfo | undefined) => t == null || (t.shape.length === 1 && t.shape[0] === c && t.dtype === 'float32');
  // under 4 channels XNNPACK's depthwise conv spends ~50x longer per value (1 channel: 0.78 ms for [64,14,14,1],
  // 16 channels: 0.21 ms for 16x the values), and wasm's own kernel is the faster one
  if (x.shape.length !== 4 || c < MIN_CHANNELS || x.dtype !== 'float32' || mean == null || variance == null || ![mean, variance, offset, scale].every(perChannel)) {
    return nativeBatchNorm.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  return composed(backend, (ops) => {
    const scalar = (value: number) => ops.run('Fill', {}, {shape: [], value, dtype: 'float32'});
    const rstd = ops.run('Rsqrt', {x: ops.run('Add', {a: variance, b: scalar(varianceEpsilon)})});
    const a = scale == null ? rstd : ops.run('Multiply', {a: rstd, b: scale}); // [C]
    const shift = ops.run('Neg', {x: ops.run('Multiply', {a: mean, b: a})});
    const b = offset == null ? shift : ops.run('Add', {a: offset, b: shift}); // [C]
    return ops.run('FusedDepthwiseConv2D', {x, filter: ops.reshape(a, [1, 1, c, 1]), bias: b},
      {strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC', activation: 'linear'});
  });
}

/** Replaces wasm's FusedBatchNorm (BatchNormalization layers, in training and inference). */
export const fusedBatchNormConfig: tf.KernelConfig = {
  kernelName: tf.FusedBatchNorm,
  backendName: 'wasm',
  setupFunc: nativeBatchNorm.setupFunc,
  kernelFunc: fusedBatchNorm as unknown as tf.KernelFunc,
};
