import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {composed, KernelArgs} from './wasm_ops';
import {convGeometry, gradientEdges} from './geometry';
import {offsetOf, simdKernels} from './simd';
import {splitKernel} from './split';

/**
 * dx [B, H, W, Ci] of a depthwise conv: with multiplier 1 and a stride, or under 100 output pixels, our
 * SIMD kernel (each dy pixel scattered through the taps: 3-4x XNNPACK's conv below at stride 2, 1.2x at
 * 7x7), else a depthwise conv of the zero-inserted (conv-padded) dy [B, Ho, Wo, Ci*m] with the flipped
 * filter as [kh, kw, Ci*m, 1], then a sum over the m copies (1.25-1.6x our kernel at stride 1 from 28x28).
 */
function depthwiseConv2dNativeBackpropInput({inputs, backend, attrs}: KernelArgs<'dy' | 'filter', tf.DepthwiseConv2dNativeBackpropInputAttrs>): tf.TensorInfo {
  const {dy, filter} = inputs;
  const {inputShape, strides, pad, dimRoundingMode, dilations} = attrs;
  const g = convGeometry(inputShape, filter.shape, strides, pad, dimRoundingMode, true, dilations);
  const [kh, kw, ci, m] = filter.shape;
  const simd = simdKernels(backend as BackendWasm);
  const scatter = g.strides.some((s) => s > 1) || g.outHeight * g.outWidth < 100;
  if (simd && m === 1 && scatter && dy.dtype === 'float32' && filter.dtype === 'float32') {
    const wasm = backend as BackendWasm;
    const out = wasm.makeOutput(inputShape, 'float32');
    // images split across the threads: each writes its own dx
    const [dyImage, dxImage] = [4 * g.outHeight * g.outWidth * ci, 4 * g.inHeight * g.inWidth * ci];
    splitKernel(wasm, 'depthwiseInputGrad', g.batch, (n0, n1) => [offsetOf(wasm, dy) + n0 * dyImage, offsetOf(wasm, filter),
      offsetOf(wasm, out) + n0 * dxImage, n1 - n0, g.inHeight, g.inWidth, ci, g.outHeight, g.outWidth, kh, kw, g.strides[0], g.strides[1], g.padTop, g.padLeft]);
    return out;
  }
  return composed(backend, (ops) => {
    const {x: dyz, pad} = ops.cropForConv(ops.zeroInsert(dy, g.strides), gradientEdges(g));
    const w = ops.reshape(ops.run('Reverse', {x: filter}, {dims: [0, 1]}), [kh, kw, ci * m, 1]);
    const dxm = ops.run('DepthwiseConv2dNative', {x: dyz, filter: w}, {strides: 1, pad, dilations: 1}); // [B, H, W, Ci*m]
    if (m === 1) return dxm;
    const split = ops.reshape(dxm, [g.batch, g.inHeight, g.inWidth, ci, m]);
    return ops.run('Sum', {x: split}, {axis: [4], keepDims: false});
  });
}

/** DepthwiseConv2dNativeBackpropInput for wasm, which has none. */
export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
