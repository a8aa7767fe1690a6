// The paper's ablation on our backends: prune each model to the same FLOPs target with memory, flops, none
// and latency normalization and without grouping (-I), same seed, schedule and fine-tuning budget, then time
// every model (baseline included) in ONE process, interleaved, at batch 1 and 64, on wasm in Node and in
// headless Chromium. Resumable: a variant whose report.json exists is not pruned again, an interrupted one
// continues (pruneModel with resume, as gfp prune --resume). Webgpu latencies measured elsewhere (bench/gpu) are merged from
// bench/results/webgpu.json when present.
// Usage: node dist/bench/ablation.js [--models resnet20,mobilenetv2,resnext] [--variants memory,flops,...]
//   [--target-flops 0.5] [--interval 25] [--units-per-prune 4 | resnet20:4,mobilenetv2:32] [--finetune-epochs 1]
//   [--limit N] [--runs 10] [--work runs/ablation] [--name ablation] [--prune-only | --measure-only] [--no-browser]
//   variants: memory, flops, none, no-grouping, latency, and taylor-memory, l1-memory, l2-memory, bn-memory,
//   random-memory (the simple criteria over the memory normalizer)
//   [--extra-epochs N [--extra-lr 0.01]]: then train the baseline and every pruned variant N more epochs, same
//   schedule for all (trainModel as gfp train, into <work>/<model>/<variant>+<N>ep), and report that accuracy too;
//   with --merge-extra only add those accuracies, and the webgpu columns, to the rows of bench/results/ablation.json (no re-timing)
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {fashionMnist} from '../src/data';
import {group} from '../src/graph';
import {compareLatency, countCosts, measureInBrowser} from '../src/measure';
import {costsAt, Criterion, LatencyModel, Normalizer, pruner} from '../src/prune';
import {pruneModel} from '../src/tasks';
import {evaluate, loadModel, trainModel} from '../src/train';
import {continuing, resultFile, writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const flag = (name: string): boolean => process.argv.includes(`--${name}`);
const root = path.join(__dirname, '..', '..');
const variants: Record<string, {normalize: Normalizer; grouping?: boolean; criterion?: Criterion}> = {memory: {normalize: 'memory'}, flops: {normalize: 'flops'},
  none: {normalize: 'none'}, 'no-grouping': {normalize: 'memory', grouping: false}, latency: {normalize: 'latency'},
  // the simple criteria, each divided by the memory a unit frees as Fisher is in 'memory'
  ...Object.fromEntries((['taylor', 'l1', 'l2', 'bn', 'random'] as const).map((c) => [`${c}-memory`, {normalize: 'memory', criterion: c}]))};

/** The paper's Table 1 (ImageNet, RTX 2080 Ti, docs/method.md §7), printed beside ours. */
const paper = [
  {model: 'ResNet-50', variant: 'baseline', top1: 76.79, gflops: 4.09, memory_m: 11.11, ms: 65.48, speedup: 1},
  {model: 'ResNet-50', variant: 'memory', top1: 76.42, gflops: 2.04, memory_m: 5.82, ms: 36.5, speedup: 1.79},
  {model: 'ResNet-50', variant: 'flops', top1: 76.2, gflops: 2.04, memory_m: 8.27, ms: 47.07, speedup: 1.39},
  {model: 'ResNet-50', variant: 'none', top1: 74.93, gflops: 2.04, memory_m: 9.27, ms: 50.06, speedup: 1.31},
  {model: 'ResNet-50', variant: 'no-grouping', top1: 76.23, gflops: 2.04, memory_m: 9.24, ms: 50.22, speedup: 1.3},
  {model: 'MobileNetV2', variant: 'baseline', top1: 77.41, gflops: 1.14, memory_m: 13.35, ms: 44.21, speedup: 1},
  {model: 'MobileNetV2', variant: 'memory', top1: 75.97, gflops: 0.57, memory_m: 6.84, ms: 24.72, speedup: 1.79},
  {model: 'MobileNetV2', variant: 'flops', top1: 75.97, gflops: 0.57, memory_m: 11.08, ms: 37.58, speedup: 1.18},
  {model: 'ResNeXt-50', variant: 'memory', top1: 77.53, gflops: 2.12, memory_m: 9.02, ms: 55.35, speedup: 1.57},
];

/** The model to start from: the shipped pretrained one, or one trained by gfp train under runs/pretrain. */
const startingPoint = (name: string): string => {
  for (const dir of [path.join(root, 'datasets', 'pretrained', name), path.join(root, 'runs', 'pretrain', name)]) {
    if (fs.existsSync(path.join(dir, 'model.json'))) return dir;
  }
  throw new Error(`no trained ${name}: expected datasets/pretrained/${name} or runs/pretrain/${name} (gfp train --model ${name} --out runs/pretrain/${name})`);
};

/** "4" for every model, or "resnet20:4,mobilenetv2:32". */
const perModel = (spec: string, model: string): string => {
  if (!spec.includes(':')) return spec;
  const hit = spec.split(',').map((p) => p.split(':')).find(([m]) => m === model);
  if (!hit) throw new Error(`--units-per-prune ${spec} names no value for ${model}`);
  return hit[1];
};

async function prune(models: string[], names: string[], work: string): Promise<void> {
  const limit = arg('limit', '');
  await useBackend('wasm');
  for (const model of models) {
    const common = {targetFlops: Number(arg('target-flops', '0.5')), interval: Number(arg('interval', '25')),
      unitsPerPrune: Number(perModel(arg('units-per-prune', '1'), model)), finetuneEpochs: Number(arg('finetune-epochs', '1')),
      runs: 3, seed: 0, ...(limit ? {limit: Number(limit)} : {}), progress: 'lines' as const};
    for (const variant of names) {
      const out = path.join(work, model, variant);
      if (fs.existsSync(path.join(out, 'report.json'))) continue;
      process.stderr.write(`[ablation] ${model} ${variant}\n`);
      await pruneModel({model: startingPoint(model), ...variants[variant], ...common, out, ...continuing(out, path.join(out, 'checkpoint'))});
    }
  }
}

/** Where the baseline or a pruned variant trained `epochs` more epochs lies. */
const extraDir = (work: string, model: string, variant: string, epochs: number): string => path.join(work, model, `${variant}+${epochs}ep`);

/** Test accuracy of the baseline or a variant after `epochs` more epochs, once all are done (gfp train rewrites report.json every epoch). */
const extraAccuracy = (work: string, model: string, variant: string, epochs: number): {epochs: number; accuracy: number} | undefined => {
  const file = path.join(extraDir(work, model, variant, epochs), 'report.json');
  if (epochs <= 0 || !fs.existsSync(file)) return undefined;
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as {history: unknown[]; testAccuracy: number};
  return report.history.length === epochs ? {epochs, accuracy: report.testAccuracy} : undefined;
};

/** The same further training for the baseline and every pruned variant: equal accuracy is judged after it. */
async function trainMore(models: string[], names: string[], work: string, epochs: number): Promise<void> {
  const limit = arg('limit', '');
  for (const model of models) {
    for (const variant of ['baseline', ...names]) {
      const from = variant === 'baseline' ? startingPoint(model) : path.join(work, model, variant);
      const out = extraDir(work, model, variant, epochs);
      if (!fs.existsSync(path.join(from, 'model.json')) || extraAccuracy(work, model, variant, epochs)) continue;
      process.stderr.write(`[ablation] ${model} ${variant}: ${epochs} more epochs\n`);
      await useBackend('wasm');
      await trainModel({model: from, dataset: 'fashion-mnist', epochs, lr: Number(arg('extra-lr', '0.01')), seed: 0, ...(limit ? {limit: Number(limit)} : {}),
        out, ...continuing(out), progress: 'lines'});
    }
  }
}

async function measure(models: string[], names: string[], work: string): Promise<void> {
  await useBackend('wasm');
  const entries: {model: string; variant: string; net: tf.LayersModel; accuracy: number; report?: Record<string, unknown>}[] = [];
  for (const model of models) {
    const dirs = names.map((v) => [v, path.join(work, model, v)]).filter(([, d]) => fs.existsSync(path.join(d, 'report.json')));
    if (!dirs.length) continue;
    const reports = dirs.map(([, d]) => JSON.parse(fs.readFileSync(path.join(d, 'report.json'), 'utf8')));
    // the baseline's accuracy on the same test split the variants were evaluated on
    const {test} = await fashionMnist(reports[0].limit ? {limit: {train: 1, test: reports[0].limit}} : {});
    const base = await loadModel(startingPoint(model));
    entries.push({model, variant: 'baseline', net: base, accuracy: (await evaluate(base, test, 256)).accuracy});
    for (const [i, [variant, dir]] of dirs.entries()) entries.push({model, variant, net: await loadModel(dir), accuracy: reports[i].pruned.accuracy, report: reports[i]});
  }
  const runs = Number(arg('runs', '10'));
  const nets = entries.map((e) => e.net);
  const [b1, b64] = [await compareLatency(nets, 1, {runs, warmup: 2}), await compareLatency(nets, 64, {runs, warmup: 2})];
  const browser: {b1: number; b64: number}[] = [];
  if (!flag('no-browser')) {
    const r = await measureInBrowser(nets, {batchSize: [1, 64], runs, backends: ['wasm']}); // interleaved in one page
    for (const m of r.measurements) browser.push({b1: m.latency[0].medianMs, b64: m.latency[1].medianMs});
  }
  // the latency variant's per-layer model, asked to predict every variant's time from its kept units
  const predicted = new Map<number, Record<string, number>>();
  for (const model of new Set(entries.map((e) => e.model))) {
    const lat = entries.find((e) => e.model === model && e.variant === 'latency')?.report?.latencyModel as LatencyModel | undefined;
    if (!lat) continue;
    const g = group(entries.find((e) => e.model === model && e.variant === 'baseline')!.net);
    entries.forEach((e, i) => {
      if (e.model !== model) return;
      const counts = g.spaces.map((sp) => sp.units);
      for (const r of (e.report?.rows ?? []) as {space: number}[]) counts[r.space]--;
      predicted.set(i, {[`predicted_b${lat.batchSize}`]: costsAt(g, counts, lat).time!});
    });
  }
  const epochs = Number(arg('extra-epochs', '0'));
  const rows = entries.map((e, i) => {
    const c = countCosts(e.net);
    const extra = extraAccuracy(work, e.model, e.variant, epochs);
    const base = entries.findIndex((x) => x.model === e.model && x.variant === 'baseline');
    const gpu = webgpuColumns(e.model, e.variant);
    const r = e.report as {steps?: number; unitsPerPrune?: number; interval?: number; finetuneEpochs?: number; limit?: number} | undefined;
    return {model: e.model, variant: e.variant, accuracy: e.accuracy, ...(extra ? {accuracy_extra: extra} : {}), macs: c.macs, params: c.params, memory: c.memory,
      latency_ms: {wasm_b1: b1[i].medianMs, wasm_b64: b64[i].medianMs, ...(browser.length ? {browser_wasm_b1: browser[i].b1, browser_wasm_b64: browser[i].b64} : {}),
        ...gpu.latency, ...predicted.get(i)},
      speedup_b1: b1[base].medianMs / b1[i].medianMs, speedup_b64: b64[base].medianMs / b64[i].medianMs,
      ...(browser.length ? {browser_speedup_b64: browser[base].b64 / browser[i].b64} : {}),
      ...gpu.speedup,
      ...(r ? {steps: r.steps, unitsPerPrune: r.unitsPerPrune, interval: r.interval, finetuneEpochs: r.finetuneEpochs, limit: r.limit} : {})};
  });
  // variants asked for but not pruned: -I cannot reach the target where coupled spaces hold most FLOPs
  const unreachable = [...new Set(entries.map((e) => e.model))].flatMap((model) => names.filter((v) => !entries.some((e) => e.model === model && e.variant === v)).map((variant) => {
    const p = pruner(entries.find((e) => e.model === model && e.variant === 'baseline')!.net, {grouping: variant !== 'no-grouping'});
    return {model, variant, minFlopsRatio: p.minFlopsRatio()};
  }));
  const file = writeResult(arg('name', 'ablation'), {backend: 'wasm', runs, date: new Date().toISOString(), args: process.argv.slice(2),
    ...webgpuSource(), rows, unreachable, paper});
  for (const u of unreachable) process.stderr.write(`${u.model} ${u.variant}: not pruned, at most ${(100 * (1 - u.minFlopsRatio)).toFixed(1)}% of the FLOPs can go\n`);
  for (const r of rows) {
    process.stderr.write(`${r.model.padEnd(12)} ${r.variant.padEnd(12)} acc ${(100 * r.accuracy).toFixed(2)}  MACs ${(r.macs / 1e6).toFixed(2)}M  ` +
      `mem ${r.memory}  b1 ${r.latency_ms.wasm_b1.toFixed(2)} ms  b64 ${r.latency_ms.wasm_b64.toFixed(1)} ms  ${r.speedup_b64.toFixed(2)}x\n`);
  }
  process.stderr.write(`wrote ${file}\n`);
}

/** bench/results/webgpu.json (bench/gpu), read once, or null. */
const webgpuFile = path.join(root, 'bench', 'results', 'webgpu.json');
const webgpu: {gpu: string; date: string; rows: {model: string; variant: string; latency_ms: Record<string, number>}[]} | null =
  fs.existsSync(webgpuFile) ? JSON.parse(fs.readFileSync(webgpuFile, 'utf8')) : null;

const webgpuSource = (): {webgpu?: {gpu: string; date: string}} => (webgpu ? {webgpu: {gpu: webgpu.gpu, date: webgpu.date}} : {});

/** A row's webgpu latencies (webgpu_b1, webgpu_b64, ...) and speed-ups over its baseline (webgpu_speedup_b64, ...), every batch timed. */
function webgpuColumns(model: string, variant: string): {latency: Record<string, number>; speedup: Record<string, number>} {
  const rows = webgpu?.rows ?? [];
  const [row, base] = [variant, 'baseline'].map((v) => rows.find((r) => r.model === model && r.variant === v));
  const batches = Object.keys(row?.latency_ms ?? {});
  return {latency: Object.fromEntries(batches.map((b) => [`webgpu_${b}`, row!.latency_ms[b]])),
    speedup: base ? Object.fromEntries(batches.map((b) => [`webgpu_speedup_${b}`, base.latency_ms[b] / row!.latency_ms[b]])) : {}};
}

/** Adds accuracy_extra (and the webgpu columns) to the rows of the results file, keeping every measurement. */
function mergeExtra(work: string, epochs: number): void {
  const file = resultFile('ablation');
  const results = JSON.parse(fs.readFileSync(file, 'utf8')) as {rows: {model: string; variant: string; accuracy_extra?: unknown; latency_ms: Record<string, number>}[]};
  for (const r of results.rows) {
    const extra = extraAccuracy(work, r.model, r.variant, epochs);
    if (extra) r.accuracy_extra = extra;
    const gpu = webgpuColumns(r.model, r.variant);
    Object.assign(r, gpu.speedup);
    Object.assign(r.latency_ms, gpu.latency);
  }
  writeResult('ablation', {...results, ...webgpuSource()});
  process.stderr.write(`accuracy after ${epochs} more epochs: ${results.rows.filter((r) => r.accuracy_extra).length} of ${results.rows.length} rows, in ${file}\n`);
}

async function main(): Promise<void> {
  const models = arg('models', 'resnet20,mobilenetv2,resnext').split(',');
  const names = arg('variants', Object.keys(variants).join(',')).split(',');
  for (const v of names) if (!(v in variants)) throw new Error(`unknown variant "${v}": use ${Object.keys(variants).join(', ')}`);
  const work = path.resolve(arg('work', path.join(root, 'runs', 'ablation')));
  const extra = Number(arg('extra-epochs', '0'));
  if (flag('merge-extra')) return mergeExtra(work, extra);
  if (!flag('measure-only')) await prune(models, names, work);
  if (extra > 0 && !flag('measure-only')) await trainMore(models, names, work, extra);
  if (!flag('prune-only')) await measure(models, names, work);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
