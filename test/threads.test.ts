import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend, wasmThreads} from '../src/backend';
import {simdKernels} from '../src/backend/kernels/simd';
import {kernelThreads} from '../src/backend/kernels/split';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {zoo} from '../src/models';
import {pruner} from '../src/prune';
import {forwardOf, Optimizer, trainStep} from '../src/train';

/** Set in the child processes this file starts: the thread count they run. */
const CHILD = 'GFP_THREADS_CHILD';

/** What a child reports: the threads it ran, losses of each model's steps, its Fisher ranking and predictions. */
interface ChildResult { threads: number; simd: boolean; kernelThreads: number; losses: Record<string, number[]>; ranking: Record<string, string[]>; predict: number[] }

/** Deterministic batch of `n` 16x16x3 images and one-hot labels. */
function batch(n: number, seed: number): {xs: tf.Tensor4D; ys: tf.Tensor2D; labels: Int32Array} {
  const labels = Int32Array.from({length: n}, (_, i) => (i * 7 + seed) % 10);
  const xs = tf.tensor4d(Float32Array.from({length: n * 16 * 16 * 3}, (_, i) => Math.sin(i * 0.37 + seed)), [n, 16, 16, 3]);
  return {xs, ys: tf.oneHot(labels, 10).toFloat() as tf.Tensor2D, labels};
}

/** Three SGD steps, then two Fisher steps and the ranking, of a zoo model; a tfjs-layers trainOnBatch and predict. */
async function child(threads: number): Promise<ChildResult> {
  await useBackend('wasm', {threads});
  const result: ChildResult = {threads: wasmThreads()!, simd: simdKernels(tf.backend() as BackendWasm) != null,
    kernelThreads: kernelThreads(tf.backend() as BackendWasm), losses: {}, ranking: {}, predict: []};
  for (const name of ['resnet20', 'mobilenetv2'] as const) {
    const model = zoo[name]({inputShape: [16, 16, 3], classes: 10, seed: 3});
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = new Optimizer({name: 'sgd', momentum: 0.9});
    result.losses[name] = [];
    for (let s = 0; s < 3; s++) {
      const b = batch(32, s);
      result.losses[name].push((await trainStep({forward: forwardOf(model), variables, optimizer, lr: 0.05}, b)).loss);
      tf.dispose([b.xs, b.ys]);
    }
    const p = pruner(model, {inputShape: [16, 16, 3]});
    await p.score([batch(32, 10), batch(32, 11)]);
    result.ranking[name] = p.normalize('memory').units.map((u) => `${u.space}:${u.unit}`);
    optimizer.dispose();
    model.dispose();
  }
  // the path tfjs users call: compile, trainOnBatch, predict, on a functional tfjs-layers model as Keras writes
  // one: conv, BatchNorm, ReLU6, a strided depthwise conv, a residual add
  const L = tf.layers;
  const input = tf.input({shape: [16, 16, 3]});
  const conv = (filters: number, seed: number) => L.conv2d({filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.heNormal({seed})});
  const stem = L.reLU({maxValue: 6}).apply(L.batchNormalization({}).apply(conv(16, 1).apply(input))) as tf.SymbolicTensor;
  const down = L.batchNormalization({}).apply(L.depthwiseConv2d({kernelSize: 3, strides: 2, padding: 'same', depthwiseInitializer: tf.initializers.heNormal({seed: 2})})
    .apply(stem)) as tf.SymbolicTensor;
  const block = L.add().apply([down, L.batchNormalization({}).apply(conv(16, 4).apply(L.reLU({maxValue: 6}).apply(down))) as tf.SymbolicTensor]);
  const logits = L.dense({units: 10, kernelInitializer: tf.initializers.glorotUniform({seed: 3})}).apply(L.globalAveragePooling2d({}).apply(block));
  const plain = tf.model({inputs: input, outputs: logits as tf.SymbolicTensor});
  plain.compile({optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy'});
  const b = batch(32, 20);
  result.losses.trainOnBatch = [await plain.trainOnBatch(b.xs, b.ys), await plain.trainOnBatch(b.xs, b.ys)] as number[];
  const out = plain.predict(b.xs) as tf.Tensor;
  result.predict = Array.from(await out.data());
  tf.dispose([b.xs, b.ys, out]);
  return result;
}

/** Runs this file as a child process on `threads` threads and returns its report. */
function runChild(threads: number): ChildResult {
  const r = spawnSync(process.execPath, [__filename], {env: {...process.env, [CHILD]: String(threads)}, encoding: 'utf8', timeout: 240_000});
  // a timeout (status null) would mean a worker thread kept Node alive
  assert.equal(r.status, 0, `child on ${threads} thread(s) exited with ${r.status} (${r.signal ?? ''}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

if (process.env[CHILD]) {
  void child(Number(process.env[CHILD])).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
} else {
  test('training, Fisher and tfjs-layers steps give bitwise the same results on 1 and 2 wasm threads, and Node exits', () => {
    const [one, two] = [runChild(1), runChild(2)];
    assert.equal(one.threads, 1);
    assert.equal(two.threads, 2);
    assert.ok(one.simd && two.simd, 'our SIMD kernels run on both builds');
    assert.deepEqual([one.kernelThreads, two.kernelThreads], [1, 2], 'our SIMD kernels split across the threads');
    // bitwise: every sum split across threads is cut into the same parts and added in the same order
    assert.deepEqual(two.losses, one.losses, 'losses of every step');
    for (const name of Object.keys(one.ranking)) assert.deepEqual(two.ranking[name], one.ranking[name], `${name}: Fisher ranking`);
    assert.deepEqual(two.predict, one.predict, 'predictions');
  });

  test('gfp info --json reports the threads wasm runs: --threads N, else all cores', () => {
    const info = (...args: string[]) => {
      const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'gfp.js'), 'info', '--json', '--backend', 'wasm', ...args], {encoding: 'utf8'});
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as {threads: number};
    };
    assert.equal(info('--threads', '1').threads, 1);
    assert.equal(info('--threads', '3').threads, 3);
    assert.equal(info().threads, Math.min(os.availableParallelism(), 8));
  });

  test('useBackend refuses a bad thread count, and another count once wasm runs, leaving tensors as they were', async () => {
    for (const threads of [0, 1.5, 9]) {
      await assert.rejects(useBackend('wasm', {threads}), /threads .*expected an integer from 1 to 8/);
    }
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const running = wasmThreads()!;
    assert.ok(running >= 1);
    await useBackend('wasm', {threads: running}); // the same count is fine
    await assert.rejects(useBackend('wasm', {threads: running === 1 ? 2 : 1}), /already runs \d+ thread\(s\).*new process/);
    assert.equal(tf.memory().numTensors, before);
  });
}
