import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {ImageDataset} from '../src/data';
import {pruner} from '../src/prune';
import {evaluate, fit, outputRule, trainModel} from '../src/train';

const L = tf.layers;

type Head = 'dense' | 'softmax' | 'activation' | 'sigmoid';
/** The activation of the hand reference: what the loss is of the head's linear values z [1, K]. */
type Loss = (z: tf.Tensor2D, label: number) => tf.Scalar;

/** x [5,5,2] -> conv a (4, relu) -> conv b (3) -> GAP -> Dense(classes) with the given head; seeded, wide logits. */
function net(head: Head, classes = 3): tf.LayersModel {
  const init = (seed: number) => tf.initializers.randomNormal({mean: 0, stddev: 1, seed});
  const x = tf.input({shape: [5, 5, 2]});
  const a = L.conv2d({filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'a', kernelInitializer: init(1), biasInitializer: init(2)}).apply(x);
  const b = L.conv2d({filters: 3, kernelSize: 1, name: 'b', kernelInitializer: init(3), biasInitializer: init(4)}).apply(a);
  const g = L.globalAveragePooling2d({}).apply(b);
  const activation = head === 'dense' ? 'softmax' : head === 'sigmoid' ? 'sigmoid' : 'linear';
  let y = L.dense({units: classes, activation, name: 'head', kernelInitializer: init(5), biasInitializer: init(6)}).apply(g) as tf.SymbolicTensor;
  if (head === 'softmax') y = L.softmax({name: 'probs'}).apply(y) as tf.SymbolicTensor;
  if (head === 'activation') y = L.activation({activation: 'softmax', name: 'probs'}).apply(y) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: y, name: `net_${head}`});
}

/** The true losses of one sample, from the head's linear values z [1, K]. */
const trueCrossEntropy: Loss = (z, label) => tf.neg(tf.log(tf.softmax(z).gather([label], 1))).reshape([]) as tf.Scalar;
/** What the library computed before the output rule: softmax cross-entropy of the probabilities (a second softmax). */
const doubleSoftmax: Loss = (z, label) => tf.neg(tf.logSoftmax(tf.softmax(z)).gather([label], 1)).reshape([]) as tf.Scalar;
/** Binary cross-entropy of sigmoid outputs against the one-hot label, mean over the K outputs. */
const trueBinary: Loss = (z, label) => tf.tidy(() => {
  const s = tf.sigmoid(z);
  const y = tf.oneHot(tf.tensor1d([label], 'int32'), z.shape[1]);
  return tf.neg(tf.mean(y.mul(s.log()).add(tf.sub(1, y).mul(tf.sub(1, s).log())))) as tf.Scalar;
});

/**
 * Fisher of spaces a (read by b) and b (read by the head, through GAP), per sample by hand: g[n,c] = d(l_n / B)/dm[c]
 * for masks on b's input and on the head's input, squared and summed over samples (docs/method.md §2).
 */
function handFisher(model: tf.LayersModel, xs: tf.Tensor4D, labels: Int32Array, loss: Loss): {a: number[]; b: number[]} {
  const [wa, ba, wb, bb, wh, bh] = model.getWeights();
  const B = labels.length;
  const sums = {a: new Array<number>(4).fill(0), b: new Array<number>(3).fill(0)};
  for (let n = 0; n < B; n++) {
    const [ga, gb] = tf.tidy(() => {
      const x = xs.slice([n, 0, 0, 0], [1, 5, 5, 2]);
      const f = (ma: tf.Tensor, mb: tf.Tensor): tf.Scalar => {
        const a = tf.relu(tf.conv2d(x, wa as tf.Tensor4D, 1, 'same').add(ba));
        const b = tf.conv2d(a.mul(ma) as tf.Tensor4D, wb as tf.Tensor4D, 1, 'same').add(bb);
        const z = b.mean([1, 2]).mul(mb).matMul(wh as tf.Tensor2D).add(bh) as tf.Tensor2D;
        return loss(z, labels[n]).div(B) as tf.Scalar;
      };
      return tf.grads(f)([tf.ones([4]), tf.ones([3])]).map((g) => Array.from(g.dataSync()));
    });
    ga.forEach((v, c) => { sums.a[c] += v * v; });
    gb.forEach((v, c) => { sums.b[c] += v * v; });
  }
  return sums;
}

