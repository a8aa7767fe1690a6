import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {detectionScenes, fashionMnist} from '../src/data';
import {countCosts} from '../src/measure';
import {fpnLevels, zoo} from '../src/models';
import {pruner} from '../src/prune';
import {evaluateDetector, loadModel} from '../src/train';

const root = path.join(__dirname, '..', '..');
const gfp = (...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'gfp.js'), ...args], {encoding: 'utf8', cwd: root});
  return {code: r.status, out: r.stdout, err: r.stderr, json: () => JSON.parse(r.stdout)};
};

test('setup: wasm backend in this process', async () => {
  await useBackend('wasm');
});

test('gfp info names the backend it started', () => {
  const r = gfp('info', '--json');
  assert.equal(r.code, 0, r.err);
  const info = r.json();
  assert.equal(info.backend, 'wasm');
  assert.ok(info.available.includes('cpu'));
});

test('gfp groups: spaces with producers, consumers, channels, unit and why not prunable', () => {
  const r = gfp('groups', '--model', 'mobilenetv2', '--json');
  assert.equal(r.code, 0, r.err);
  const {spaces} = r.json();
  const model = zoo.mobilenetv2({inputShape: [28, 28, 1], classes: 10});
  const dw = model.layers.filter((l) => l.getClassName() === 'DepthwiseConv2D').map((l) => l.name);
  for (const name of dw) assert.ok(spaces.some((s: {producers: string[]; consumers: string[]}) => s.producers.includes(name) && s.consumers.includes(name)), name);
  for (const s of spaces) if (!s.prunable) assert.equal(typeof s.reason, 'string');
  model.dispose();
});

test('gfp groups: an unknown model names the zoo and the path that was expected', () => {
  const r = gfp('groups', '--model', 'resnet21');
  assert.equal(r.code, 1);
  assert.match(r.err, /model "resnet21" is neither a zoo name \(resnet20, .*\) nor an existing model\.json/);
});

test('gfp score equals the library\'s score on the first N*B test samples', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-score-'));
  const model = zoo.resnet20({inputShape: [28, 28, 1], classes: 10, seed: 5});
  await model.save(tf.io.withSaveHandler(async (a) => {
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({modelTopology: a.modelTopology, weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}], format: 'layers-model'}));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  const r = gfp('score', '--model', dir, '--batches', '2', '--batch-size', '8', '--json');
  assert.equal(r.code, 0, r.err);
  const cli = r.json();
  const {test: data} = await fashionMnist({limit: {train: 1, test: 16}});
  const loaded = await loadModel(dir);
  const ref = await pruner(loaded).score(data.batches(8), {steps: 2});
  assert.equal(cli.spaces.length, ref.spaces.length);
  cli.spaces.forEach((s: {fisher: number[]}, i: number) => s.fisher.forEach((v, c) => {
    const e = ref.spaces[i].fisher[c];
    assert.ok(Math.abs(v - e) <= 1e-6 + 1e-3 * Math.abs(e), `space ${i} channel ${c}: ${v} vs ${e}`);
  }));
  model.dispose();
  loaded.dispose();
});

test('gfp measure: MACs and params of the model, latency medians', () => {
  const r = gfp('measure', '--model', 'resnet20', '--batch-size', '1,4', '--runs', '2', '--json');
  assert.equal(r.code, 0, r.err);
  const m = r.json();
  const model = zoo.resnet20({inputShape: [28, 28, 1], classes: 10});
  const ref = countCosts(model);
  assert.equal(m.macs, ref.macs);
  assert.equal(m.params, model.countParams());
  assert.deepEqual(m.latency.map((l: {batchSize: number}) => l.batchSize), [1, 4]);
  for (const l of m.latency) assert.ok(l.medianMs > 0 && l.runs === 2);
  model.dispose();
});

test('gfp prune: writes a smaller model that loads, and report.json with one row per pruning', async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-prune-')), 'pruned');
  const r = gfp('prune', '--model', 'resnet20', '--limit', '128', '--target-flops', '0.9', '--interval', '2', '--units-per-prune', '6',
    '--batch-size', '32', '--runs', '2', '--out', out, '--json');
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.deepEqual(report, r.json());
  assert.ok(report.pruned.macs <= 0.9 * report.baseline.macs);
  assert.equal(report.rows.length % 6, 0);
  assert.ok(report.rows.every((row: {step: number}) => row.step % 2 === 0));
  const small = await loadModel(out);
  assert.equal(countCosts(small).macs, report.pruned.macs);
  small.dispose();
});

