import * as tf from '@tensorflow/tfjs';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { useBackend } from '../src/backend';
import { trainDetectorModel, TrainDetectorModelOptions } from '../src/tasks';

const dirs: string[] = [];
const tmpDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gfp-det-train-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

const checkpointState = async (dir: string) => JSON.parse(await fs.readFile(path.join(dir, 'checkpoint.json'), 'utf8')).state;

test('detector training checkpoints every epoch; 1 epoch + resume equals 2 epochs uninterrupted, bit for bit', async () => {
  await useBackend('wasm');
  const n0 = tf.memory().numTensors;
  const base: TrainDetectorModelOptions = { model: 'fpn-detector', dataset: 'fashion-scenes', limit: 32, epochs: 2, batchSize: 16, seed: 1, out: '', json: true }; // seed 0 leaves the first conv unseeded (tfjs reads seed 0 as none)
  const whole = await tmpDir();
  const epochsSeen: number[] = [];
  const full = await trainDetectorModel({ ...base, out: whole, onEpoch: (e) => epochsSeen.push(e) });
  assert.deepEqual(epochsSeen, [1, 2]);
  assert.equal(full.steps, 4, '32 scenes / batch 16, two epochs');
  assert.equal((await checkpointState(whole)).epoch, 2);
  // stopped after epoch 1 (its checkpoint written), then resumed
  const parts = await tmpDir();
  const stop = new AbortController();
  const half = await trainDetectorModel({ ...base, out: parts, signal: stop.signal, onEpoch: () => stop.abort() });
  assert.equal(half.steps, 2);
  assert.deepEqual(await checkpointState(parts), { ...(await checkpointState(parts)), epoch: 1, step: 2 });
  await assert.rejects(trainDetectorModel({ ...base, out: parts, resume: true, batchSize: 8 }), /cannot resume from .*batchSize is 8 here but 16 in the checkpoint/);
  const resumed = await trainDetectorModel({ ...base, out: parts, resume: true });
  assert.equal(resumed.steps, 4);
  assert.equal(resumed.loss, full.loss);
  assert.deepEqual([resumed.ap, resumed.ap50], [full.ap, full.ap50]);
  const [a, b] = await Promise.all([whole, parts].map((d) => fs.readFile(path.join(d, 'weights.bin'))));
  assert.ok(a.equals(b), 'the weights (BatchNorm statistics included) are identical');
  assert.equal(tf.memory().numTensors, n0);
});

test('gfp train --model fpn-detector --resume goes on from the checkpoint with more epochs', async () => {
  const out = path.join(await tmpDir(), 'det');
  const root = path.join(__dirname, '..', '..');
  const gfp = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'gfp.js'), 'train', '--model', 'fpn-detector', '--dataset', 'fashion-scenes',
    '--limit', '32', '--batch-size', '16', '--seed', '1', '--backend', 'wasm', '--out', out, '--json', ...args], { encoding: 'utf8', cwd: root });
  const first = gfp('--epochs', '1');
  assert.equal(first.status, 0, first.stderr);
  assert.equal((await checkpointState(out)).epoch, 1);
  const more = gfp('--epochs', '2', '--resume');
  assert.equal(more.status, 0, more.stderr);
  assert.equal(JSON.parse(more.stdout).steps, 4);
  assert.equal((await checkpointState(out)).epoch, 2);
  assert.deepEqual((await fs.readdir(out)).sort(), ['checkpoint.json', 'ckpt-2', 'model.json', 'report.json', 'weights.bin']);
});
