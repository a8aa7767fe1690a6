// Detection with an FPN (issue 6): train the fpn-detector on the Fashion-MNIST scenes (or load it), prune it to
// half the FLOPs with memory and with flops normalization (same seed, schedule and fine-tuning budget, with
// pruneModel as `gfp prune` does, resumable), then time the three models interleaved in ONE process on wasm and write
// bench/results/detection.json with rows {variant, ap, ap50, macs, memory, latency_ms}.
// --extra-epochs N then trains the baseline and both pruned models N more epochs alike (trainDetectorModel as gfp train, --extra-lr,
// default the pruning lr) into DIR+Nep and adds their AP as `extra` to the rows: the same budget for all three.
// Every model is evaluated here on the same test scenes; ap50_drop (pruned - baseline) comes with the standard
// error of a paired bootstrap over those scenes (ap50_drop_se), so that a drop can be told from noise.
// Usage: node dist/bench/detection.js [--baseline DIR] [--train-epochs 24] [--target-flops 0.5] [--interval 10]
//   [--units-per-prune 2] [--finetune-epochs 3] [--lr 1e-3] [--extra-epochs 0] [--extra-lr LR] [--limit N] [--runs 10]
//   [--batch 64] [--dataset fashion-scenes] [--work runs/detection/bench] [--name detection (the result file: bench/results/NAME.json)]
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {loadDetectionDataset} from '../src/data';
import {apDifference, averagePrecision, compareLatency, countCosts, ImageDetections} from '../src/measure';
import {fpnLevels} from '../src/models';
import {pruneModel, trainDetectorModel} from '../src/tasks';
import {detect, loadModel} from '../src/train';
import {continuing, writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const root = path.join(__dirname, '..', '..');
const step = async (what: string, run: () => Promise<unknown>): Promise<void> => {
  process.stderr.write(`[detection] ${what}\n`);
  await run();
};

/** Pruned variants: the normalizer each one uses. */
const variants = {memory: 'memory', flops: 'flops'} as const;
type Variant = keyof typeof variants;

async function main(): Promise<void> {
  const work = path.resolve(arg('work', path.join(root, 'runs', 'detection', 'bench')));
  const limit = arg('limit', '');
  const dataset = arg('dataset', 'fashion-scenes');
  const common = {dataset, batchSize: 32, seed: 0, ...(limit ? {limit: Number(limit)} : {})};
  await useBackend('wasm');
  const baseline = path.resolve(arg('baseline', path.join(work, 'baseline')));
  if (!fs.existsSync(path.join(baseline, 'model.json'))) {
    await step('baseline training', () => trainDetectorModel({model: 'fpn-detector', epochs: Number(arg('train-epochs', '24')), ...common, out: baseline, ...continuing(baseline), json: true}));
  }
  for (const [variant, normalize] of Object.entries(variants)) {
    const out = path.join(work, variant);
    if (fs.existsSync(path.join(out, 'report.json'))) continue;
    await step(`pruning (${variant})`, () => pruneModel({model: baseline, normalize, targetFlops: Number(arg('target-flops', '0.5')), interval: Number(arg('interval', '10')),
      unitsPerPrune: Number(arg('units-per-prune', '2')), finetuneEpochs: Number(arg('finetune-epochs', '3')), lr: Number(arg('lr', '1e-3')), runs: 3,
      ...common, out, ...continuing(out, path.join(out, 'checkpoint')), progress: 'lines'}));
  }

  const extraEpochs = Number(arg('extra-epochs', '0'));
  const extraDir = (dir: string): string => `${dir}+${extraEpochs}ep`;
  for (const dir of extraEpochs > 0 ? [baseline, ...Object.keys(variants).map((v) => path.join(work, v))] : []) {
    if (fs.existsSync(path.join(extraDir(dir), 'report.json'))) continue;
    await step(`${extraEpochs} more epochs (${path.basename(dir)})`, () => trainDetectorModel({model: dir, epochs: extraEpochs, lr: Number(arg('extra-lr', arg('lr', '1e-3'))),
      ...common, out: extraDir(dir), ...continuing(extraDir(dir)), json: true}));
  }

  const reports = Object.fromEntries(Object.keys(variants).map((v) => [v, JSON.parse(fs.readFileSync(path.join(work, v, 'report.json'), 'utf8'))])) as Record<Variant, {
    steps: number; interval: number; unitsPerPrune: number; finetuneEpochs: number; lr: number}>;
  const entries = [{variant: 'baseline', dir: baseline}, ...Object.keys(variants).map((v) => ({variant: v, dir: path.join(work, v)}))];
  const {test} = await loadDetectionDataset(dataset, limit ? Number(limit) : undefined);
  const truth = test.boxes.map((boxes, i) => ({boxes, labels: test.labels[i]}));
  const levels = fpnLevels(test.shape);
  const nets: tf.LayersModel[] = [];
  for (const e of entries) nets.push(await loadModel(e.dir));
  /** The model's detections on the test scenes, its AP, AP50 and AP50 drop against `ref` (with its bootstrap SE). */
  const quality = async (model: tf.LayersModel, ref?: ImageDetections[]) => {
    const dets = await detect((x) => model.predict(x) as tf.Tensor3D, test.batches(64), levels);
    const {ap, ap50} = averagePrecision(dets, truth, {classes: test.classes});
    const d = ref ? apDifference(ref, dets, truth, {classes: test.classes}) : null;
    return {dets, q: {ap, ap50, ...(d ? {ap50_drop: d.diff, ap50_drop_se: d.se} : {})}};
  };
  const measured = [await quality(nets[0])];
  for (const net of nets.slice(1)) measured.push(await quality(net, measured[0].dets));
  const extras: typeof measured = [];
  for (const e of extraEpochs > 0 ? entries : []) {
    const model = await loadModel(extraDir(e.dir));
    extras.push(await quality(model, extras[0]?.dets));
    model.dispose();
  }

  const runs = Number(arg('runs', '10'));
  const batch = Number(arg('batch', '64'));
  const [b1, bn] = [await compareLatency(nets, 1, {runs, warmup: 2}), await compareLatency(nets, batch, {runs, warmup: 2})];
  const rows = entries.map((e, i) => {
    const {macs, memory, params} = countCosts(nets[i]);
    const r = reports[e.variant as Variant];
    const extraLr = () => (JSON.parse(fs.readFileSync(path.join(extraDir(e.dir), 'report.json'), 'utf8')) as {lr: number}).lr;
    return {variant: e.variant, ...measured[i].q, macs, memory, latency_ms: bn[i].medianMs, params, latency_ms_b1: b1[i].medianMs,
      ...(extras[i] ? {extra: {epochs: extraEpochs, lr: extraLr(), ...extras[i].q}} : {}),
      speedup: bn[0].medianMs / bn[i].medianMs, speedup_b1: b1[0].medianMs / b1[i].medianMs,
      ...(r ? {steps: r.steps, interval: r.interval, unitsPerPrune: r.unitsPerPrune, finetuneEpochs: r.finetuneEpochs, lr: r.lr} : {})};
  });
  const trainReport = path.join(baseline, 'report.json');
  const file = writeResult(arg('name', 'detection'), {backend: 'wasm', latencyBatch: batch, runs, testScenes: test.size, date: new Date().toISOString(), args: process.argv.slice(2),
    baselineTraining: fs.existsSync(trainReport) ? JSON.parse(fs.readFileSync(trainReport, 'utf8')) : null, rows});
  const drop = (q: {ap50_drop?: number; ap50_drop_se?: number}): string =>
    (q.ap50_drop === undefined ? '' : ` (${(100 * q.ap50_drop).toFixed(1)} +- ${(100 * q.ap50_drop_se!).toFixed(1)})`);
  for (const r of rows) {
    process.stderr.write(`${r.variant.padEnd(9)} AP ${(100 * r.ap).toFixed(1)}  AP50 ${(100 * r.ap50).toFixed(1)}${drop(r)}  MACs ${(r.macs / 1e6).toFixed(2)}M  ` +
      `mem ${r.memory}  b1 ${r.latency_ms_b1.toFixed(2)} ms  b${batch} ${r.latency_ms.toFixed(1)} ms  ${r.speedup.toFixed(2)}x` +
      `${r.extra ? `  +${r.extra.epochs} epochs: AP50 ${(100 * r.extra.ap50).toFixed(1)}${drop(r.extra)}` : ''}\n`);
  }
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
