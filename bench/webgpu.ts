// Latency on the webgpu backend (an NVIDIA GPU through Dawn and Vulkan) of saved models laid out as
// DIR/<model>/<variant>/model.json: per model, every variant (baseline included) timed in one process,
// interleaved run by run, at batch 1 and 64 (--batches). Writes webgpu.json to bench/results (or $GFP_RESULTS), rows
// {model, variant, latency_ms: {b1, b64, ...}, speedup: {b1, b64, ...}, speedup_b64, max_abs_diff_vs_cpu}; bench/ablation merges them.
// Each model's outputs on webgpu are also compared with the cpu backend's on the same inputs.
// Run by bench/gpu/run.sh.
// Usage: node dist/bench/webgpu.js --tree DIR [--runs 20] [--batches 1,64] [--gpu "NVIDIA H200"] [--name webgpu (the result file)]
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {compareLatency} from '../src/measure';
import {loadModel} from '../src/train';
import {writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

async function main(): Promise<void> {
  const backend = await useBackend('webgpu');
  const tree = arg('tree', '');
  if (!tree || !fs.existsSync(tree)) throw new Error(`--tree DIR: a folder of <model>/<variant>/model.json, got "${tree}"`);
  const runs = Number(arg('runs', '20'));
  const batches = arg('batches', '1,64').split(',').map(Number);
  const rows: {model: string; variant: string; [k: string]: unknown}[] = [];
  const checks: {dir: string; x: tf.Tensor; gpu: Float32Array}[] = [];
  for (const model of fs.readdirSync(tree).sort()) {
    const variants = fs.readdirSync(path.join(tree, model)).filter((v) => fs.existsSync(path.join(tree, model, v, 'model.json')));
    const order = ['baseline', ...variants.filter((v) => v !== 'baseline').sort()].filter((v) => variants.includes(v));
    const nets = await Promise.all(order.map((v) => loadModel(path.join(tree, model, v))));
    const timed: Awaited<ReturnType<typeof compareLatency>>[] = [];
    for (const b of batches) timed.push(await compareLatency(nets, b, {runs, warmup: 3}));
    const per = (f: (t: typeof timed[number], i: number) => number | undefined, i: number) => Object.fromEntries(batches.map((b, j) => [`b${b}`, f(timed[j], i)]));
    order.forEach((variant, i) => {
      const speedup = per((t) => t[0].medianMs / t[i].medianMs, i);
      rows.push({model, variant, latency_ms: per((t) => t[i].medianMs, i), iqr_ms: per((t) => t[i].iqrMs, i), speedup, speedup_b64: speedup.b64});
      process.stderr.write(`${model} ${variant}: ${batches.map((b, j) => `b${b} ${timed[j][i].medianMs.toFixed(2)} ms (${(timed[j][0].medianMs / timed[j][i].medianMs).toFixed(2)}x)`).join(', ')}\n`);
    });
    // 8 inputs of the model's own shape (e.g. 28x28 classifiers, 64x64 detectors)
    const x = tf.randomUniform([8, ...nets[0].inputs[0].shape.slice(1) as number[]], 0, 1, 'float32', 1);
    for (const [i, net] of nets.entries()) checks.push({dir: path.join(tree, model, order[i]), x, gpu: (await (net.predict(x) as tf.Tensor).data()) as Float32Array});
  }
  const info = (tf.backend() as unknown as {adapterInfo?: unknown}).adapterInfo;
  // the same inputs through the cpu backend, on models loaded afresh there: moving webgpu tensors to another
  // backend reads them synchronously, which needs OffscreenCanvas in Node
  const inputs = await Promise.all(checks.map((c) => c.x.data()));
  await tf.setBackend('cpu');
  for (const [i, {dir, x, gpu}] of checks.entries()) {
    const cpu = ((await loadModel(dir)).predict(tf.tensor(inputs[i], x.shape)) as tf.Tensor).dataSync() as Float32Array;
    rows[i].max_abs_diff_vs_cpu = cpu.reduce((m, v, j) => Math.max(m, Math.abs(v - gpu[j])), 0);
  }
  const file = writeResult(arg('name', 'webgpu'), {backend, gpu: arg('gpu', 'unknown'), adapter: info ?? null, runs, date: new Date().toISOString(), rows});
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
