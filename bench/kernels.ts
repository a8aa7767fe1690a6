// Times wasm kernels (wasm's own where it has one, ours where we register one, and ours without its
// SIMD path where it has one) at ResNet-like and MobileNetV2-like shapes, batch 64.
// Run: node dist/bench/kernels.js  -> bench/results/kernels.json
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {replacedWasmKernels, wasmKernels} from '../src/backend/kernels';
import {useSimd} from '../src/backend/kernels/simd';
import {writeResult} from './common';

/** Our kernels with a SIMD path (assembly/kernels.ts) besides the composed one. */
const withSimd = new Set(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']);

const BATCH = 64;
const WARMUP = 2;
const RUNS = 7;

interface Case { kernel: string; label: string; inputs: Record<string, number[]>; attrs: tf.NamedAttrMap }

function convCases(): Case[] {
  const shapes: [number, number, number, number][] = [[28, 16, 16, 1], [28, 16, 32, 2], [14, 32, 32, 1], [14, 32, 64, 2], [7, 64, 64, 1]];
  return shapes.flatMap(([size, ci, co, s]): Case[] => {
    const out = Math.ceil(size / s);
    const label = `${size}x${size}x${ci}->${co} 3x3 s${s}`;
    const attrs = {strides: s, pad: 'same', dataFormat: 'NHWC'};
    return [
      {kernel: 'Conv2DBackpropInput', label, inputs: {dy: [BATCH, out, out, co], filter: [3, 3, ci, co]}, attrs: {...attrs, inputShape: [BATCH, size, size, ci]}},
      {kernel: 'Conv2DBackpropFilter', label, inputs: {x: [BATCH, size, size, ci], dy: [BATCH, out, out, co]}, attrs: {...attrs, filterShape: [3, 3, ci, co]}},
      {kernel: 'Conv2D', label, inputs: {x: [BATCH, size, size, ci], filter: [3, 3, ci, co]}, attrs: {...attrs, dilations: 1}},
    ];
  });
}

function depthwiseCases(): Case[] {
  return [1, 2].flatMap((s): Case[] => {
    const out = Math.ceil(14 / s);
    const label = `14x14x96 dw3x3 s${s}`;
    const attrs = {strides: s, pad: 'same', dilations: 1};
    return [
      {kernel: 'DepthwiseConv2dNativeBackpropInput', label, inputs: {dy: [BATCH, out, out, 96], filter: [3, 3, 96, 1]}, attrs: {...attrs, inputShape: [BATCH, 14, 14, 96]}},
      {kernel: 'DepthwiseConv2dNativeBackpropFilter', label, inputs: {x: [BATCH, 14, 14, 96], dy: [BATCH, out, out, 96]}, attrs: {...attrs, filterShape: [3, 3, 96, 1]}},
      {kernel: 'DepthwiseConv2dNative', label, inputs: {x: [BATCH, 14, 14, 96], filter: [3, 3, 96, 1]}, attrs},
    ];
  });
}

/** Median milliseconds of `kernel` on the wasm backend, output read back each run. */
function time(kernel: tf.KernelConfig, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): number {
  const backend = tf.backend();
  const times: number[] = [];
  for (let r = 0; r < WARMUP + RUNS; r++) {
    const t0 = performance.now();
    const outs = [kernel.kernelFunc({inputs, backend, attrs})].flat();
    outs.forEach((out) => backend.readSync(out.dataId));
    times.push(performance.now() - t0);
    outs.forEach((out) => backend.disposeData(out.dataId));
  }
  const sorted = times.slice(WARMUP).sort((a, b) => a - b);
  return sorted[Math.floor(RUNS / 2)];
}

/** The kernels to compare for one case: wasm's own (if it has one) and ours (if we register one). */
function contenders(name: string): [string, tf.KernelConfig][] {
  const ours = wasmKernels.find((k) => k.kernelName === name);
  const native = ours == null ? tf.getKernel(name, 'wasm') : replacedWasmKernels.find((k) => k.kernelName === name);
  const list: [string, tf.KernelConfig | undefined][] = [['wasm', native], ['ours', ours]];
  if (withSimd.has(name)) list.push(['ours-no-simd', ours]);
  return list.filter((c): c is [string, tf.KernelConfig] => c[1] != null);
}

/** MobileNetV2's 1x1 convs (the matmul path of Conv2DBackpropFilter) and its depthwise layers at 28, 14, 7. */
function mobilenetCases(): Case[] {
  const pointwise = ([[28, 16, 96], [28, 96, 24], [14, 192, 32], [7, 384, 64], [4, 320, 1280]] as const).map(([size, ci, co]): Case => ({
    kernel: 'Conv2DBackpropFilter', label: `${size}x${size}x${ci}->${co} 1x1`, attrs: {strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, ci, co]},
    inputs: {x: [BATCH, size, size, ci], dy: [BATCH, size, size, co]},
  }));
  const depthwise = ([[28, 144, 1], [28, 144, 2], [7, 576, 1]] as const).map(([size, c, s]): Case => ({
    kernel: 'DepthwiseConv2dNativeBackpropFilter', label: `${size}x${size}x${c} dw3x3 s${s}`, attrs: {strides: s, pad: 'same', dilations: 1, filterShape: [3, 3, c, 1]},
    inputs: {x: [BATCH, size, size, c], dy: [BATCH, Math.ceil(size / s), Math.ceil(size / s), c]},
  }));
  return [...pointwise, ...depthwise];
}