/** max |a - b| / max |b|. */
const relErr = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / Math.max(...b.map(Math.abs));

function batchOf(seed: number, n = 6, classes = 3): {xs: tf.Tensor4D; ys: tf.Tensor2D; labels: Int32Array} {
  const labels = Int32Array.from({length: n}, (_, i) => (i * 2 + seed) % classes);
  return tf.tidy(() => ({xs: tf.randomUniform([n, 5, 5, 2], 0, 1, 'float32', seed) as tf.Tensor4D, ys: tf.oneHot(tf.tensor1d(labels, 'int32'), classes) as tf.Tensor2D, labels}));
}

/** Fisher that pruner.score() gives for spaces a and b on one batch. */
async function scored(model: tf.LayersModel, batch: {xs: tf.Tensor4D; ys: tf.Tensor2D; labels: Int32Array}, output?: 'logits' | 'probabilities') {
  const p = pruner(model, {output});
  const before = tf.memory().numTensors;
  const r = await p.score([{xs: batch.xs.clone(), ys: batch.ys.clone(), labels: batch.labels}]);
  assert.equal(tf.memory().numTensors, before, 'score leaves no tensor behind');
  const of = (layer: string) => r.spaces.find((s) => s.producers.includes(layer))!.fisher;
  p.dispose();
  return {a: of('a'), b: of('b')};
}

/** A tiny image set [5, 5, 2] with seeded pixels. */
function tinySet(n: number, classes: number, seed: number): ImageDataset {
  let s = seed;
  const images = Uint8Array.from({length: n * 50}, () => ((s = (s * 16807) % 2147483647) % 256));
  const labels = Int32Array.from({length: n}, (_, i) => i % classes);
  return new ImageDataset({name: 'tiny', images, labels, shape: [5, 5, 2], classes});
}

/** The true mean loss and accuracy of a model on a dataset, from its own outputs (inference mode). */
function trueLoss(model: tf.LayersModel, data: ImageDataset, kind: 'softmax' | 'sigmoid'): {loss: number; accuracy: number} {
  const [batch] = data.batches(data.size);
  const r = tf.tidy(() => {
    const p = model.predict(batch.xs) as tf.Tensor2D;
    if (kind === 'softmax') {
      const picked = tf.sum(p.mul(batch.ys), 1);
      return [tf.neg(tf.mean(tf.log(picked))), tf.argMax(p, 1)];
    }
    const y = batch.ys.slice([0, 1], [-1, 1]);
    return [tf.neg(tf.mean(y.mul(p.log()).add(tf.sub(1, y).mul(tf.sub(1, p).log())))), tf.greater(p.reshape([-1]), 0.5).toInt()];
  });
  const loss = r[0].dataSync()[0];
  const predicted = r[1].dataSync();
  tf.dispose([...r, batch.xs, batch.ys]);
  return {loss, accuracy: batch.labels.reduce((k, l, i) => k + (predicted[i] === l ? 1 : 0), 0) / data.size};
}

test('setup: cpu backend', async () => {
  await tf.setBackend('cpu');
});

