import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {composed, KernelArgs} from './wasm_ops';
import {convGeometry, inputEdges} from './geometry';
import {offsetOf, simdKernels} from './simd';

/**
 * Where our SIMD kernel wins (Ci % 4 = 0, Co % 8 = 0): kxk convs from this many output pixels per image
 * (2-3x at 28x28, ~1.4x at 14x14, slower at 7x7); 1x1 from 16 output channels and 7x7 pixels on
 * (1-4x over the matmul; 3x slower at Co = 8, a little slower at 4x4, where each register tile sums
 * too few pixels to pay for loading and storing it).
 */
const SIMD_MIN_PIXELS = 100;
const SIMD_MIN_POINTWISE_CO = 16;
const SIMD_MIN_POINTWISE_PIXELS = 49;

/**
 * dW [1, 1, Ci, Co] of a 1x1, stride-1, unpadded conv2d as one matmul x^T dy over the N = B*H*W
 * rows, the operand with fewer channels transposed ([N, c] -> [c, N]) to be the left one (which
 * measured 2-5x faster than the other way round, and than the conv below, at MobileNetV2 shapes).
 */
function pointwiseBackpropFilter(x: tf.TensorInfo, dy: tf.TensorInfo, backend: tf.KernelBackend): tf.TensorInfo {
  const ci = x.shape[3];
  const co = dy.shape[3];
  const n = tf.util.sizeFromShape(x.shape) / ci;
  return composed(backend, (ops) => {
    const x2 = ops.reshape(x, [n, ci]);
    const dy2 = ops.reshape(dy, [n, co]);
    const matMul = (a: tf.TensorInfo, b: tf.TensorInfo) => ops.run('BatchMatMul', {a, b}, {transposeA: false, transposeB: false});
    const dw = ci <= co
      ? matMul(ops.transpose(x2, [1, 0]), dy2) // [Ci, Co]
      : ops.transpose(matMul(ops.transpose(dy2, [1, 0]), x2), [1, 0]); // [Co, Ci] -> [Ci, Co]
    return ops.reshape(dw, [1, 1, ci, co]);
  });
}

/**
 * dW [kh, kw, Ci, Co] of a conv2d as one XNNPACK conv: x seen as a 1 x H x (W*Ci) image whose channels
 * are the batch (one 2-D transpose), dy as the filter [Ho, Wo, B, Co], dilation (sh, sw*Ci) so that a
 * width tap moves by whole pixels; the output's width kw*Ci enumerates (kw, ci), so [1, kh, kw*Ci, Co]
 * is dW as it lies. (10-20x faster here than im2col + BatchMatMul; this layout saves two 4-D
 * transposes over batch-as-channels on the [Ci, H, W, B] image: up to 1.6x on strided convs.)
 */
function conv2DBackpropFilter({inputs, backend, attrs}: KernelArgs<'x' | 'dy', tf.Conv2DBackpropFilterAttrs>): tf.TensorInfo {
  const {x, dy} = inputs;
  const {filterShape, strides, pad, dimRoundingMode} = attrs;
  const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, false);
  const pointwise = g.filterHeight === 1 && g.filterWidth === 1 && g.strides.every((s) => s === 1) &&
    g.outHeight === g.inHeight && g.outWidth === g.inWidth && g.padTop === 0 && g.padLeft === 0;
  const simd = simdKernels(backend as BackendWasm);
  const [kh, kw, ci, co] = filterShape;
  const pixels = g.outHeight * g.outWidth;
  const wins = pointwise ? co >= SIMD_MIN_POINTWISE_CO && pixels >= SIMD_MIN_POINTWISE_PIXELS : pixels >= SIMD_MIN_PIXELS;
  if (simd && wins && ci % 4 === 0 && co % 8 === 0 && x.dtype === 'float32' && dy.dtype === 'float32') {
    const wasm = backend as BackendWasm;
    const out = wasm.makeOutput(filterShape, 'float32');
    simd.convFilterGrad(offsetOf(wasm, x), offsetOf(wasm, dy), offsetOf(wasm, out), g.batch, g.inHeight, g.inWidth, ci, co,
      g.outHeight, g.outWidth, kh, kw, g.strides[0], g.strides[1], g.padTop, g.padLeft);
    return out;
  }
  if (pointwise) return pointwiseBackpropFilter(x, dy, backend);
  return composed(backend, (ops) => {
    const {x: xc, pad} = ops.cropForConv(x, inputEdges(g)); // padded by pad: [B, (Ho-1)s+kh, (Wo-1)s+kw, Ci]
    const [b, h, w, ci] = xc.shape;
    const image = ops.reshape(ops.transpose(ops.reshape(xc, [b, h * w * ci]), [1, 0]), [1, h, w * ci, b]);
    const filter = ops.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, B, Co]
    const dw = ops.run('Conv2D', {x: image, filter}, {strides: 1, pad: [[0, 0], pad[1], [pad[2][0] * ci, pad[2][1] * ci], [0, 0]],
      dataFormat: 'NHWC', dilations: [g.strides[0], g.strides[1] * ci]});
    return ops.reshape(dw, filterShape);
  });
}

/** Conv2DBackpropFilter for wasm, which has none. */
export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
