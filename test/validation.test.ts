import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {main} from '../src/cli/main';
import {ImageDataset} from '../src/data';
import {pruner} from '../src/prune';
import {evaluate, fit, learningRate, NonFiniteLossError, Optimizer, trainStep} from '../src/train';
import {gradsOf} from '../src/train/loop';

const L = tf.layers;

/** conv 'a' (prunable) -> conv 'b' -> flatten -> softmax dense: the input size matters (flatten), 3 classes. */
function flatNet(): tf.LayersModel {
  const x = tf.input({shape: [6, 6, 1]});
  const a = L.conv2d({filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'a', kernelInitializer: tf.initializers.glorotUniform({seed: 1})}).apply(x);
  const b = L.conv2d({filters: 2, kernelSize: 3, name: 'b', kernelInitializer: tf.initializers.glorotUniform({seed: 2})}).apply(a) as tf.SymbolicTensor;
  const y = L.dense({units: 3, activation: 'softmax', name: 'head', kernelInitializer: tf.initializers.glorotUniform({seed: 3})}).apply(L.flatten().apply(b));
  return tf.model({inputs: x, outputs: y as tf.SymbolicTensor, name: 'flat'});
}

/** 8 seeded images [h, w, 1] with labels in 0..classes-1. */
function images(classes: number, size = 6): ImageDataset {
  const pixels = Uint8Array.from({length: 8 * size * size}, (_, i) => (i * 37 + 11) % 256);
  return new ImageDataset({name: `c${classes}s${size}`, images: pixels, labels: Int32Array.from({length: 8}, (_, i) => i % classes), shape: [size, size, 1], classes});
}

const good = images(3);
const badLabels = images(4);
const badShape = images(3, 7);
const weightsOf = (m: tf.LayersModel): number[][] => m.getWeights().map((w) => Array.from(w.dataSync()));

/** Runs `f`, expects it to reject with `message`, and checks that no tensor was left behind. */
async function refusedWithoutLeak(what: string, f: () => Promise<unknown> | unknown, message: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  await assert.rejects(async () => f(), message, what);
  assert.equal(tf.memory().numTensors, before, `${what}: tensors left behind`);
}

test('setup: cpu backend', async () => {
  await tf.setBackend('cpu');
});

