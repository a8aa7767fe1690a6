import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {datasetNames, datasets, datasetTask, DatasetName, loadDataset, loadDetectionDataset} from '../src/data';
import {byName, modelNames, zoo, zooModels} from '../src/models';
import {pruneModel, PruneReport, resolveModel} from '../src/tasks';
import {saveModel, trainModel} from '../src/train';

const root = path.join(__dirname, '..', '..');
const gfp = (...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'gfp.js'), ...args], {encoding: 'utf8', cwd: root});
  return {code: r.status, out: r.stdout, err: r.stderr};
};
const tmp = (name: string) => path.join(fs.mkdtempSync(path.join(os.tmpdir(), `gfp-${name}-`)), 'out');

test('setup: wasm backend in this process', async () => {
  await useBackend('wasm');
});

test('registry: every model name the CLI lists builds through the zoo, with the output of its task', async () => {
  const help = gfp('prune', '--help');
  assert.equal(help.code, 0, help.err);
  const listed = /--model <name\|path>\s+model name \(([^)]*)\)/.exec(help.out.replace(/\s+/g, ' '));
  assert.ok(listed, help.out);
  assert.deepEqual(listed[1].split(', '), modelNames());
  assert.ok(modelNames().includes('fpn-detector'));
  for (const name of modelNames()) {
    const {task, inputShape} = zooModels[name];
    const model = await resolveModel(name, undefined, 3, 1);
    assert.deepEqual(model.inputs[0].shape.slice(1), inputShape, name);
    assert.equal(model.outputs[0].shape.length, {classification: 2, detection: 3}[task], name);
    model.dispose();
  }
  const built = byName('fpn-detector', {inputShape: [64, 64, 1], classes: 2});
  assert.equal(built.outputs[0].shape.length, 3);
  built.dispose();
  await assert.rejects(resolveModel('resnet21', undefined, 3), (e: Error) => modelNames().every((n) => e.message.includes(n)));
});

test('registry: every dataset name loads through it, by its task; an unknown name lists them all', async () => {
  for (const name of Object.keys(datasets) as DatasetName[]) {
    assert.equal(datasetTask(name), datasets[name].task, name);
    if (datasets[name].task === 'detection') {
      const {train, test} = await loadDetectionDataset(name, 2);
      assert.deepEqual([train.size, test.size], [2, 2], name);
      await assert.rejects(loadDataset({dataset: name}), /is a detection set/);
    } else if (name === 'fashion-mnist') {
      const {train, test} = await loadDataset({dataset: name, limit: 5});
      assert.deepEqual([train.size, test.size, train.classes], [5, 5, 10]);
    } else {
      await assert.rejects(loadDataset({dataset: name}), new RegExp(`dataset "${name}" needs --data DIR`));
    }
  }
  assert.equal(datasetTask('train.json,test.json'), 'detection');
  assert.deepEqual(datasetNames('detection'), ['fashion-scenes', 'fashion-scenes-128']);
  await assert.rejects(loadDataset({dataset: 'mnist-ish'}), (e: Error) => Object.keys(datasets).every((n) => e.message.includes(n)));
  await assert.rejects(loadDetectionDataset('fashion-mnist'), /unknown detection dataset "fashion-mnist"; valid: fashion-scenes, fashion-scenes-128/);
  // trainModel reads named sets through the same registry
  await assert.rejects(trainModel({model: 'resnet20', dataset: 'cifar10', epochs: 1, out: tmp('train-cifar')}), /dataset "cifar10" needs --data DIR/);
});

/** A report without what differs between two runs of the same options: the date and the timings. */
function untimed(r: PruneReport): Record<string, unknown> {
  const {date, speedup, baseline, pruned, ...rest} = r;
  assert.ok(date && speedup);
  const {latency: a, ...base} = baseline;
  const {latency: b, ...mine} = pruned;
  assert.equal(a.length, 2);
  assert.equal(b.length, 2);
  return {...rest, baseline: base, pruned: mine};
}

test('pruneModel writes what gfp prune writes: the same report.json (timings aside) and the same pruned model', async () => {
  // a zoo name gets fresh random weights each run: both prune the same saved model
  const start = tmp('prune-start');
  const model = zoo.resnet20({inputShape: [28, 28, 1], classes: 10, seed: 3});
  await saveModel(model, start);
  model.dispose();
  const args = {model: start, limit: 64, targetFlops: 0.9, interval: 2, unitsPerPrune: 6, batchSize: 16, runs: 1};
  const cli = tmp('prune-cli');
  const r = gfp('prune', '--model', start, '--limit', '64', '--target-flops', '0.9', '--interval', '2', '--units-per-prune', '6',
    '--batch-size', '16', '--runs', '1', '--backend', 'wasm', '--out', cli, '--json');
  assert.equal(r.code, 0, r.err);
  const lib = tmp('prune-lib');
  const before = tf.memory().numTensors;
  const report = await pruneModel({...args, out: lib, progress: 'silent'});
  assert.equal(tf.memory().numTensors, before, 'numTensors after pruneModel');
  const read = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as PruneReport;
  assert.deepEqual(read(lib), JSON.parse(JSON.stringify(report)));
  assert.ok(report.rows.length > 0 && report.pruned.macs <= 0.9 * report.baseline.macs);
  assert.deepEqual(untimed(read(lib)), untimed(read(cli)));
  assert.deepEqual(fs.readFileSync(path.join(lib, 'model.json'), 'utf8'), fs.readFileSync(path.join(cli, 'model.json'), 'utf8'));
  assert.ok(fs.readFileSync(path.join(lib, 'weights.bin')).equals(fs.readFileSync(path.join(cli, 'weights.bin'))), 'same pruned weights');
  assert.ok(!fs.existsSync(path.join(lib, 'checkpoint')), 'the checkpoint is removed after a complete run');
});

test('pruneModel frees every tensor and its lock when it throws', async () => {
  const out = tmp('prune-refused');
  const before = tf.memory().numTensors;
  await assert.rejects(pruneModel({model: 'resnet20', limit: 16, targetFlops: 0.001, runs: 1, out, progress: 'silent'}), /target|FLOPs/i);
  await assert.rejects(pruneModel({model: 'resnet20', dataset: 'fashion-scenes', limit: 4, out, progress: 'silent'}), /fashion-scenes" is a detection set; use a detector \(fpn-detector\)/);
  assert.equal(tf.memory().numTensors, before);
});