test('output rule: found from the last layer, or stated by the output option', () => {
  const rules = (['dense', 'softmax', 'activation', 'sigmoid'] as Head[]).map((h) => outputRule(net(h)));
  assert.deepEqual(rules, [
    {loss: 'softmax', from: 'logits', head: 'head'},
    {loss: 'softmax', from: 'logits', head: 'probs'},
    {loss: 'softmax', from: 'logits', head: 'probs'},
    {loss: 'sigmoid', from: 'logits', head: 'head'},
  ]);
  // a linear output is logits; a softmax behind a Reshape has no pre-softmax value among the outputs
  const x = tf.input({shape: [4]});
  assert.deepEqual(outputRule(tf.model({inputs: x, outputs: L.dense({units: 3}).apply(x) as tf.SymbolicTensor})), {loss: 'softmax', from: 'logits'});
  const reshaped = L.reshape({targetShape: [3]}).apply(L.dense({units: 3, activation: 'softmax'}).apply(x)) as tf.SymbolicTensor;
  assert.deepEqual(outputRule(tf.model({inputs: x, outputs: reshaped})), {loss: 'softmax', from: 'probabilities'});
  assert.deepEqual(outputRule(net('dense'), 'logits'), {loss: 'softmax', from: 'logits'});
  assert.deepEqual(outputRule(net('sigmoid'), 'probabilities'), {loss: 'softmax', from: 'probabilities'});
  assert.throws(() => outputRule(net('dense'), 'softmax' as 'logits'), /unknown output "softmax": use one of 'logits', 'probabilities'/);
  assert.throws(() => pruner(net('dense'), {output: 'probs' as 'logits'}), /unknown output "probs"/);
});

for (const head of ['dense', 'softmax', 'activation'] as Head[]) {
  test(`Fisher of a ${head === 'dense' ? 'Dense(softmax)' : head === 'softmax' ? 'Softmax-layer' : "Activation('softmax')"} output equals a per-sample hand computation of -log p[label]`, async () => {
    const model = net(head);
    const batch = batchOf(1);
    const expected = handFisher(model, batch.xs, batch.labels, trueCrossEntropy);
    const got = await scored(model, batch);
    assert.ok(relErr(got.a, expected.a) < 1e-4, `space a: ${got.a} vs ${expected.a}`);
    assert.ok(relErr(got.b, expected.b) < 1e-4, `space b: ${got.b} vs ${expected.b}`);
    // the old loss (softmax applied to the probabilities) gives other numbers: this test can fail
    const old = handFisher(model, batch.xs, batch.labels, doubleSoftmax);
    assert.ok(relErr(old.a, expected.a) > 0.2 && relErr(old.b, expected.b) > 0.2, `old ${old.a} vs ${expected.a}`);
    // output: 'logits' states that the outputs are logits: the old loss, as asked
    const asLogits = await scored(model, batch, 'logits');
    assert.ok(relErr(asLogits.a, old.a) < 1e-4 && relErr(asLogits.b, old.b) < 1e-4);
    tf.dispose([batch.xs, batch.ys]);
    model.dispose();
  });
}

test("output: 'probabilities' where no pre-softmax value is reachable: a clipped log of the probabilities, same Fisher", async () => {
  const inner = net('dense');
  const model = tf.model({inputs: inner.inputs, outputs: L.reshape({targetShape: [3]}).apply(inner.outputs[0]) as tf.SymbolicTensor});
  const batch = batchOf(2);
  const expected = handFisher(inner, batch.xs, batch.labels, trueCrossEntropy);
  for (const output of [undefined, 'probabilities'] as const) {
    const got = await scored(model, batch, output);
    assert.ok(relErr(got.a, expected.a) < 1e-3 && relErr(got.b, expected.b) < 1e-3, `${output}: ${got.b} vs ${expected.b}`);
  }
  tf.dispose([batch.xs, batch.ys]);
  inner.dispose();
});

test('Fisher of a sigmoid output equals a per-sample hand computation of the binary cross-entropy', async () => {
  const model = net('sigmoid');
  const batch = batchOf(3);
  const expected = handFisher(model, batch.xs, batch.labels, trueBinary);
  const got = await scored(model, batch);
  assert.ok(relErr(got.a, expected.a) < 1e-4 && relErr(got.b, expected.b) < 1e-4, `${got.b} vs ${expected.b}`);
  const softmaxOfSigmoid = handFisher(model, batch.xs, batch.labels, (z, l) => tf.neg(tf.logSoftmax(tf.sigmoid(z)).gather([l], 1)).reshape([]) as tf.Scalar);
  assert.ok(relErr(softmaxOfSigmoid.b, expected.b) > 0.2);
  tf.dispose([batch.xs, batch.ys]);
  model.dispose();
});