test('API options are refused with their name and what is valid, before any work', async () => {
  const model = flatNet();
  const p = pruner(model);
  const before = weightsOf(model);
  const cases: [string, () => unknown, RegExp][] = [
    ['finetune lr NaN', () => p.finetune(good, {steps: 1, batchSize: 4, lr: NaN}), /finetune\(\{lr\}\) must be a finite number >= 0, got NaN/],
    ['finetune lr -1', () => p.finetune(good, {steps: 1, lr: -1}), /finetune\(\{lr\}\) must be a finite number >= 0, got -1/],
    ['finetune batchSize 0', () => p.finetune(good, {steps: 1, batchSize: 0}), /finetune\(\{batchSize\}\) must be a positive integer, got 0/],
    ['finetune steps 0.5', () => p.finetune(good, {steps: 0.5}), /finetune\(\{steps\}\) must be a positive integer, got 0.5/],
    ['finetune epochs -1', () => p.finetune(good, {epochs: -1}), /finetune\(\{epochs\}\) must be an integer >= 0, got -1/],
    ['fit epochs Infinity without steps', () => fit(model, good, {epochs: Infinity}), /fit\(\{epochs: Infinity\}\) needs a step budget/],
    ['fit initialEpoch -1', () => fit(model, good, {initialEpoch: -1}), /fit\(\{initialEpoch\}\) must be an integer >= 0, got -1/],
    ['fit lr schedule NaN', () => fit(model, good, {steps: 1, batchSize: 4, lr: () => NaN}), /fit\(\{lr\}\) at step 0 must be a finite number >= 0, got NaN/],
    ['fit seed NaN', () => fit(model, good, {seed: NaN}), /fit\(\{seed\}\) must be a finite number, got NaN/],
    ['evaluate batchSize 0', () => evaluate(model, good, 0), /evaluate\(batchSize\) must be a positive integer, got 0/],
    ['pruner evaluate batchSize -2', () => p.evaluate(good, -2), /evaluate\(batchSize\) must be a positive integer, got -2/],
    ['score train lr -1', () => p.score(good.batches(4), {train: {lr: -1}}), /score\(\{train: \{lr\}\}\) must be a finite number >= 0, got -1/],
    ['run lr NaN', () => p.run({data: good, targetFlops: 0.9, lr: NaN}), /run\(\{lr\}\) must be a finite number >= 0, got NaN/],
    ['run batchSize 0', () => p.run({data: good, targetFlops: 0.9, batchSize: 0}), /run\(\{batchSize\}\) must be a positive integer, got 0/],
    ['run finetuneEpochs 1.5', () => p.run({data: good, targetFlops: 0.9, finetuneEpochs: 1.5}), /run\(\{finetuneEpochs\}\) must be an integer >= 0, got 1.5/],
    ['run targetFlops 0', () => p.run({data: good, targetFlops: 0}), /targetFlops must be in \(0, 1\], got 0/],
    ['run interval 0', () => p.run({data: good, targetFlops: 0.9, interval: 0}), /run\(\{interval\}\) must be a positive integer, got 0/],
    ['run unitsPerPrune -1', () => p.run({data: good, targetFlops: 0.9, unitsPerPrune: -1}), /run\(\{unitsPerPrune\}\) must be a positive integer, got -1/],
    ['score steps 0', () => p.score(good.batches(4), {steps: 0}), /score\(\{steps\}\) must be a positive integer, got 0/],
    ['prune before score', () => p.prune(), /prune\(\) needs Fisher, and none was accumulated since the pruner was made/],
    ['Optimizer momentum 1', () => new Optimizer({name: 'sgd', momentum: 1}), /Optimizer\(\{momentum\}\) must be a number in \[0, 1\), got 1/],
    ['Optimizer weightDecay -1', () => new Optimizer({name: 'sgd', weightDecay: -1}), /Optimizer\(\{weightDecay\}\) must be a finite number >= 0, got -1/],
    ['Optimizer beta2 NaN', () => new Optimizer({name: 'adam', beta2: NaN}), /Optimizer\(\{beta2\}\) must be a number in \[0, 1\), got NaN/],
    ['Optimizer epsilon 0', () => new Optimizer({name: 'adam', epsilon: 0}), /Optimizer\(\{epsilon\}\) must be a finite number > 0, got 0/],
    ['Optimizer.apply lr NaN', () => new Optimizer({name: 'sgd'}).apply([], [], NaN), /Optimizer\.apply\(lr\) must be a finite number >= 0, got NaN/],
    ['learningRate totalSteps 0', () => learningRate(0, {name: 'cosine', lr: 0.1, totalSteps: 0}), /learningRate\(\{totalSteps\}\) must be a positive integer, got 0/],
    ['learningRate lr Infinity', () => learningRate(0, {name: 'constant', lr: Infinity, totalSteps: 9}), /learningRate\(\{lr\}\) must be a finite number >= 0, got Infinity/],
    ['learningRate step -1', () => learningRate(-1, {name: 'constant', lr: 0.1, totalSteps: 9}), /learningRate\(step\) must be an integer >= 0, got -1/],
  ];
  for (const [what, f, message] of cases) await refusedWithoutLeak(what, f, message);
  assert.deepEqual(weightsOf(model), before, 'no refused call changed a weight');
  p.dispose();
  model.dispose();
});

test('every public step that throws on a bad batch (labels, input shape) leaves no tensor behind and names both shapes', async () => {
  const model = flatNet();
  const p = pruner(model);
  const before = weightsOf(model);
  const ys = /batch ys \[4,4\] does not fit model "flat" output \[null,3\]: expected one-hot targets \[4,3\]/;
  const xs = /batch xs \[4,7,7,1\] does not fit model "flat" input \[null,6,6,1\]/;
  for (const [data, message] of [[badLabels, ys], [badShape, xs]] as const) {
    await refusedWithoutLeak(`score ${data.name}`, () => p.score(data.batches(4), {steps: 1}), message);
    await refusedWithoutLeak(`score+train ${data.name}`, () => p.score(data.batches(4), {steps: 1, train: {lr: 0.1}}), message);
    await refusedWithoutLeak(`finetune ${data.name}`, () => p.finetune(data, {steps: 1, batchSize: 4}), message);
    await refusedWithoutLeak(`run ${data.name}`, () => p.run({data, targetFlops: 0.9, batchSize: 4, interval: 1}), message);
    await refusedWithoutLeak(`fit ${data.name}`, () => fit(model, data, {steps: 1, batchSize: 4}), message);
  }
  await refusedWithoutLeak('evaluate bad shape', () => evaluate(model, badShape, 4), xs);
  await refusedWithoutLeak('pruner evaluate bad shape', () => p.evaluate(badShape, 4), /forward: batch xs \[4,7,7,1\]/);
  await refusedWithoutLeak('pruner evaluate bad labels', () => p.evaluate(badLabels, 4), /outputs \[4,3\], targets \[4,4\]/);
  assert.deepEqual(weightsOf(model), before, 'no failed step changed a weight');
  // the steps still work afterwards, and nothing is left behind by export either
  const n = tf.memory().numTensors;
  await p.score(good.batches(4), {steps: 1});
  assert.equal(p.prune().length, 1);
  p.export().dispose();
  assert.equal(tf.memory().numTensors, n);
  p.dispose();
  model.dispose();
});

