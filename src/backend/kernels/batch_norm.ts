import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {KernelArgs} from './wasm_ops';
import {offsetOf, SimdKernels, simdKernels, withScratch} from './simd';
import {kernelThreads, splitKernel} from './split';

/** Kernel names of the fused BatchNorm in training (wasm only): [y, mean, variance] and [dx, dgamma, dbeta]. */
export const BatchNormTrain = 'GfpBatchNormTrain';
export const BatchNormTrainGrad = 'GfpBatchNormTrainGrad';

const channelsLast = (x: tf.TensorInfo): {n: number; c: number} => {
  const c = x.shape[x.shape.length - 1];
  return {n: tf.util.sizeFromShape(x.shape) / c, c};
};

/**
 * Per-channel sums are taken over CHUNKS fixed chunks of the pixels (fewer where there are fewer pixels)
 * and added up in order, so no result depends on the thread count; then the threads split the pixels.
 * Below SERIAL_BELOW values one thread does all: waking the others would cost more than it saves.
 */
const CHUNKS = 8;
const SERIAL_BELOW = 1 << 15;

/**
 * Runs momentChunks(a, sa, b, sb) on the pixels of x, then `rows` (a kernel over pixel ranges, told the chunk count), in
 * one scratch: the chunk sums (4c floats a chunk) at `sums`, then `own` floats a range for each range's own use.
 */
function inChunks<K extends 'batchNormForward' | 'batchNormBackward'>(wasm: BackendWasm, name: K, {n, c}: {n: number; c: number}, own: number,
  [a, sa, b, sb]: number[], rows: (sums: number, chunks: number, mine: number, r0: number, r1: number, first: boolean) => Parameters<SimdKernels[K]>): void {
  const chunks = Math.min(CHUNKS, n);
  const serial = n * c < SERIAL_BELOW;
  withScratch(wasm, 4 * chunks * c + own * kernelThreads(wasm), (sums) => {
    splitKernel(wasm, 'momentChunks', chunks, (j0, j1) => [a, sa, b, sb, sums, n, c, chunks, j0, j1], serial);
    splitKernel(wasm, name, n, (r0, r1, i) => rows(sums, chunks, sums + 16 * chunks * c + 4 * own * i, r0, r1, i === 0), serial);
  });
}

function batchNormTrain({inputs: {x, gamma, beta}, backend, attrs: {epsilon}}: KernelArgs<'x' | 'gamma' | 'beta', {epsilon: number}>): tf.TensorInfo[] {
  const wasm = backend as BackendWasm;
  const size = channelsLast(x);
  const {n, c} = size;
  const [y, mean, variance] = [wasm.makeOutput(x.shape, 'float32'), wasm.makeOutput([c], 'float32'), wasm.makeOutput([c], 'float32')];
  const [xs, g, b, ys, m, v] = [x, gamma, beta, y, mean, variance].map((t) => offsetOf(wasm, t));
  // sums of x - x[0] (the first pixel: no cancellation for off-centre data); 2c floats a range
  inChunks(wasm, 'batchNormForward', size, 2 * c, [xs, xs, xs, xs], (sums, chunks, mine, r0, r1, first) =>
    [xs, g, b, ys, m, v, sums, mine, n, c, epsilon, chunks, r0, r1, first]);
  return [y, mean, variance];
}

function batchNormTrainGrad({inputs: {x, dy, mean, variance, gamma}, backend, attrs: {epsilon}}:
    KernelArgs<'x' | 'dy' | 'mean' | 'variance' | 'gamma', {epsilon: number}>): tf.TensorInfo[] {
  const wasm = backend as BackendWasm;
  const size = channelsLast(x);
  const {n, c} = size;
  const [dx, dgamma, dbeta] = [wasm.makeOutput(x.shape, 'float32'), wasm.makeOutput([c], 'float32'), wasm.makeOutput([c], 'float32')];
  const [xs, dys, m, v, g, dxs, dg, db] = [x, dy, mean, variance, gamma, dx, dgamma, dbeta].map((t) => offsetOf(wasm, t));
  const zeros = wasm.makeOutput([c], 'float32');
  wasm.typedArrayFromHeap(zeros).fill(0);
  try {
    // sums of dy and dy * (x - mean); 3c floats a range
    inChunks(wasm, 'batchNormBackward', size, 3 * c, [dys, offsetOf(wasm, zeros), xs, m], (sums, chunks, mine, r0, r1, first) =>
      [xs, dys, m, v, g, dxs, dg, db, sums, mine, n, c, epsilon, chunks, r0, r1, first]);
  } finally {
    wasm.disposeData(zeros.dataId);
  }
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
