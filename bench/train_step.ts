// Per zoo model at batch 64 on the current backend: inference, plain training step and
// Fisher-scoring training step (medians, same run), their ratios, and a per-kernel profile
// of one training step. Usage: node dist/bench/train_step.js [--backend wasm] [--runs 5] [--models a,b]
// [--compare Sum,Mean,FusedBatchNorm,...]: also time each model with tf's own kernels (wasm or webgpu) and
// gradients of those names, interleaved with ours, and report both; the name 'simd' switches our SIMD
// kernels (assembly/kernels.ts) off in the 'tf' variant.
import * as tf from '@tensorflow/tfjs';
import {BackendName, useBackend} from '../src/backend';
import {replacedWasmKernels, wasmKernels} from '../src/backend/kernels';
import {replacedWebgpuKernels, webgpuKernels} from '../src/backend/kernels/webgpu';
import {fastGradients, replacedGradients} from '../src/backend/gradients';
import {useSimd} from '../src/backend/kernels/simd';
import {zoo, ZooName} from '../src/models';
import {pruner} from '../src/prune';
import {crossEntropy, Optimizer} from '../src/train';
import {median, timeRuns, writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

/** Switches the kernels (of the active backend) and gradients named in `names` to ours (true) or tf's own (false). */
function useOurs(names: string[], ours: boolean): void {
  const backend = tf.getBackend();
  const [mine, theirs] = backend === 'webgpu' ? [webgpuKernels, replacedWebgpuKernels] : [wasmKernels, replacedWasmKernels];
  for (const name of names) {
    if (name === 'simd') {
      useSimd(ours);
      continue;
    }
    const kernel = (ours ? mine : theirs).find((k) => k.kernelName === name);
    if (kernel != null) {
      tf.unregisterKernel(name, backend);
      tf.registerKernel(kernel);
      kernel.setupFunc?.(tf.backend());
    }
    const grad = (ours ? fastGradients : replacedGradients).find((g) => g.kernelName === name);
    if (grad != null) tf.registerGradient(grad);
    if (kernel == null && grad == null) throw new Error(`bench/train_step: --compare: we replace no ${backend} kernel or gradient named ${name}`);
  }
}

async function main(): Promise<void> {
  const backend = await useBackend(arg('backend', 'wasm') as BackendName);
  const runs = Number(arg('runs', '5'));
  const batch = Number(arg('batch', '64'));
  const names = arg('models', 'resnet20,mobilenetv2,resnext').split(',') as ZooName[];
  const compare = arg('compare', '').split(',').filter((n) => n !== '');
  const variants = compare.length > 0 ? ['ours', 'tf'] as const : ['ours'] as const;
  const rows = [];
  for (const name of names) {
    const model = zoo[name]({inputShape: [28, 28, 1], classes: 10, seed: 0});
    const xs = tf.randomUniform([batch, 28, 28, 1]) as tf.Tensor4D;
    const labels = Int32Array.from({length: batch}, (_, i) => i % 10);
    const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 10) as tf.Tensor2D;
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const opt = new Optimizer({name: 'sgd', momentum: 0.9});
    const infer = async () => { const y = tf.tidy(() => model.predict(xs) as tf.Tensor); await y.data(); y.dispose(); };
    const trainStep = async () => {
      const {value, grads} = tf.variableGrads(() => crossEntropy(model.apply(xs, {training: true}) as tf.Tensor2D, ys), vars);
      opt.apply(vars, vars.map((v) => grads[v.name]), 0.001);
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    };
    const p = pruner(model);
    const fisherStep = async () => {
      await p.score([{xs: xs.clone(), ys: ys.clone(), labels}], {train: {optimizer: opt, lr: 0.001}});
    };
    // interleave the three (and the variants) so that machine load affects them alike
    const t = variants.map(() => ({infer: [] as number[], train: [] as number[], fisher: [] as number[]}));
    for (const v of variants) { useOurs(compare, v === 'ours'); await infer(); await trainStep(); await fisherStep(); }
    for (let r = 0; r < runs; r++) {
      for (const [i, v] of variants.entries()) {
        useOurs(compare, v === 'ours');
        t[i].infer.push(...(await timeRuns(infer, 1, 0)));
        t[i].train.push(...(await timeRuns(trainStep, 1, 0)));
        t[i].fisher.push(...(await timeRuns(fisherStep, 1, 0)));
      }
    }
    const results = [];
    for (const [i, v] of variants.entries()) {
      useOurs(compare, v === 'ours');
      const profile = await tf.profile(trainStep);
      const byKernel: Record<string, number> = {};
      for (const k of profile.kernels) byKernel[k.name] = (byKernel[k.name] ?? 0) + (k.kernelTimeMs as number);
      const kernels = Object.entries(byKernel).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([kernel, ms]) => ({kernel, ms: Math.round(ms * 10) / 10}));
      const [infer_, train, fisher] = [t[i].infer, t[i].train, t[i].fisher].map(median);
      results.push({inferenceMs: infer_, trainStepMs: train, fisherStepMs: fisher, trainOverInference: train / infer_, fisherOverTrain: fisher / train, kernels});
      process.stderr.write(`${name}${compare.length > 0 ? ` (${v})` : ''}: infer ${infer_.toFixed(0)} ms, train ${train.toFixed(0)} ms (${(train / infer_).toFixed(2)}x), fisher ${fisher.toFixed(0)} ms (${(fisher / train).toFixed(2)}x train)\n`);
    }
    const row = {model: name, batch, ...results[0], ...(compare.length > 0 ? {withTfOwn: {names: compare, ...results[1]}} : {})};
    rows.push(row);
    p.dispose(); opt.dispose(); tf.dispose([xs, ys]); model.dispose();
  }
  const file = writeResult(`train_step_${backend}`, {backend, runs, compare, date: new Date().toISOString(), cpus: require('os').cpus().length, rows});
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
