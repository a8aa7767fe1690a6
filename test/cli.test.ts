import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {PNG} from 'pngjs';
import {cifar10, detectionScenes, fashionMnist, imageFolder, mulberry32} from '../src/data';
import {countCosts} from '../src/measure';
import {fpnLevels, zoo} from '../src/models';
import {pruner} from '../src/prune';
import {evaluateDetector, loadModel, saveModel} from '../src/train';

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

test('gfp prune: writes a smaller model that loads, and report.json with one row per unit', async () => {
  await useBackend('wasm');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-prune-')), 'pruned');
  const r = gfp('prune', '--model', 'resnet20', '--limit', '128', '--target-flops', '0.9', '--interval', '2', '--units-per-prune', '6',
    '--batch-size', '32', '--runs', '2', '--out', out, '--json');
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.deepEqual(report, r.json());
  assert.ok(report.pruned.macs <= 0.9 * report.baseline.macs);
  // 6 units a pruning, the last one cut at the unit that reached the target
  const rows = report.rows as {step: number; macsRatio: number}[];
  const perStep = [...new Set(rows.map((row) => row.step))].map((step) => rows.filter((row) => row.step === step).length);
  assert.ok(perStep.slice(0, -1).every((k) => k === 6) && perStep[perStep.length - 1] <= 6, `units per pruning ${perStep}`);
  assert.ok(rows.slice(0, -1).every((row) => row.macsRatio > 0.9) && rows[rows.length - 1].macsRatio <= 0.9);
  assert.ok(rows.every((row) => row.step % 2 === 0));
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
  assert.ok(latencyModel.calls.length > 20 && latencyModel.calls.every((c: {ms: number[]; slope: number}) => c.ms.length === 8 && c.slope >= 0));
  assert.ok(pruned.macs <= 0.95 * baseline.macs);
});

test('gfp prune: an unreachable target is refused before anything is written', () => {
  const out = path.join(os.tmpdir(), `gfp-never-${process.pid}`);
  const r = gfp('prune', '--model', 'resnet20', '--limit', '64', '--target-flops', '0.001', '--runs', '1', '--out', out);
  assert.equal(r.code, 1);
  assert.match(r.err, /targetFlops 0\.001 cannot be reached/);
  assert.equal(fs.existsSync(out), false);
});