/** Per-channel reductions (BatchNorm moments and gradients, global pooling), BatchNorm itself, channel splits. */
function batchNormCases(): Case[] {
  const reductions = ([[28, 96, [0, 1, 2]], [7, 1280, [1, 2]]] as const).flatMap(([size, c, axis]) => ['Sum', 'Mean'].map((kernel): Case => (
    {kernel, label: `[${BATCH},${size},${size},${c}] over ${axis}`, inputs: {x: [BATCH, size, size, c]}, attrs: {axis: [...axis], keepDims: false}})));
  const norms = ([[28, 96], [7, 576]] as const).map(([size, c]): Case => ({
    kernel: 'FusedBatchNorm', label: `[${BATCH},${size},${size},${c}]`, attrs: {varianceEpsilon: 1e-3},
    inputs: {x: [BATCH, size, size, c], mean: [c], variance: [c], offset: [c], scale: [c]},
  }));
  // GroupConv2D (ResNeXt, 8 groups) splits its input along the channels
  const splits = ([[28, 32], [14, 64]] as const).map(([size, c]): Case => (
    {kernel: 'SplitV', label: `[${BATCH},${size},${size},${c}] in 8`, inputs: {x: [BATCH, size, size, c]}, attrs: {numOrSizeSplits: 8, axis: 3}}));
  return [...reductions, ...norms, ...splits];
}

function tileCases(): Case[] {
  // the BatchNorm gradient tiles 1/sqrt(var) [1, 1, 1, C] over [B, H, W, 1]
  return [[28, 16], [14, 32], [7, 64]].map(([size, c]) => (
    {kernel: 'Tile', label: `[1,1,1,${c}] x [${BATCH},${size},${size},1]`, inputs: {x: [1, 1, 1, c]}, attrs: {reps: [BATCH, size, size, 1]}}));
}

async function main(): Promise<void> {
  await useBackend('wasm');
  for (const k of replacedWasmKernels) k.setupFunc?.(tf.backend()); // unregistered before wasm started
  const rows: {kernel: string; shape: string; impl: string; ms: number}[] = [];
  for (const c of [...convCases(), ...depthwiseCases(), ...mobilenetCases(), ...batchNormCases(), ...tileCases()]) {
    // variance must be positive
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, shape], i) => [k, k === 'variance' ? tf.randomUniform(shape, 0.5, 2) : tf.randomNormal(shape, 0, 1, 'float32', i)]));
    for (const [impl, kernel] of contenders(c.kernel)) {
      useSimd(impl !== 'ours-no-simd');
      const ms = time(kernel, inputs, c.attrs);
      rows.push({kernel: c.kernel, shape: c.label, impl, ms: Math.round(ms * 100) / 100});
      console.log(`${c.kernel.padEnd(36)} ${c.label.padEnd(26)} ${impl.padEnd(12)} ${ms.toFixed(1)} ms`);
    }
    tf.dispose(Object.values(inputs));
  }
  useSimd(true);
  writeResult('kernels', {backend: tf.getBackend(), batch: BATCH, runs: RUNS, warmup: WARMUP, statistic: 'median', date: new Date().toISOString(), rows});
}

main().catch((e) => { console.error(e); process.exit(1); });