test('a Keras-converted Sequential model.json ending in Dense(softmax): Fisher of the true cross-entropy', async () => {
  const ref = net('dense');
  const weights = ref.getWeights();
  const layer = (className: string, config: Record<string, unknown>) => ({class_name: className, config: {trainable: true, dtype: 'float32', ...config}});
  const modelTopology = {class_name: 'Sequential', keras_version: '2.15.0', backend: 'tensorflow', config: {name: 'keras_seq', layers: [
    layer('InputLayer', {batch_input_shape: [null, 5, 5, 2], name: 'input_1', sparse: false, ragged: false}),
    layer('Conv2D', {name: 'a', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1],
      groups: 1, activation: 'relu', use_bias: true}),
    layer('Conv2D', {name: 'b', filters: 3, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1],
      groups: 1, activation: 'linear', use_bias: true}),
    layer('GlobalAveragePooling2D', {name: 'gap', data_format: 'channels_last', keepdims: false}),
    layer('Dense', {name: 'head', units: 3, activation: 'softmax', use_bias: true}),
  ]}};
  const names = ['a/kernel', 'a/bias', 'b/kernel', 'b/bias', 'head/kernel', 'head/bias'];
  const weightSpecs = weights.map((w, i) => ({name: names[i], shape: w.shape, dtype: 'float32' as const}));
  const data = new Float32Array(weights.reduce((n, w) => n + w.size, 0));
  let offset = 0;
  for (const w of weights) { data.set(w.dataSync(), offset); offset += w.size; }
  const model = await tf.loadLayersModel(tf.io.fromMemory({modelTopology, weightSpecs, weightData: data.buffer}));
  assert.deepEqual(outputRule(model), {loss: 'softmax', from: 'logits', head: 'head'});
  const batch = batchOf(4);
  const expected = handFisher(ref, batch.xs, batch.labels, trueCrossEntropy);
  const got = await scored(model, batch);
  assert.ok(relErr(got.a, expected.a) < 1e-4 && relErr(got.b, expected.b) < 1e-4, `${got.b} vs ${expected.b}`);
  tf.dispose([batch.xs, batch.ys]);
  model.dispose();
  ref.dispose();
});

test('evaluate() of a softmax or sigmoid model: the true cross-entropy and accuracy of its outputs (also masked, after pruning)', async () => {
  const data = tinySet(10, 3, 5);
  const model = net('activation');
  const before = tf.memory().numTensors;
  const want = trueLoss(model, data, 'softmax');
  const ev = await evaluate(model, data, 4);
  assert.ok(Math.abs(ev.loss - want.loss) < 1e-5 * Math.max(1, want.loss), `${ev.loss} vs ${want.loss}`);
  assert.equal(ev.accuracy, want.accuracy);
  const p = pruner(model);
  const pe = await p.evaluate(data, 3);
  assert.ok(Math.abs(pe.loss - want.loss) < 1e-5 * Math.max(1, want.loss));
  // after pruning a unit: the masked model's loss is the exported (physically smaller) model's
  const [b] = data.batches(6);
  await p.score([b]);
  p.prune({units: 1});
  const small = p.export();
  const wantPruned = trueLoss(small, data, 'softmax');
  const pruned = await p.evaluate(data, 4);
  assert.ok(Math.abs(pruned.loss - wantPruned.loss) < 1e-5 * Math.max(1, wantPruned.loss), `${pruned.loss} vs ${wantPruned.loss}`);
  assert.notEqual(wantPruned.loss, want.loss);
  small.dispose();
  p.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();

  // a single sigmoid output for two classes: binary cross-entropy of the second class, accuracy above one half
  const two = tinySet(10, 2, 6);
  const sig = net('sigmoid', 1);
  const wantSig = trueLoss(sig, two, 'sigmoid');
  const evSig = await evaluate(sig, two, 4);
  assert.ok(Math.abs(evSig.loss - wantSig.loss) < 1e-5 * Math.max(1, wantSig.loss), `${evSig.loss} vs ${wantSig.loss}`);
  assert.equal(evSig.accuracy, wantSig.accuracy);
  sig.dispose();
});