test('a loss that throws mid-backprop leaves nothing on the gradient tape (trainStep, a custom pruner loss, gradsOf)', async () => {
  const model = flatNet();
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new Optimizer({name: 'sgd'});
  const batch = tf.tidy(() => ({xs: tf.randomUniform([4, 6, 6, 1], 0, 1, 'float32', 1) as tf.Tensor4D, ys: tf.oneHot([0, 1, 2, 3], 4) as tf.Tensor2D, labels: Int32Array.from([0, 1, 2, 3])}));
  // trainStep does not check shapes up front: its loss throws after the whole forward ran with the tape on
  await refusedWithoutLeak('trainStep', () => trainStep({forward: (x, t) => model.apply(x, {training: t}) as tf.Tensor2D, variables, optimizer, lr: 0.1}, batch),
    /outputs \[4,3\], targets \[4,4\]/);
  const p = pruner(model, {loss: () => { throw new Error('custom loss failed'); }});
  await refusedWithoutLeak('score with a failing custom loss', () => p.score([{xs: batch.xs.clone()}]), /custom loss failed/);
  await refusedWithoutLeak('gradsOf', () => gradsOf(() => {
    (model.apply(batch.xs) as tf.Tensor).sum();
    throw new Error('failed after the forward');
  }, variables), /failed after the forward/);
  const r = gradsOf(() => (model.apply(batch.xs) as tf.Tensor).sum() as tf.Scalar, variables);
  assert.equal(Object.keys(r.grads).length, variables.length, 'a loss that does not throw gets every gradient');
  tf.dispose([r.value, ...Object.values(r.grads), batch.xs, batch.ys]);
  optimizer.dispose();
  p.dispose();
  model.dispose();
});

/** Put NaN into the first value of a layer's kernel. */
function poison(model: tf.LayersModel, layer: string): void {
  const [kernel, ...rest] = model.getLayer(layer).getWeights();
  const values = kernel.dataSync().slice();
  values[0] = NaN;
  const poisoned = tf.tensor(values, kernel.shape);
  model.getLayer(layer).setWeights([poisoned, ...rest]);
  poisoned.dispose();
}

test('non-finite weights before training are named by layer and not blamed on the inputs or the learning rate', async () => {
  const model = flatNet();
  poison(model, 'b');
  const p = pruner(model);
  const before = /weights of layer "b" \(b\/kernel: 1 of 72 values\) are NaN or infinite before training: the model was built or loaded with them/;
  for (const [what, f] of [
    ['finetune', () => p.finetune(good, {steps: 1, batchSize: 4})],
    ['fit', () => fit(model, good, {steps: 1, batchSize: 4})],
    ['score', () => p.score(good.batches(4), {steps: 1})],
    ['run', () => p.run({data: good, targetFlops: 0.9, batchSize: 4, interval: 1})],
  ] as [string, () => Promise<unknown>][]) {
    const n = tf.memory().numTensors;
    await assert.rejects(f, (e: Error) => {
      assert.match(e.message, new RegExp(`^${what}: ${before.source}`));
      assert.doesNotMatch(e.message, /learning rate|inputs/);
      return true;
    });
    assert.equal(tf.memory().numTensors, n, what);
  }
  p.dispose();
  model.dispose();
});

test('weights made non-finite by training are caught after the phase, or at the next step, naming the layer', async () => {
  // lr 1e300 is finite in JavaScript but infinite in float32: the first update makes weights infinite or NaN
  const huge = 1e300;
  const model = flatNet();
  const saved = model.getWeights().map((w) => w.clone());
  const p = pruner(model);
  const reset = () => model.setWeights(saved);
  await assert.rejects(p.finetune(good, {steps: 1, batchSize: 4, lr: huge}), /^Error: finetune: weights of layers? "\w+" \(.*\) became NaN or infinite during training: lower the learning rate/);
  reset();
  await assert.rejects(fit(model, good, {epochs: 1, batchSize: 8, lr: huge}), /^Error: fit, epoch 1: weights of layers? "\w+" .* became NaN or infinite during training/);
  reset();
  await assert.rejects(fit(model, good, {steps: 2, batchSize: 4, lr: huge}), (e: unknown) => e instanceof NonFiniteLossError &&
    /loss is NaN at epoch 1, step 2; training stopped before applying this step: weights of layers? "\w+" \(.*\) were already NaN or infinite before this step/.test(e.message));
  reset();
  await assert.rejects(p.score(good.batches(4), {steps: 1, train: {lr: huge}}), /^Error: score\(\{train\}\): weights of layers? "\w+" .* became NaN or infinite during training/);
  reset();
  await assert.rejects(p.run({data: good, targetFlops: 0.9, batchSize: 4, interval: 5, lr: huge}),
    /^Error: run: loss is NaN after \d+ Fisher steps; the masks and the weights are unchanged by this step: weights of layers? "\w+" .* were already NaN or infinite before this step/);
  reset();
  // finite weights and a NaN input: the message points at the batch, not at the weights or the learning rate
  p.dispose();
  const q = pruner(model);
  const nan = {xs: tf.fill([2, 6, 6, 1], NaN) as tf.Tensor4D, ys: tf.oneHot([0, 1], 3) as tf.Tensor2D};
  await assert.rejects(q.score([nan]), (e: Error) => /^score: loss is NaN after 0 Fisher steps.*: the weights are finite: check the batch inputs for NaN/.test(e.message) && !/learning rate/.test(e.message));
  tf.dispose(saved);
  q.dispose();
  model.dispose();
});

