import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {KernelArgs} from './wasm_ops';
import {offsetOf, simdKernels, withScratch} from './simd';

/** The native wasm kernel `name`, captured before ours replaces it. */
const native = (name: string): tf.KernelConfig => {
  const k = tf.getKernel(name, 'wasm');
  if (k == null) throw new Error(`src/backend: wasm has no ${name} kernel to fall back to`);
  return k;
};
const nativeSum = native(tf.Sum);
const nativeMean = native(tf.Mean);

/**
 * Sum or mean of float32 x over one contiguous block of axes that is not innermost, by our SIMD kernel:
 * x [outer, N, inner] -> [outer, inner]. Returns null where wasm's own kernel needs no transpose, does not
 * apply or SIMD is off; it then runs. (wasm's Sum/Mean transpose the reduced axes innermost first: 10-30x
 * slower for NHWC per-channel sums. XNNPACK's average pooling over an [N, 1] window was as fast, but keeps
 * one operator per window and channel count for the process's life, and pruning makes new ones all the time.)
 */
function reduceBySimd(x: tf.TensorInfo, axis: number | number[], keepDims: boolean, backend: tf.KernelBackend, mean: boolean): tf.TensorInfo | null {
  const wasm = backend as BackendWasm;
  const simd = simdKernels(wasm);
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const size = tf.util.sizeFromShape(x.shape);
  const first = axes[0];
  const last = axes[axes.length - 1];
  if (simd == null || x.dtype !== 'float32' || size === 0 || axes.length === 0 || last - first + 1 !== axes.length || last === x.shape.length - 1) return null;
  const outer = tf.util.sizeFromShape(x.shape.slice(0, first));
  const n = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
  const inner = size / (outer * n);
  const out = wasm.makeOutput(x.shape.map((d, i) => (axes.includes(i) ? 1 : d)).filter((_, i) => keepDims || !axes.includes(i)), 'float32');
  withScratch(wasm, 2 * inner, (scratch) => simd.channelSums(offsetOf(wasm, x), offsetOf(wasm, out), scratch, outer, n, inner, mean ? 1 / n : 1));
  return out;
}

/** Reduction kernel that takes the SIMD path where it applies, else wasm's own. */
function reduceKernel(fallback: tf.KernelConfig, mean: boolean): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs<'x', tf.SumAttrs>): tf.TensorInfo => {
    const {inputs: {x}, backend, attrs: {axis, keepDims}} = args;
    return reduceBySimd(x, axis, keepDims, backend, mean) ?? (fallback.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo);
  };
  return {kernelName: fallback.kernelName, backendName: 'wasm', setupFunc: fallback.setupFunc, kernelFunc: kernelFunc as unknown as tf.KernelFunc};
}

/** Replaces wasm's Sum: per-channel NHWC sums (BatchNorm gradients, bias gradients). */
export const sumConfig = reduceKernel(nativeSum, false);

/** Replaces wasm's Mean: per-channel NHWC means (BatchNorm moments, global pooling). */
export const meanConfig = reduceKernel(nativeMean, true);
