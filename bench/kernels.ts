// Times wasm's gradient kernels (native where wasm has one, ours otherwise) at ResNet-like
// shapes, batch 64. Run: node dist/bench/kernels.js  -> bench/results/kernels.json
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {replacedWasmKernels, wasmKernels} from '../src/backend/kernels';

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
    const out = kernel.kernelFunc({inputs, backend, attrs}) as tf.TensorInfo;
    backend.readSync(out.dataId);
    times.push(performance.now() - t0);
    backend.disposeData(out.dataId);
  }
  const sorted = times.slice(WARMUP).sort((a, b) => a - b);
  return sorted[Math.floor(RUNS / 2)];
}

/** The kernels to compare for one case: wasm's own (if it has one) and ours (if we register one). */
function contenders(name: string): [string, tf.KernelConfig][] {
  const ours = wasmKernels.find((k) => k.kernelName === name);
  const native = ours == null ? tf.getKernel(name, 'wasm') : replacedWasmKernels.find((k) => k.kernelName === name);
  const list: [string, tf.KernelConfig | undefined][] = [['wasm', native], ['ours', ours]];
  return list.filter((c): c is [string, tf.KernelConfig] => c[1] != null);
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
  for (const c of [...convCases(), ...depthwiseCases(), ...tileCases()]) {
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, shape], i) => [k, tf.randomNormal(shape, 0, 1, 'float32', i)]));
    for (const [impl, kernel] of contenders(c.kernel)) {
      const ms = time(kernel, inputs, c.attrs);
      rows.push({kernel: c.kernel, shape: c.label, impl, ms: Math.round(ms * 100) / 100});
      console.log(`${c.kernel.padEnd(36)} ${c.label.padEnd(26)} ${impl.padEnd(12)} ${ms.toFixed(1)} ms`);
    }
    tf.dispose(Object.values(inputs));
  }
  const file = path.join(__dirname, '..', '..', 'bench', 'results', 'kernels.json');
  const result = {backend: tf.getBackend(), batch: BATCH, runs: RUNS, warmup: WARMUP, statistic: 'median', date: new Date().toISOString(), rows};
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(result, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

main().catch((e) => { console.error(e); process.exit(1); });
