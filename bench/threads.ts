// Multi-threaded wasm: per zoo model and batch size, inference (model.predict), a training step of our loop,
// a Fisher-scoring step and tf's model.trainOnBatch, at 1 and at N threads. Threads are fixed per process, so
// each count runs in its own child process, the counts alternating round by round; medians over all rounds,
// speed-ups 1 thread / N threads, the machine's load averages, and a per-kernel profile of a training step at
// each count; beside them the machine's own ceiling: how much more a fixed float loop gets done on N threads
// than on one (no memory traffic, no wasm). Usage: node dist/bench/threads.js [--models resnet20,mobilenetv2] [--batches 1,64]
// [--threads 1,2] [--rounds 4] [--runs 3] -> bench/results/threads.json
import {execFileSync} from 'child_process';
import * as os from 'os';
import {Worker} from 'worker_threads';
import * as tf from '@tensorflow/tfjs';
import {useBackend, wasmThreads} from '../src/backend';
import {zoo, ZooName} from '../src/models';
import {pruner} from '../src/prune';
import {crossEntropy, Optimizer} from '../src/train';
import {median, writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const list = (name: string, fallback: string): string[] => arg(name, fallback).split(',').filter((s) => s !== '');

/** The steps timed, in the order each run takes them. */
const STEPS = ['inference', 'trainStep', 'fisherStep', 'trainOnBatch'] as const;
type Step = typeof STEPS[number];

/** One child's timings: ms per run of each step, per model and batch ("resnet20@64"); kernel ms of a training step. */
interface ChildReport { threads: number; times: Record<string, Record<Step, number[]>>; kernels: Record<string, Record<string, number>> }

/** Times every step of every model and batch `runs` times, interleaved, after one warm-up run. */
async function child(threads: number, models: ZooName[], batches: number[], runs: number): Promise<ChildReport> {
  await useBackend('wasm', {threads});
  const report: ChildReport = {threads: wasmThreads()!, times: {}, kernels: {}};
  for (const name of models) {
    for (const batch of batches) {
      const model = zoo[name]({inputShape: [32, 32, 3], classes: 10, seed: 0});
      const xs = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const labels = Int32Array.from({length: batch}, (_, i) => i % 10);
      const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat() as tf.Tensor2D;
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const opt = new Optimizer({name: 'sgd', momentum: 0.9});
      const p = pruner(model);
      const sgd = tf.train.sgd(0.001);
      model.compile({optimizer: sgd, loss: (y: tf.Tensor, z: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, z)});
      const trainStep = async () => {
        const {value, grads} = tf.variableGrads(() => crossEntropy(model.apply(xs, {training: true}) as tf.Tensor2D, ys), vars);
        opt.apply(vars, vars.map((v) => grads[v.name]), 0.001);
        await value.data();
        tf.dispose([value, ...Object.values(grads)]);
      };
      const step: Record<Step, () => Promise<unknown>> = {
        inference: async () => { const y = model.predict(xs) as tf.Tensor; await y.data(); y.dispose(); },
        trainStep,
        fisherStep: () => p.score([{xs: xs.clone(), ys: ys.clone(), labels}], {train: {optimizer: opt, lr: 0.001}}),
        trainOnBatch: () => model.trainOnBatch(xs, ys),
      };
      const times = Object.fromEntries(STEPS.map((s) => [s, [] as number[]])) as Record<Step, number[]>;
      for (const s of STEPS) await step[s]();
      for (let r = 0; r < runs; r++) {
        for (const s of STEPS) {
          const t0 = performance.now();
          await step[s]();
          times[s].push(performance.now() - t0);
        }
      }
      report.times[`${name}@${batch}`] = times;
      if (batch === Math.max(...batches)) {
        const profile = await tf.profile(trainStep);
        const byKernel: Record<string, number> = {};
        for (const k of profile.kernels) byKernel[k.name] = (byKernel[k.name] ?? 0) + (k.kernelTimeMs as number);
        report.kernels[`${name}@${batch}`] = Object.fromEntries(Object.entries(byKernel).sort((a, b) => b[1] - a[1]).slice(0, 12)
          .map(([k, ms]) => [k, Math.round(ms * 10) / 10]));
      }
      p.dispose(); opt.dispose(); sgd.dispose(); tf.dispose([xs, ys]); model.dispose();
    }
  }
  return report;
}

/** Milliseconds for `threads` worker threads, each running the same fixed float loop, to all finish. */
async function spin(threads: number): Promise<number> {
  const loop = 'let x = 0; for (let i = 0; i < 1e9; i++) x += i * 1e-9; require("worker_threads").parentPort.postMessage(x);';
  const t0 = performance.now();
  await Promise.all(Array.from({length: threads}, () => new Promise((done, fail) => new Worker(loop, {eval: true}).once('message', done).once('error', fail))));
  return performance.now() - t0;
}

const uptime = (): string => { try { return execFileSync('uptime', {encoding: 'utf8'}).trim(); } catch { return ''; } };

async function main(): Promise<void> {
  const models = list('models', 'resnet20,mobilenetv2') as ZooName[];
  const batches = list('batches', '1,64').map(Number);
  const runs = Number(arg('runs', '3'));
  if (process.argv.includes('--child')) {
    process.stdout.write(`${JSON.stringify(await child(Number(arg('threads', '1')), models, batches, runs))}\n`);
    return;
  }
  const counts = list('threads', '1,2').map(Number);
  const rounds = Number(arg('rounds', '4'));
  const load = {before: os.loadavg(), uptimeBefore: uptime(), after: [] as number[], uptimeAfter: ''};
  const reports: ChildReport[] = [];
  const spins: Record<number, number[]> = Object.fromEntries(counts.map((c) => [c, []]));
  for (let r = 0; r < rounds; r++) {
    for (const threads of counts) spins[threads].push(await spin(threads));
    // alternate which count goes first, so a drifting load falls on both alike
    for (const threads of r % 2 === 0 ? counts : [...counts].reverse()) {
      const out = execFileSync(process.execPath, [__filename, '--child', '--threads', String(threads), '--models', models.join(','),
        '--batches', batches.join(','), '--runs', String(runs)], {encoding: 'utf8', maxBuffer: 1 << 26});
      reports.push(JSON.parse(out.trim().split('\n').pop()!) as ChildReport);
      process.stderr.write(`round ${r + 1}/${rounds}: ${threads} thread(s) done\n`);
    }
  }
  Object.assign(load, {after: os.loadavg(), uptimeAfter: uptime()});
  const rows = [];
  for (const key of Object.keys(reports[0].times)) {
    const [model, batch] = key.split('@');
    for (const step of STEPS) {
      const ms = Object.fromEntries(counts.map((c) => [c, median(reports.filter((x) => x.threads === c).flatMap((x) => x.times[key][step]))]));
      const speedup = Object.fromEntries(counts.filter((c) => c !== counts[0]).map((c) => [c, ms[counts[0]] / ms[c]]));
      rows.push({model, batch: Number(batch), step, ms, speedup});
      process.stderr.write(`${key} ${step}: ${counts.map((c) => `${c}t ${ms[c].toFixed(1)} ms`).join(', ')}  speed-up ${Object.values(speedup).map((s) => s.toFixed(2)).join(', ')}\n`);
    }
  }
  // the same work on each of N threads: N x the one-thread time would be a perfect N-fold machine
  const spinMs = Object.fromEntries(counts.map((c) => [c, median(spins[c])]));
  const ceiling = Object.fromEntries(counts.filter((c) => c !== counts[0]).map((c) => [c, (c / counts[0]) * spinMs[counts[0]] / spinMs[c]]));
  process.stderr.write(`machine ceiling (a float loop on each thread): ${Object.entries(ceiling).map(([c, x]) => `${c}t ${x.toFixed(2)}x`).join(', ')}\n`);
  const kernels = Object.fromEntries(Object.keys(reports[0].kernels).map((key) => [key,
    Object.fromEntries(counts.map((c) => [c, reports.find((x) => x.threads === c)!.kernels[key]]))]));
  const file = writeResult('threads', {date: new Date().toISOString(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version,
    load, rounds, runsPerRound: runs, threads: counts, machineCeiling: {spinMs, speedup: ceiling}, rows, trainStepKernelsMs: kernels,
    note: 'each thread count in its own process, alternating; ms: medians of all runs; speedup: ms at the first count / ms at this count; machineCeiling: the speed-up a float loop on every thread gets, the most any step could'});
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