test('gfp prune --normalize latency: profiles the layers once at --latency-batch and keeps the profile in report.json', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-latency-')), 'pruned');
  const r = gfp('prune', '--model', 'resnet20', '--limit', '64', '--target-flops', '0.95', '--interval', '1', '--units-per-prune', '4',
    '--batch-size', '32', '--runs', '1', '--normalize', 'latency', '--latency-batch', '4', '--backend', 'wasm', '--out', out, '--json');
  assert.equal(r.code, 0, r.err);
  const {latencyModel, latencyBatch, normalize, pruned, baseline} = r.json();
  assert.equal(normalize, 'latency');
  assert.equal(latencyBatch, 4);
  assert.equal(latencyModel.backend, 'wasm');
  assert.equal(latencyModel.batchSize, 4);
  assert.ok(latencyModel.calls.length > 20 && latencyModel.calls.every((c: {ms: number[]; slope: number}) => c.ms.length === 4 && c.slope >= 0));
  assert.ok(pruned.macs <= 0.95 * baseline.macs);
});

test('gfp prune: an unreachable target is refused before anything is written', () => {
  const out = path.join(os.tmpdir(), `gfp-never-${process.pid}`);
  const r = gfp('prune', '--model', 'resnet20', '--limit', '64', '--target-flops', '0.001', '--runs', '1', '--out', out);
  assert.equal(r.code, 1);
  assert.match(r.err, /targetFlops 0\.001 cannot be reached/);
  assert.equal(fs.existsSync(out), false);
});

test('gfp measure --browser: the same costs as in Node, latency from headless Chromium', () => {
  const r = gfp('measure', '--model', 'resnet20', '--browser', '--batch-size', '1', '--runs', '2', '--json');
  assert.equal(r.code, 0, r.err);
  const m = r.json();
  const model = zoo.resnet20({inputShape: [28, 28, 1], classes: 10});
  assert.equal(m.macs, countCosts(model).macs);
  assert.match(m.browser, /chrom/i);
  assert.equal(m.backend, 'wasm');
  assert.ok(m.latency[0].medianMs > 0);
  model.dispose();
});

// ---- detection ----

test('gfp train + prune on the detector: AP / AP50 in report.json agree with the library on the saved models', async () => {
  await useBackend('wasm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-det-'));
  const trained = path.join(dir, 'trained');
  const t = gfp('train', '--model', 'fpn-detector', '--dataset', 'fashion-scenes', '--limit', '64', '--epochs', '1', '--batch-size', '16', '--out', trained, '--json');
  assert.equal(t.code, 0, t.err);
  const tr = t.json();
  assert.equal(tr.steps, 4, '64 scenes / batch 16, one epoch');
  assert.ok(tr.ap50 >= 0 && tr.ap50 <= 1 && tr.ap <= tr.ap50);
  const pruned = path.join(dir, 'pruned');
  const r = gfp('prune', '--model', trained, '--dataset', 'fashion-scenes', '--limit', '64', '--target-flops', '0.9', '--interval', '2',
    '--units-per-prune', '8', '--batch-size', '16', '--finetune-epochs', '1', '--runs', '1', '--out', pruned, '--json');
  assert.equal(r.code, 0, r.err);
  const report = r.json();
  assert.ok(report.pruned.macs <= 0.9 * report.baseline.macs);
  assert.equal(report.baseline.accuracy, undefined);
  assert.equal(report.apDrop, report.baseline.ap - report.pruned.ap);
  assert.ok(report.rows.length > 0 && report.rows.every((row: {step: number}) => row.step % 2 === 0));
  // reference: the saved models scored here on the same 64 test scenes
  const {test: items} = await fashionMnist({limit: {train: 1, test: 10000}});
  const scenes = detectionScenes(items, {count: 64, seed: 2});
  const levels = fpnLevels([64, 64, 1]);
  for (const [where, figures] of [[trained, tr], [pruned, report.pruned]] as const) {
    const model = await loadModel(where);
    const before = tf.memory().numTensors;
    const ref = await evaluateDetector((x) => model.predict(x) as tf.Tensor3D, scenes, levels);
    assert.equal(tf.memory().numTensors, before);
    assert.ok(Math.abs(ref.ap - figures.ap) < 1e-6 && Math.abs(ref.ap50 - figures.ap50) < 1e-6, `${where}: ${ref.ap50} vs ${figures.ap50}`);
    assert.equal(countCosts(model).macs, figures.macs);
    model.dispose();
  }
});

test('gfp prune: a classifier on a detection set is refused with what to use instead', () => {
  const r = gfp('prune', '--model', 'resnet20', '--dataset', 'fashion-scenes', '--limit', '16', '--out', path.join(os.tmpdir(), `gfp-never-${process.pid}`));
  assert.equal(r.code, 1);
  assert.match(r.err, /dataset "fashion-scenes" is a detection set; use a detector \(fpn-detector\)/);
});