test('gfp measure --browser: the same costs as in Node, latency from headless Chromium, on each --browser-threads count', async () => {
  await useBackend('wasm');
  const r = gfp('measure', '--model', 'resnet20', '--browser', '--browser-threads', '1,2', '--batch-size', '1', '--runs', '2', '--json');
  assert.equal(r.code, 0, r.err);
  const m = r.json();
  const model = zoo.resnet20({inputShape: [28, 28, 1], classes: 10});
  assert.equal(m.macs, countCosts(model).macs);
  assert.match(m.browser, /chrom/i);
  assert.equal(m.backend, 'wasm');
  assert.ok(m.latency[0].medianMs > 0);
  assert.deepEqual(m.measurements.map((x: {threads: number}) => x.threads), [1, 2], 'the page ran the threads asked for');
  model.dispose();
  const bad = gfp('measure', '--model', 'resnet20', '--browser', '--browser-threads', '0');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--browser-threads/);
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

// ---- your own data: image folders, CIFAR-10 binaries, --output ----

/** An image folder DIR/<class>/*.png of `perClass` random side x side RGB images per class (class k brighter in red). */
function imageFolderOnDisk(classes: number, perClass: number, side: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-folder-'));
  const rand = mulberry32(classes * 1000 + perClass);
  for (let k = 0; k < classes; k++) {
    for (let i = 0; i < perClass; i++) {
      const png = new PNG({width: side, height: side});
      for (let p = 0; p < side * side; p++) {
        png.data[4 * p] = Math.min(255, Math.floor(rand() * 128) + 40 * k);
        png.data[4 * p + 1] = Math.floor(rand() * 256);
        png.data[4 * p + 2] = Math.floor(rand() * 256);
        png.data[4 * p + 3] = 255;
      }
      fs.mkdirSync(path.join(dir, `class_${String.fromCharCode(97 + k)}`), {recursive: true});
      fs.writeFileSync(path.join(dir, `class_${String.fromCharCode(97 + k)}`, `${i}.png`), PNG.sync.write(png));
    }
  }
  return dir;
}

/** Fisher of the CLI's JSON equals a library ScoreReport's, space by space. */
function assertSameFisher(cli: {spaces: {fisher: number[]}[]}, ref: {spaces: {fisher: number[]}[]}): void {
  assert.equal(cli.spaces.length, ref.spaces.length);
  cli.spaces.forEach((s, i) => s.fisher.forEach((v, c) => {
    const e = ref.spaces[i].fisher[c];
    assert.ok(Math.abs(v - e) <= 1e-9 + 1e-3 * Math.abs(e), `space ${i} channel ${c}: ${v} vs ${e}`);
  }));
}

test('gfp prune --data DIR: a zoo model built for a 32x32x3 image folder runs to its target; report.json records the preprocessing', async () => {
  const dir = imageFolderOnDisk(3, 12, 32);
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-prune-folder-')), 'pruned');
  const r = gfp('prune', '--model', 'resnet20', '--data', dir, '--target-flops', '0.9', '--interval', '2', '--units-per-prune', '6',
    '--batch-size', '8', '--runs', '1', '--range', '-1,1', '--out', out, '--json');
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.ok(report.pruned.macs <= 0.9 * report.baseline.macs);
  assert.equal(report.dataset, `image-folder:${dir}`);
  assert.deepEqual(report.data.classNames, ['class_a', 'class_b', 'class_c']);
  assert.deepEqual(report.data.size, [32, 32]);
  assert.equal(report.data.channels, 3);
  assert.deepEqual(report.data.range, [-1, 1]);
  assert.equal(report.data.layout, 'split');
  assert.equal(report.data.split, 0.2);
  const small = await loadModel(out);
  assert.deepEqual(small.inputs[0].shape, [null, 32, 32, 3]);
  assert.deepEqual(small.outputs[0].shape, [null, 3]);
  assert.equal(countCosts(small).macs, report.pruned.macs);
  small.dispose();
});

test('gfp prune --data DIR: a 7-class model on 10-class data fails before any training, naming the classes', async () => {
  const dir = imageFolderOnDisk(10, 2, 8);
  const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-m7-'));
  const model = zoo.resnet20({inputShape: [8, 8, 3], classes: 7});
  await saveModel(model, modelDir);
  model.dispose();
  const out = path.join(os.tmpdir(), `gfp-never-7-${process.pid}`);
  const r = gfp('prune', '--model', modelDir, '--data', dir, '--test-split', '0.5', '--out', out);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`outputs 7 classes but image folder ${dir} has 10 \\(class_a, class_b, .*class_j\\)`));
  assert.equal(fs.existsSync(out), false);
  // the images are read at the model's input size unless --image-size says otherwise, then the shape is refused
  const s = gfp('score', '--model', modelDir, '--data', dir, '--image-size', '9,9', '--test-split', '0.5');
  assert.equal(s.code, 1);
  assert.match(s.err, /takes inputs \[8, 8, 3\] but image folder .* has images \[9, 9, 3\]/);
});

test('gfp score --data DIR --json equals the library on imageFolder() with the same options; --output reaches the loss', async () => {
  const dir = imageFolderOnDisk(3, 8, 12);
  const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-softmax-'));
  // a softmax output, as Keras writes classifiers: the default loss reads the values before the softmax
  const input = tf.input({shape: [10, 10, 3]});
  const conv = tf.layers.conv2d({filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({seed: 3})}).apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
  const probs = tf.layers.dense({units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({seed: 4})}).apply(pooled) as tf.SymbolicTensor;
  const built = tf.model({inputs: input, outputs: probs});
  await saveModel(built, modelDir);
  built.dispose();
  const {test: data} = await imageFolder(dir, {size: [10, 10], mean: [0.5, 0.4, 0.3], std: [0.2, 0.3, 0.25], split: 0.5, seed: 2});
  const loaded = await loadModel(modelDir);
  const scores: Record<string, {spaces: {fisher: number[]}[]}> = {};
  for (const output of [undefined, 'logits'] as const) {
    const r = gfp('score', '--model', modelDir, '--data', dir, '--mean', '0.5,0.4,0.3', '--std', '0.2,0.3,0.25', '--test-split', '0.5', '--split-seed', '2',
      '--batches', '2', '--batch-size', '4', '--json', ...(output ? ['--output', output] : []));
    assert.equal(r.code, 0, r.err);
    const cli = r.json();
    assert.deepEqual(cli.data.size, [10, 10], 'read at the model\'s input size');
    assert.deepEqual(cli.data.mean, [0.5, 0.4, 0.3]);
    const before = tf.memory().numTensors;
    const ref = await pruner(loaded, {output}).score(data.take(8).batches(4), {steps: 2});
    assert.equal(tf.memory().numTensors, before);
    assertSameFisher(cli, ref);
    scores[output ?? 'default'] = cli;
  }
  // treating the probabilities as logits is another loss: the flag must have reached it
  assert.notDeepEqual(scores.default.spaces[0].fisher, scores.logits.spaces[0].fisher);
  loaded.dispose();
});