test('CLI: every numeric option of every command is refused at parse time, naming the flag and what is valid', async () => {
  // a value that got through would fail later on the model "nope" (or the demo folder) with another message
  const cmd: Record<string, string[]> = {
    train: ['train', '--model', 'nope', '--out', 'no-such-dir'],
    prune: ['prune', '--model', 'nope', '--out', 'no-such-dir'],
    score: ['score', '--model', 'nope'],
    measure: ['measure', '--model', 'nope'],
    groups: ['groups', '--model', 'nope'],
    demo: ['demo', 'no-such-dir'],
  };
  const cases: [string, string, string[], string][] = [
    ['train', '--epochs', ['0', '-1', '1.5', 'x'], 'a positive integer'],
    ['train', '--batch-size', ['0', '-8'], 'a positive integer'],
    ['train', '--lr', ['-1', '0', 'NaN', 'Infinity', 'abc', ''], 'a finite number > 0'],
    ['train', '--weight-decay', ['-1', 'NaN', 'Infinity'], 'a finite number >= 0'],
    ['train', '--seed', ['1.5', 'x'], 'an integer'],
    ['train', '--limit', ['0', '-3'], 'a positive integer'],
    ['train', '--test-split', ['0', '1', '-0.2', 'NaN'], 'a number in \\(0, 1\\)'],
    ['train', '--split-seed', ['0.5'], 'an integer'],
    ['train', '--image-size', ['0,32', '32'], 'two positive integers|2 numbers'],
    ['train', '--mean', ['0.5,x,0.5'], 'a finite number'],
    ['train', '--std', ['0.2,0,0.2', '-1'], 'a finite number > 0'],
    ['prune', '--target-flops', ['0', '1.5', '-0.5', 'NaN'], 'a number in \\(0, 1\\]'],
    ['prune', '--interval', ['0', '-1'], 'a positive integer'],
    ['prune', '--units-per-prune', ['0', '-1', '2.5'], 'a positive integer'],
    ['prune', '--round-to', ['0', '-4', '2.5'], 'a positive integer'],
    ['prune', '--finetune-epochs', ['-1', '0.5', 'Infinity'], 'an integer >= 0'],
    ['prune', '--lr', ['-1', '0', 'NaN'], 'a finite number > 0'],
    ['prune', '--batch-size', ['0'], 'a positive integer'],
    ['prune', '--latency-batch', ['0'], 'a positive integer'],
    ['prune', '--runs', ['0'], 'a positive integer'],
    ['prune', '--limit', ['-1'], 'a positive integer'],
    ['prune', '--seed', ['NaN'], 'an integer'],
    ['prune', '--classes', ['0'], 'a positive integer'],
    ['score', '--batches', ['0', '-2'], 'a positive integer'],
    ['score', '--batch-size', ['0'], 'a positive integer'],
    ['measure', '--batch-size', ['1,0', '1,,64', '-1'], 'a positive integer'],
    ['measure', '--runs', ['0'], 'a positive integer'],
    ['groups', '--classes', ['-1'], 'a positive integer'],
    ['groups', '--input-shape', ['28,28', '0,28,1'], 'three positive integers'],
    ['demo', '--port', ['0', '70000', '-1', '80.5'], 'an integer in 1\\.\\.65535'],
    ['demo', '--images', ['0'], 'a positive integer'],
  ];
  for (const [command, flag, values, valid] of cases) {
    for (const v of values) {
      await assert.rejects(main(['node', 'gfp', ...cmd[command], `${flag}=${v}`]), (e: Error) => {
        assert.match(e.message, new RegExp(`^${flag} "${v.replace(/[.]/g, '\\.')}": expected (.*, each )?(${valid})`), `gfp ${command} ${flag} ${v}`);
        return true;
      });
    }
  }
});
