import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {composed, KernelArgs} from './wasm_ops';

/** The native wasm kernel `name`, captured before ours replaces it. */
const native = (name: string): tf.KernelConfig => {
  const k = tf.getKernel(name, 'wasm');
  if (k == null) throw new Error(`src/backend: wasm has no ${name} kernel to fall back to`);
  return k;
};
const nativeSum = native(tf.Sum);
const nativeMean = native(tf.Mean);

/**
 * Sum or mean of float32 x over one contiguous block of axes that is not innermost, as XNNPACK
 * average pooling: x [outer, N, 1, inner] with an [N, 1] window -> [outer, 1, 1, inner] (times N
 * for the sum). Returns null where wasm's own kernel needs no transpose or does not apply; it then runs.
 * (wasm's Sum/Mean transpose the reduced axes innermost first: 10-30x slower for NHWC per-channel
 * sums. A BatchMatMul with a ones vector repacks x as weights each call: no faster.)
 */
function reduceByPooling(x: tf.TensorInfo, axis: number | number[], keepDims: boolean, backend: tf.KernelBackend, mean: boolean): tf.TensorInfo | null {
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const size = tf.util.sizeFromShape(x.shape);
  const first = axes[0];
  const last = axes[axes.length - 1];
  if (x.dtype !== 'float32' || size === 0 || axes.length === 0 || last - first + 1 !== axes.length || last === x.shape.length - 1) return null;
  const outer = tf.util.sizeFromShape(x.shape.slice(0, first));
  const n = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
  const inner = size / (outer * n);
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d)).filter((_, i) => keepDims || !axes.includes(i));
  return composed(backend, (ops) => {
    const avg = ops.run('AvgPool', {x: ops.reshape(x, [outer, n, 1, inner])}, {filterSize: [n, 1], strides: 1, pad: 'valid'}); // [outer, 1, 1, inner]
    const y = mean ? avg : ops.run('Multiply', {a: avg, b: ops.run('Fill', {}, {shape: [], value: n, dtype: 'float32'})});
    return ops.reshape(y, outShape);
  });
}

/** Reduction kernel that takes the pooling path where it applies, else wasm's own. */
function reduceKernel(fallback: tf.KernelConfig, mean: boolean): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs<'x', tf.SumAttrs>): tf.TensorInfo => {
    const {inputs: {x}, backend, attrs: {axis, keepDims}} = args;
    return reduceByPooling(x, axis, keepDims, backend, mean) ?? (fallback.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo);
  };
  return {kernelName: fallback.kernelName, backendName: 'wasm', setupFunc: fallback.setupFunc, kernelFunc: kernelFunc as unknown as tf.KernelFunc};
}

/** Replaces wasm's Sum: per-channel NHWC sums (BatchNorm gradients, bias gradients) by average pooling. */
export const sumConfig = reduceKernel(nativeSum, false);

/** Replaces wasm's Mean: per-channel NHWC means (BatchNorm moments, global pooling) by average pooling. */
export const meanConfig = reduceKernel(nativeMean, true);