test('gfp score --dataset cifar10 --data-dir DIR (alias of --data) reads CIFAR-10 binaries', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-cifar-'));
  const rand = mulberry32(9);
  const records = (n: number) => Uint8Array.from({length: n * 3073}, (_, i) => (i % 3073 === 0 ? Math.floor(rand() * 10) : Math.floor(rand() * 256)));
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), records(4));
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), records(8));
  const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-c10-'));
  const model = zoo.resnet20({inputShape: [32, 32, 3], classes: 10, seed: 1});
  await saveModel(model, modelDir);
  model.dispose();
  const r = gfp('score', '--model', modelDir, '--dataset', 'cifar10', '--data-dir', dir, '--batches', '2', '--batch-size', '4', '--json');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.json().dataset, 'cifar10');
  const {test: data} = await cifar10({dir});
  const loaded = await loadModel(modelDir);
  assertSameFisher(r.json(), await pruner(loaded).score(data.batches(4), {steps: 2}));
  loaded.dispose();
  const missing = gfp('score', '--model', 'resnet20', '--dataset', 'cifar10');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /dataset "cifar10" needs --data DIR: the folder with data_batch_1\.bin/);
  const unknown = gfp('score', '--model', 'resnet20', '--dataset', 'mnist-ish');
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /unknown dataset "mnist-ish"; valid: fashion-mnist, cifar10 \(with --data DIR\), image-folder .*fashion-scenes, fashion-scenes-128/);
});

test('gfp train --data DIR trains a zoo model on an image folder and records the preprocessing', () => {
  const dir = imageFolderOnDisk(2, 6, 8);
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-train-folder-')), 'trained');
  const r = gfp('train', '--model', 'resnet20', '--data', dir, '--channels', '1', '--test-split', '0.5', '--epochs', '1', '--batch-size', '4', '--out', out, '--json');
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.deepEqual(report, r.json());
  assert.equal(report.dataset, `image-folder:${dir}`);
  assert.equal(report.data.channels, 1);
  assert.deepEqual(report.data.classNames, ['class_a', 'class_b']);
  assert.equal(report.history.length, 1);
  assert.ok(report.testAccuracy >= 0 && report.testAccuracy <= 1);
});

test('gfp measure and gfp groups say in their text which layers have weights but no known cost', async () => {
  const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-unknown-'));
  const input = tf.input({shape: [8, 3]});
  const conv = tf.layers.conv1d({filters: 4, kernelSize: 3}).apply(input) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(conv) as tf.SymbolicTensor;
  const model = tf.model({inputs: input, outputs: tf.layers.dense({units: 2}).apply(flat) as tf.SymbolicTensor});
  await saveModel(model, modelDir);
  const unknown = countCosts(model).layers.filter((l) => l.unknown);
  assert.ok(unknown.length > 0, 'the model needs a layer without a cost rule (Conv1D has none)');
  for (const cmd of [['measure', '--runs', '1', '--batch-size', '1'], ['groups']]) {
    const r = gfp(cmd[0], '--model', modelDir, ...cmd.slice(1));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /warning: no known cost for/);
    for (const l of unknown) assert.ok(r.out.includes(`${l.name} (${l.className}, ${l.params} weights)`), `${cmd[0]} names ${l.name}:\n${r.out}`);
  }
  // a model whose every layer has a cost: no warning
  const r = gfp('measure', '--model', 'resnet20', '--runs', '1', '--batch-size', '1');
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.out, /no known cost/);
  model.dispose();
});

test('gfp demo DIR --out X writes the page from the command line (it starts a backend)', async () => {
  await useBackend('wasm');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-cli-demo-'));
  try {
    const model = zoo.resnet20({inputShape: [28, 28, 1], classes: 10, seed: 1});
    await saveModel(model, path.join(tmp, 'model'));
    model.dispose();
    const r = gfp('demo', path.join(tmp, 'model'), '--out', path.join(tmp, 'site'), '--images', '4');
    assert.equal(r.code, 0, r.err);
    assert.ok(fs.existsSync(path.join(tmp, 'site', 'index.html')), 'index.html written');
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true});
  }
});
