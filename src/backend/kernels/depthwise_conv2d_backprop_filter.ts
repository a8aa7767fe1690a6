import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {composed, KernelArgs, WasmOps} from './wasm_ops';
import {ConvGeometry, convGeometry, inputEdges} from './geometry';
import {offsetOf, simdKernels} from './simd';
import {splitKernel} from './split';

/** Fixed chunks of images our SIMD kernel sums dW over (fewer for smaller batches): no result depends on the thread count. */
const CHUNKS = 8;

/** Below this output height the batch-in-rows layout wastes too much on its zero rows. */
const MIN_ROWS_HEIGHT = 8;

/**
 * Batch folded into the channels: x [1, Hp, Wp, B*Ci] by dy as filter [Ho, Wo, B*Ci, m],
 * dilation = stride, then a sum over B. Needs two transposes.
 */
function batchInChannels(ops: WasmOps, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry, [kh, kw, ci, m]: number[]): tf.TensorInfo {
  const b = g.batch;
  const xp = ops.padOrCrop(x, inputEdges(g)); // [B, Hp, Wp, Ci]
  const xFolded = ops.reshape(ops.transpose(xp, [1, 2, 0, 3]), [1, xp.shape[1], xp.shape[2], b * ci]);
  const dyFolded = ops.reshape(ops.transpose(dy, [1, 2, 0, 3]), [g.outHeight, g.outWidth, b * ci, m]);
  const perImage = ops.run('DepthwiseConv2dNative', {x: xFolded, filter: dyFolded}, {strides: 1, pad: 'valid', dilations: g.strides}); // [1, kh, kw, B*Ci*m]
  return ops.run('Sum', {x: ops.reshape(perImage, [kh, kw, b, ci * m])}, {axis: [2], keepDims: false});
}

/**
 * Batch stacked along the rows, no transposes: each image of x padded to Hs = (Ho + e) * s rows,
 * e = ceil(kh / s) - 1, and of dy to Ho + e rows (e zero rows), so that filter row Y = b * (Ho + e) + y
 * with dilation s meets x row b * Hs + y * s + i: x [1, B*Hs, Wp, Ci] by dy [B*(Ho+e), Wo, Ci, m].
 */
function batchInRows(ops: WasmOps, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry, [kh, kw, ci, m]: number[]): tf.TensorInfo {
  const [sh, sw] = g.strides;
  const e = Math.ceil(kh / sh) - 1;
  const rows = (g.outHeight + e) * sh;
  const [, , cols] = inputEdges(g);
  const xp = ops.padOrCrop(x, [[0, 0], [g.padTop, rows - g.inHeight - g.padTop], cols, [0, 0]]); // [B, Hs, Wp, Ci]
  const dyp = ops.padOrCrop(dy, [[0, 0], [0, e], [0, 0], [0, 0]]); // [B, Ho + e, Wo, Ci*m]
  const filterRows = g.batch * (g.outHeight + e);
  const dw = ops.run('DepthwiseConv2dNative', {
    x: ops.reshape(xp, [1, g.batch * rows, xp.shape[2], ci]),
    filter: ops.reshape(dyp, [filterRows, g.outWidth, ci, m]),
  }, {strides: 1, pad: [[0, 0], [0, Math.max(0, kh - sh)], [0, 0], [0, 0]], dilations: [sh, sw]}); // [1, max(kh, s), kw, Ci*m]
  return kh < sh ? ops.stridedSlice(dw, [0, 0, 0, 0], [1, kh, kw, ci * m], [1, 1, 1, 1]) : dw;
}

/**
 * dW [kh, kw, Ci, m] of a depthwise conv: our SIMD kernel (one pass over dy, 10-25x faster at
 * MobileNetV2's shapes), else one XNNPACK depthwise conv of x with dy as its filter: the batch stacked
 * in rows where Ho >= 8 (1.3-1.5x faster at 14x14 and 28x28), else folded into channels.
 */
function depthwiseConv2dNativeBackpropFilter({inputs, backend, attrs}: KernelArgs<'x' | 'dy', tf.DepthwiseConv2dNativeBackpropFilterAttrs>): tf.TensorInfo {
  const {x, dy} = inputs;
  const {filterShape, strides, pad, dimRoundingMode, dilations} = attrs;
  const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, true, dilations);
  const simd = simdKernels(backend as BackendWasm);
  if (simd && x.dtype === 'float32' && dy.dtype === 'float32') {
    const wasm = backend as BackendWasm;
    const [kh, kw, c, m] = filterShape;
    const size = kh * kw * c * m;
    // one dW a chunk of images, the chunks split across the threads, then added up in chunk order
    const chunks = Math.min(CHUNKS, g.batch);
    const partials = wasm.makeOutput([chunks * size], 'float32');
    try {
      const [xs, dys, ps] = [x, dy, partials].map((t) => offsetOf(wasm, t));
      splitKernel(wasm, 'depthwiseFilterGradChunks', chunks, (j0, j1) => [xs, dys, ps, g.batch, g.inHeight, g.inWidth, c, m,
        g.outHeight, g.outWidth, kh, kw, g.strides[0], g.strides[1], g.padTop, g.padLeft, chunks, j0, j1]);
      const out = wasm.makeOutput(filterShape, 'float32');
      const [sum, parts] = [wasm.typedArrayFromHeap(out) as Float32Array, wasm.typedArrayFromHeap(partials) as Float32Array];
      sum.set(parts.subarray(0, size));
      for (let j = 1; j < chunks; j++) for (let i = 0; i < size; i++) sum[i] += parts[j * size + i];
      return out;
    } finally {
      wasm.disposeData(partials.dataId);
    }
  }
  const layout = g.outHeight >= MIN_ROWS_HEIGHT ? batchInRows : batchInChannels;
  return composed(backend, (ops) => ops.reshape(layout(ops, x, dy, g, filterShape), filterShape));
}

/** DepthwiseConv2dNativeBackpropFilter for wasm, which has none. */
export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
