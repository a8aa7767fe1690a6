import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {KernelArgs} from './wasm_ops';
import {offsetOf, simdKernels, withScratch} from './simd';
import {splitKernel} from './split';

/** Kernel names of the fused BatchNorm in training (wasm only): [y, mean, variance] and [dx, dgamma, dbeta]. */
export const BatchNormTrain = 'GfpBatchNormTrain';
export const BatchNormTrainGrad = 'GfpBatchNormTrainGrad';

const channelsLast = (x: tf.TensorInfo): {n: number; c: number} => {
  const c = x.shape[x.shape.length - 1];
  return {n: tf.util.sizeFromShape(x.shape) / c, c};
};

function batchNormTrain({inputs: {x, gamma, beta}, backend, attrs: {epsilon}}: KernelArgs<'x' | 'gamma' | 'beta', {epsilon: number}>): tf.TensorInfo[] {
  const wasm = backend as BackendWasm;
  const {n, c} = channelsLast(x);
  const [y, mean, variance] = [wasm.makeOutput(x.shape, 'float32'), wasm.makeOutput([c], 'float32'), wasm.makeOutput([c], 'float32')];
  const [xs, g, b, ys, m, v] = [x, gamma, beta, y, mean, variance].map((t) => offsetOf(wasm, t));
  // groups of 4 channels split across the threads (k: byte offset of the first channel; 16 scratch bytes a channel)
  withScratch(wasm, 4 * c, (scratch) => splitKernel(wasm, 'batchNormForward', c / 4, (q0, q1, k = 16 * q0) =>
    [xs + k, g + k, b + k, ys + k, m + k, v + k, scratch + 4 * k, n, 4 * (q1 - q0), epsilon, c]));
  return [y, mean, variance];
}

function batchNormTrainGrad({inputs: {x, dy, mean, variance, gamma}, backend, attrs: {epsilon}}:
    KernelArgs<'x' | 'dy' | 'mean' | 'variance' | 'gamma', {epsilon: number}>): tf.TensorInfo[] {
  const wasm = backend as BackendWasm;
  const {n, c} = channelsLast(x);
  const [dx, dgamma, dbeta] = [wasm.makeOutput(x.shape, 'float32'), wasm.makeOutput([c], 'float32'), wasm.makeOutput([c], 'float32')];
  const [xs, dys, m, v, g, dxs, dg, db] = [x, dy, mean, variance, gamma, dx, dgamma, dbeta].map((t) => offsetOf(wasm, t));
  // as batchNormTrain (28 scratch bytes a channel)
  withScratch(wasm, 7 * c, (scratch) => splitKernel(wasm, 'batchNormBackward', c / 4, (q0, q1, k = 16 * q0) =>
    [xs + k, dys + k, m + k, v + k, g + k, dxs + k, dg + k, db + k, scratch + 7 * k, n, 4 * (q1 - q0), epsilon, c]));
  return [dx, dgamma, dbeta];
}

export const batchNormTrainConfigs: tf.KernelConfig[] = [
  {kernelName: BatchNormTrain, backendName: 'wasm', kernelFunc: batchNormTrain as unknown as tf.KernelFunc},
  {kernelName: BatchNormTrainGrad, backendName: 'wasm', kernelFunc: batchNormTrainGrad as unknown as tf.KernelFunc},
];

/**
 * y = batchNorm(x) over all axes but the last, with its gradient, as two SIMD kernels; also returns mean and variance (kept: dispose them).
 * The batchNormFused layer patch (patches.ts) calls it.
 */
export function fusedBatchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): {y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor} {
  let stats: tf.Tensor[] = [];
  const f = tf.customGrad(((xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, variance] = tf.engine().runKernel(BatchNormTrain, {x: xs, gamma: g, beta: b}, {epsilon}) as unknown as tf.Tensor[];
    save([xs, mean, variance, g]);
    stats = [tf.keep(mean), tf.keep(variance)]; // customGrad runs f in a tidy: the caller disposes these
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [sx, sm, sv, sg]: tf.Tensor[]) =>
        tf.engine().runKernel(BatchNormTrainGrad, {x: sx, dy, mean: sm, variance: sv, gamma: sg}, {epsilon}) as unknown as tf.Tensor[],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = (f as unknown as (...t: tf.Tensor[]) => tf.Tensor)(x, gamma, beta);
  return {y, mean: stats[0], variance: stats[1]};
}

/** Whether the fused kernels take this layer call: training on wasm with SIMD, channels last, a multiple of 4 channels. */
export function fusable(layer: {axis: number; center: boolean; scale: boolean}, x: tf.Tensor): boolean {
  return tf.getBackend() === 'wasm' && simdKernels(tf.backend() as BackendWasm) != null && x.dtype === 'float32' && x.rank >= 2 &&
    (layer.axis === -1 || layer.axis === x.rank - 1) && layer.center && layer.scale && x.shape[x.rank - 1] % 4 === 0 && x.size >= 4 * x.shape[x.rank - 1];
}
