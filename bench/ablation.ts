// The paper's ablation on our backend: prune each model to the same FLOPs target with memory, flops
// and none normalization and without grouping (-I), same seed and fine-tuning budget, then time every
// model (baseline included) in ONE process, interleaved, at batch 1 and 64, then in headless Chromium. Resumable: a variant whose
// report.json exists is not pruned again, an interrupted one continues (gfp prune --resume).
// Usage: node dist/bench/ablation.js [--models resnet20,mobilenetv2,resnext] [--target-flops 0.5]
//   [--interval 25] [--units-per-prune 1] [--finetune-epochs 1] [--limit N] [--runs 10] [--work runs/ablation]
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {fashionMnist} from '../src/data';
import {compareLatency, countCosts, measureInBrowser} from '../src/measure';
import {byName, ZooName} from '../src/models';
import {evaluate, loadModel} from '../src/train';
import {writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const root = path.join(__dirname, '..', '..');
const variants = {memory: ['--normalize', 'memory'], flops: ['--normalize', 'flops'], none: ['--normalize', 'none'],
  'no-grouping': ['--normalize', 'memory', '--no-grouping']} as const;
type Variant = keyof typeof variants | 'baseline';

/** The model to start from: the shipped pretrained one when present, else the zoo's (untrained). */
const startingPoint = (name: string): string => {
  const dir = path.join(root, 'datasets', 'pretrained', name);
  return fs.existsSync(path.join(dir, 'model.json')) ? dir : name;
};

async function main(): Promise<void> {
  const models = arg('models', 'resnet20,mobilenetv2,resnext').split(',');
  const work = path.resolve(arg('work', path.join(root, 'runs', 'ablation')));
  const limit = arg('limit', '');
  const common = ['--target-flops', arg('target-flops', '0.5'), '--interval', arg('interval', '25'), '--units-per-prune', arg('units-per-prune', '1'),
    '--finetune-epochs', arg('finetune-epochs', '1'), '--runs', '3', '--seed', '0', '--backend', 'wasm', ...(limit ? ['--limit', limit] : [])];
  for (const model of models) {
    for (const [variant, flags] of Object.entries(variants)) {
      const out = path.join(work, model, variant);
      if (fs.existsSync(path.join(out, 'report.json'))) continue;
      process.stderr.write(`[ablation] ${model} ${variant}\n`);
      const r = spawnSync(process.execPath, [path.join(root, 'bin', 'gfp.js'), 'prune', '--model', startingPoint(model), ...flags, ...common, '--out', out, '--resume'],
        {stdio: ['ignore', 'ignore', 'inherit']});
      if (r.status !== 0) throw new Error(`gfp prune failed for ${model} ${variant} (exit ${r.status}); rerun to resume`);
    }
  }
  // every model timed in this process, interleaved, so load affects them alike
  await useBackend('wasm');
  const {test} = await fashionMnist(limit ? {limit: {train: 1, test: Number(limit)}} : {});
  const entries: {model: string; variant: Variant; net: tf.LayersModel; accuracy: number}[] = [];
  for (const model of models) {
    const start = startingPoint(model);
    const base = start === model ? byName(model as ZooName, {inputShape: [28, 28, 1], classes: 10}) : await loadModel(start);
    entries.push({model, variant: 'baseline', net: base, accuracy: evaluate(base, test, 256).accuracy});
    for (const variant of Object.keys(variants) as Variant[]) {
      const report = JSON.parse(fs.readFileSync(path.join(work, model, variant, 'report.json'), 'utf8'));
      entries.push({model, variant, net: await loadModel(path.join(work, model, variant)), accuracy: report.pruned.accuracy});
    }
  }
  const runs = Number(arg('runs', '10'));
  const nets = entries.map((e) => e.net);
  const [b1, b64] = [await compareLatency(nets, 1, {runs, warmup: 2}), await compareLatency(nets, 64, {runs, warmup: 2})];
  // the browser's wasm backend, one model after another (each in its own page)
  const browser: {b1: number; b64: number}[] = [];
  for (const e of entries) {
    const r = await measureInBrowser(e.net, {batchSize: [1, 64], runs, backends: ['wasm']});
    browser.push({b1: r.measurements[0].latency[0].medianMs, b64: r.measurements[0].latency[1].medianMs});
  }
  const rows = entries.map((e, i) => {
    const c = countCosts(e.net);
    const base = entries.findIndex((x) => x.model === e.model && x.variant === 'baseline');
    return {model: e.model, variant: e.variant, accuracy: e.accuracy, macs: c.macs, params: c.params, memory: c.memory,
      latency_ms: {wasm_b1: b1[i].medianMs, wasm_b64: b64[i].medianMs, browser_wasm_b1: browser[i].b1, browser_wasm_b64: browser[i].b64},
      speedup_b64: b64[base].medianMs / b64[i].medianMs, browser_speedup_b64: browser[base].b64 / browser[i].b64};
  });
  const file = writeResult('ablation', {backend: 'wasm', runs, date: new Date().toISOString(), args: process.argv.slice(2), rows});
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