test('fine-tuning a softmax-output model follows the gradient of its true loss and lowers it (wasm)', async () => {
  await useBackend('wasm');
  const data = tinySet(12, 3, 9);
  const model = net('dense');
  const p = pruner(model);
  const before = tf.memory().numTensors;
  // one full-batch SGD step without momentum: the weights move by -lr * d(true cross-entropy)/dw
  const [batch] = data.batches(data.size);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const {value, grads} = tf.variableGrads(() => {
    const probs = model.apply(batch.xs, {training: true}) as tf.Tensor2D;
    return tf.neg(tf.mean(tf.log(tf.sum(probs.mul(batch.ys), 1)))) as tf.Scalar;
  }, variables);
  const w0 = variables.map((v) => v.clone());
  const lr = 0.05;
  await p.finetune(data, {steps: 1, batchSize: data.size, lr, optimizer: {name: 'sgd', momentum: 0}});
  variables.forEach((v, i) => {
    const err = tf.tidy(() => v.sub(w0[i]).add(grads[v.name].mul(lr)).abs().max().dataSync()[0]);
    const scale = tf.tidy(() => grads[v.name].mul(lr).abs().max().dataSync()[0]);
    assert.ok(err <= 1e-3 * scale + 1e-7, `${v.name}: step differs from -lr * grad by ${err} (step ${scale})`);
  });
  tf.dispose([value, ...w0, ...Object.values(grads), batch.xs, batch.ys]);
  // more steps lower the true loss, measured on the model's own probabilities
  const start = trueLoss(model, data, 'softmax').loss;
  const r = await p.finetune(data, {steps: 20, batchSize: 6, lr: 0.1});
  const end = trueLoss(model, data, 'softmax').loss;
  assert.ok(end < start - 0.05, `true loss ${start} -> ${end}`);
  // the loop reports the true loss too (the last epoch's mean, before each step's update)
  assert.ok(r.epochs.every((e) => Number.isFinite(e.loss) && e.loss > 0));
  assert.equal(tf.memory().numTensors, before);
  p.dispose();
  model.dispose();
  await tf.setBackend('cpu');
});

test('fit() and trainModel(): the output rule by default, an output option to state it, and a clear error for a wrong one', async () => {
  const data = tinySet(6, 3, 11);
  const model = net('softmax');
  const [batch] = data.batches(data.size);
  const lossOf = (probs: tf.Tensor2D, double: boolean) => tf.tidy(() => (double ? tf.losses.softmaxCrossEntropy(batch.ys, probs) :
    tf.neg(tf.mean(tf.log(tf.sum(probs.mul(batch.ys), 1))))).dataSync()[0]);
  const probs = model.predict(batch.xs) as tf.Tensor2D;
  const [right, double] = [lossOf(probs, false), lossOf(probs, true)];
  // lr 0: the step's reported loss is the loss of the unchanged model (no BatchNorm, so training mode changes nothing)
  const auto = await fit(model, data, {steps: 1, batchSize: data.size, lr: 0});
  const stated = await fit(model, data, {steps: 1, batchSize: data.size, lr: 0, output: 'logits'});
  assert.ok(Math.abs(auto.epochs[0].loss - right) < 1e-5, `${auto.epochs[0].loss} vs ${right}`);
  assert.ok(Math.abs(stated.epochs[0].loss - double) < 1e-5, `${stated.epochs[0].loss} vs ${double}`);
  // a custom forward returns the model's outputs: the rule reads them as probabilities (a clipped log)
  const custom = await fit(model, data, {steps: 1, batchSize: data.size, lr: 0, forward: (x, t) => model.apply(x, {training: t}) as tf.Tensor2D});
  assert.ok(Math.abs(custom.epochs[0].loss - right) < 1e-5);
  await assert.rejects(fit(model, data, {steps: 1, output: 'softmax' as 'logits'}), /unknown output "softmax"/);
  await assert.rejects(trainModel({model, dataset: {name: 'tiny', train: data, test: data}, epochs: 1, out: path.join(os.tmpdir(), 'gfp-never'), output: 'probs' as 'logits'}),
    /unknown output "probs": use one of 'logits', 'probabilities'/);
  tf.dispose([probs, batch.xs, batch.ys]);
  model.dispose();
});
