import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {composed, KernelArgs} from './wasm_ops';
import {convGeometry, inputEdges} from './geometry';
import {offsetOf, simdKernels} from './simd';
import {splitKernel} from './split';

/**
 * Where our SIMD kernel wins (Co % 8 = 0): kxk convs from this many output pixels per image (2-3x at
 * 28x28, ~1.4x at 14x14, slower at 7x7). 1x1 convs always: their pixels are one long row, cut into
 * rows of up to POINTWISE_ROW (1.1-2x over the matmul below and over the forward conv, also at 4x4).
 */
const SIMD_MIN_PIXELS = 100;
const POINTWISE_ROW = 128;

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
  const wins = pointwise || g.outHeight * g.outWidth >= SIMD_MIN_PIXELS;
  if (simd && wins && co % 8 === 0 && x.dtype === 'float32' && dy.dtype === 'float32') {
    const wasm = backend as BackendWasm;
    // as B' images of 1 x R pixels, R the largest divisor of B*H*W up to POINTWISE_ROW
    const n = g.batch * g.inHeight * g.inWidth;
    let row = POINTWISE_ROW;
    while (n % row !== 0) row--;
    const [b, h, w, ho, wo] = pointwise ? [n / row, 1, row, 1, row] : [g.batch, g.inHeight, g.inWidth, g.outHeight, g.outWidth];
    // dW zeroed, then its tiles of 4 x 8 channels split across the threads (each tile summed as on one thread)
    const kernel = (xs: tf.TensorInfo, out: tf.TensorInfo, c: number) => {
      wasm.typedArrayFromHeap(out).fill(0);
      splitKernel(wasm, 'convFilterGrad', (c / 4) * (co / 8), (t0, t1) => [offsetOf(wasm, xs), offsetOf(wasm, dy), offsetOf(wasm, out),
        b, h, w, c, co, ho, wo, kh, kw, g.strides[0], g.strides[1], g.padTop, g.padLeft, t0, t1]);
    };
    if (ci % 4 === 0) {
      const out = wasm.makeOutput(filterShape, 'float32');
      kernel(x, out, ci);
      return out;
    }
    // Ci not a multiple of 4 (a first conv on 1 or 3 channels): zero channels up to one, sliced off dW
    const c4 = Math.ceil(ci / 4) * 4;
    return composed(backend, (ops) => {
      const out = ops.output([kh, kw, c4, co]);
      kernel(ops.padOrCrop(x, [[0, 0], [0, 0], [0, 0], [0, c4 - ci]]), out, c4);
      return ops.stridedSlice(out, [0, 0, 0, 0], filterShape, [1, 1, 1, 1]);
    });
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
