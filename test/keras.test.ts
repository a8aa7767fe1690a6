import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {group} from '../src/graph';
import {GlobalAveragePooling2D, kerasActivations, Normalization} from '../src/models';
import {mulberry32} from '../src/data';
import {maskedForward, maskTensors, pruner, ScoreBatch} from '../src/prune';
import {loadModel, saveModel} from '../src/train';
import {countCosts} from '../src/measure';

const L = tf.layers;
const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures', 'keras');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-keras-'));

type Weights = Record<string, Float32Array | Int32Array>;

/** The parts of a converted model.json the tests edit. */
interface KerasJson { modelTopology: {model_config: {config: {layers: {class_name: string; config: Record<string, unknown>; inbound_nodes?: unknown[]}[]}}} }

/** A fixture's model.json (edited) copied to a fresh folder with seeded weights (variances positive, Normalization's count 100). */
function fixture(name: string, seed: number, edit?: (json: KerasJson) => void): {dir: string; w: Weights} {
  const json = JSON.parse(fs.readFileSync(path.join(fixtures, name, 'model.json'), 'utf8'));
  edit?.(json);
  const rand = mulberry32(seed);
  const w: Weights = {};
  for (const spec of json.weightsManifest[0].weights as tf.io.WeightsManifestEntry[]) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    w[spec.name] = spec.dtype === 'int32' ? Int32Array.from({length: n}, () => 100)
      : Float32Array.from({length: n}, () => (/variance/.test(spec.name) ? 0.5 + rand() : rand() - 0.5));
  }
  const dir = fs.mkdtempSync(path.join(tmp, `${name}-`));
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), Buffer.concat(Object.values(w).map((a) => Buffer.from(a.buffer))));
  return {dir, w};
}

const inputs = (n: number, seed: number): tf.Tensor4D => tf.randomUniform([n, 6, 6, 3], 0, 1, 'float32', seed) as tf.Tensor4D;

/** Seeded batches of 6x6x3 images with one-hot labels of 4 classes. */
function batches(count: number, seed: number): ScoreBatch[] {
  return Array.from({length: count}, (_, i) => ({
    xs: inputs(4, seed + i),
    ys: tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, (seed + i) % 4], 'int32'), 4).toFloat() as tf.Tensor2D),
  }));
}

// Cross-entropy of a softmax output's probabilities (the model's output is not logits).
const probabilityLoss = (p: tf.Tensor, b: ScoreBatch): tf.Scalar => tf.neg(tf.mean(tf.sum(tf.mul(b.ys!, tf.log(tf.add(p, 1e-7))), -1))) as tf.Scalar;

const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Scores and trains a few steps with numTensors unchanged; Fisher finite with a positive entry, loss finite, weights moved. */
async function scoresAndTrains(model: tf.LayersModel): Promise<ReturnType<typeof pruner>> {
  const p = pruner(model, {loss: probabilityLoss});
  const before = tf.memory().numTensors;
  const report = await p.score(batches(2, 11), {});
  assert.equal(tf.memory().numTensors, before, 'score leaves numTensors unchanged');
  const fisher = report.spaces.flatMap((s) => s.fisher);
  assert.ok(fisher.length > 0 && fisher.every(Number.isFinite) && fisher.some((f) => f > 0), `Fisher: ${fisher}`);
  const w0 = model.getWeights().map((t) => t.dataSync().slice());
  const trained = await p.score(batches(3, 21), {train: {lr: 0.05}});
  assert.equal(tf.memory().numTensors, before, 'training leaves numTensors unchanged');
  assert.ok(Number.isFinite(trained.loss), `loss ${trained.loss}`);
  assert.ok(model.getWeights().some((t, i) => t.dataSync().some((v, j) => v !== w0[i][j])), 'training moved the weights');
  return p;
}

/** max |exported(x) - masked model(x)| after pruning `units` of the pruner's ranking. */
function exportError(p: ReturnType<typeof pruner>, units: number): number {
  p.prune({units, normalize: 'flops'});
  const small = p.export();
  const err = tf.tidy(() => {
    const x = inputs(3, 5);
    const masks = maskTensors(p.grouping, p.kept);
    const masked = maskedForward(p.grouping, masks, x, false);
    tf.dispose([...masks.values()]);
    return maxDiff(small.predict(x) as tf.Tensor, masked);
  });
  small.dispose();
  return err;
}

// erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7)
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return Math.sign(x) * y;
}

test('Keras activations tfjs lacks (and its own gelu) match their formulas as layer activations', async () => {
  await useBackend('wasm');
  const formulas: Record<string, (x: number) => number> = {
    silu: (x) => x / (1 + Math.exp(-x)),
    hardSilu: (x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6,
    hardSwish: (x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6,
    leakyRelu: (x) => (x > 0 ? x : 0.2 * x),
    gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), // Keras' default: approximate=False
  };
  assert.deepEqual(Object.keys(kerasActivations).sort(), Object.keys(formulas).filter((k) => k !== 'gelu').sort());
  const xs = [-5, -3.5, -3, -1.2, -0.4, 0, 0.3, 1, 2.9, 3, 4.5];
  const before = tf.memory().numTensors;
  for (const [name, f] of Object.entries(formulas)) {
    const layer = L.activation({activation: name as never});
    const got = tf.tidy(() => (layer.apply(tf.tensor1d(xs)) as tf.Tensor).dataSync());
    xs.forEach((x, i) => assert.ok(Math.abs(got[i] - f(x)) < 1e-5, `${name}(${x}) = ${got[i]}, want ${f(x)}`));
  }
  assert.equal(tf.memory().numTensors, before);
});

test('Normalization: (x - mean) / sqrt(variance) per channel or overall, from the config, and inverted', async () => {
  await useBackend('wasm');
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [1, 2, 2, 3]);
  const cases: [ConstructorParameters<typeof Normalization>[0], (v: number, c: number) => number][] = [
    [{axis: -1, mean: [1, 2, 3], variance: [4, 9, 16]}, (v, c) => (v - [1, 2, 3][c]) / [2, 3, 4][c]],
    [{axis: [3], mean: [1, 2, 3], variance: [4, 9, 16]}, (v, c) => (v - [1, 2, 3][c]) / [2, 3, 4][c]],
    [{axis: null, mean: 5, variance: 4}, (v) => (v - 5) / 2],
    [{axis: -1, mean: [1, 2, 3], variance: [4, 9, 16], invert: true}, (v, c) => [1, 2, 3][c] + v * [2, 3, 4][c]],
  ];
  for (const [args, f] of cases) {
    const got = tf.tidy(() => (new Normalization(args).apply(x) as tf.Tensor).dataSync());
    got.forEach((g, i) => assert.ok(Math.abs(g - f(i + 1, i % 3)) < 1e-5, `${JSON.stringify(args)}: ${g} at ${i}`));
  }
  assert.throws(() => new Normalization({mean: [1, 2, 3]}), /both mean and variance/);
  x.dispose();
});

test('GlobalAveragePooling2D with keepdims gives [b, 1, 1, c] channel means; without, tfjs shape', async () => {
  await useBackend('wasm');
  const input = tf.input({shape: [3, 3, 2]});
  const keep = new GlobalAveragePooling2D({keepdims: true});
  assert.deepEqual((keep.apply(input) as tf.SymbolicTensor).shape, [null, 1, 1, 2]);
  assert.deepEqual((new GlobalAveragePooling2D({}).apply(input) as tf.SymbolicTensor).shape, [null, 2]);
  const values = Array.from({length: 18}, (_, i) => i * 0.5);
  const got = tf.tidy(() => (keep.apply(tf.tensor4d(values, [1, 3, 3, 2])) as tf.Tensor).dataSync());
  for (const c of [0, 1]) {
    const want = values.filter((_, i) => i % 2 === c).reduce((a, b) => a + b, 0) / 9;
    assert.ok(Math.abs(got[c] - want) < 1e-6, `channel ${c}: ${got[c]} vs ${want}`);
  }
});

test('BatchNormalization with scale:false / center:false trains: batch statistics by hand, gradients of gamma=1 / beta=0', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    for (const [scale, center] of [[false, true], [true, false], [false, false]]) {
      const what = `${backend}, scale ${scale}, center ${center}`;
      // x -> conv (so gradients reach weights before the BN) -> BN -> dense
      const build = (bnScale: boolean, bnCenter: boolean): tf.LayersModel => {
        const x = tf.input({shape: [3, 3, 2]});
        const h = L.conv2d({filters: 4, kernelSize: 1, useBias: false, name: 'c'}).apply(x);
        const y = L.batchNormalization({scale: bnScale, center: bnCenter, momentum: 0.9, name: 'bn'}).apply(h);
        return tf.model({inputs: x, outputs: L.dense({units: 2, name: 'd'}).apply(L.flatten().apply(y)) as tf.SymbolicTensor});
      };
      const model = build(scale, center);
      const full = build(true, true); // gamma = 1, beta = 0: the same function
      const rand = mulberry32(3);
      const weightOf = (name: string, shape: number[]): tf.Tensor => (/gamma|moving_variance/.test(name) ? tf.ones(shape)
        : /beta|moving_mean/.test(name) ? tf.zeros(shape) : tf.tensor(Array.from({length: shape.reduce((a, b) => a * b, 1)}, () => rand() - 0.5), shape));
      const fullWeights = full.weights.map((v) => weightOf(v.originalName, v.shape as number[]));
      full.setWeights(fullWeights);
      model.setWeights(model.weights.map((v) => fullWeights[full.weights.findIndex((f) => f.originalName === v.originalName)]));
      const xs = tf.randomNormal([5, 3, 3, 2], 0, 1, 'float32', 9);
      const before = tf.memory().numTensors;
      // forward in training: BN output against its hand computation from the conv output
      const [h, y] = tf.tidy(() => {
        const conv = tf.model({inputs: model.inputs, outputs: model.getLayer('c').output as tf.SymbolicTensor});
        const hv = conv.predict(xs) as tf.Tensor;
        const bn = tf.model({inputs: model.inputs, outputs: model.getLayer('bn').output as tf.SymbolicTensor});
        return [hv.dataSync(), (bn.apply(xs, {training: true}) as tf.Tensor).dataSync()];
      });
      const n = h.length / 4;
      for (let c = 0; c < 4; c++) {
        const vals = Array.from({length: n}, (_, i) => h[i * 4 + c]);
        const mean = vals.reduce((a, b) => a + b, 0) / n;
        const variance = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
        vals.forEach((v, i) => assert.ok(Math.abs(y[i * 4 + c] - (v - mean) / Math.sqrt(variance + 1e-3)) < 1e-4, `${what}: y[${i}, ${c}]`));
        const movingMean = (model.getLayer('bn').getWeights().at(-2) as tf.Tensor).dataSync()[c];
        assert.ok(Math.abs(movingMean - 0.1 * mean) < 1e-5, `${what}: moving mean of channel ${c}: ${movingMean} vs ${0.1 * mean}`);
      }
      // gradients in training equal those of the gamma = 1, beta = 0 model
      const gradsOf = (m: tf.LayersModel): Record<string, Float32Array> => tf.tidy(() => {
        const {grads} = tf.variableGrads(() => tf.sum(tf.square(m.apply(xs, {training: true}) as tf.Tensor)) as tf.Scalar,
          m.trainableWeights.map((w) => w.read() as tf.Variable));
        return Object.fromEntries(m.trainableWeights.map((w) => [w.originalName, grads[(w.read() as tf.Variable).name].dataSync() as Float32Array]));
      });
      const got = gradsOf(model);
      const want = gradsOf(full);
      assert.deepEqual(Object.keys(got).sort(), model.trainableWeights.map((w) => w.originalName).sort());
      for (const [name, g] of Object.entries(got)) {
        const scaleOf = Math.max(...want[name].map(Math.abs));
        g.forEach((v, i) => assert.ok(Math.abs(v - want[name][i]) <= 1e-4 * Math.max(1, scaleOf), `${what}: d${name}[${i}] ${v} vs ${want[name][i]}`));
      }
      assert.equal(tf.memory().numTensors, before, `${what}: numTensors`);
      tf.dispose([xs, ...fullWeights]);
      model.dispose();
      full.dispose();
    }
  }
  await useBackend('wasm');
});

test('a tf.Sequential built in code is pruned like a functional model, training the same weights', async () => {
  await useBackend('wasm');
  const seq = tf.sequential({layers: [
    L.conv2d({filters: 6, kernelSize: 3, padding: 'same', inputShape: [6, 6, 3], name: 'c1'}),
    L.batchNormalization({name: 'b1'}), L.reLU(),
    L.conv2d({filters: 8, kernelSize: 3, strides: 2, name: 'c2'}), L.reLU(),
    L.flatten(), L.dense({units: 4, activation: 'softmax', name: 'out'}),
  ]});
  // MACs by hand: c1 6*6 positions * 3*3*3*6, c2 (stride 2, valid) 2*2 * 3*3*6*8, out 2*2*8 * 4
  const macs = Object.fromEntries(countCosts(seq).layers.map((r) => [r.name, r.macs]));
  assert.deepEqual([macs.c1, macs.c2, macs.out], [36 * 162, 4 * 432, 32 * 4]);
  const spaces = group(seq).spaces.filter((s) => s.prunable);
  assert.deepEqual(spaces.map((s) => s.producers).sort(), [['c1'], ['c2']]);
  const p = await scoresAndTrains(seq); // checks that training moved the Sequential's own weights
  assert.ok(exportError(p, 3) < 1e-5);
  const small = p.export();
  const filters = (name: string): number => small.getLayer(name).getWeights()[0].shape[3] as number;
  assert.ok(filters('c1') + filters('c2') < 14, 'exported model is smaller');
  small.dispose();
  const before = tf.memory().numTensors;
  const target = 0.8 * p.state().macsRatio;
  const report = await p.run({data: {size: 8, *batches() { for (const seed of [31, 32, 33]) yield batches(1, seed)[0]; }}, targetFlops: target, interval: 1, lr: 0.01});
  assert.ok(report.final.macsRatio <= target && report.rows.length > 0, `run reached ${report.final.macsRatio}, target ${target}`);
  assert.equal(tf.memory().numTensors, before, 'run leaves numTensors unchanged');
});

test('Keras-converted Sequential (InputLayer, BN scale:false, silu, softmax) loads, matches tfjs layers, scores, trains, exports exactly', async () => {
  await useBackend('wasm');
  const {dir, w} = fixture('sequential', 1);
  const model = await loadModel(dir);
  assert.ok(model instanceof tf.Sequential);
  // the same network from tfjs's own layers: BN with gamma = 1, swish for silu
  const x = tf.input({shape: [6, 6, 3]});
  let y = L.conv2d({filters: 8, kernelSize: 3, padding: 'same', useBias: false}).apply(x);
  y = L.batchNormalization({epsilon: 0.001}).apply(y);
  y = L.activation({activation: 'swish'}).apply(y);
  y = L.flatten().apply(L.maxPooling2d({poolSize: 2}).apply(y));
  const reference = tf.model({inputs: x, outputs: L.dense({units: 4, activation: 'softmax'}).apply(y) as tf.SymbolicTensor});
  const t = (name: string, shape: number[]): tf.Tensor => tf.tensor(w[name], shape);
  // trainable weights first, then BN's moving statistics
  const values = [t('conv/kernel', [3, 3, 3, 8]), tf.ones([8]), t('bn/beta', [8]), t('probs/kernel', [72, 4]), t('probs/bias', [4]),
    t('bn/moving_mean', [8]), t('bn/moving_variance', [8])];
  reference.setWeights(values);
  const xs = inputs(3, 2);
  assert.ok(maxDiff(model.predict(xs) as tf.Tensor, reference.predict(xs) as tf.Tensor) < 1e-6, 'same outputs as the tfjs reference');
  tf.dispose([xs, ...values]);
  reference.dispose();
  // Keras writes BN's axis as [3]: read as 3, as tfjs's own code and the fused training kernels compare it
  assert.equal(model.getLayer('bn').getConfig().axis, 3);
  assert.ok(group(model).spaces.some((s) => s.prunable && s.producers.includes('conv')), "the conv's space is prunable");
  const p = await scoresAndTrains(model);
  assert.ok(exportError(p, 3) < 1e-5);
});

test('Keras-converted functional (Normalization, hard_silu, GAP keepdims, gelu, hard_swish) loads, matches tf ops, scores, trains, exports again', async () => {
  await useBackend('wasm');
  const {dir, w} = fixture('functional', 2);
  const model = await loadModel(dir); // also drops Keras 2's Normalization count, which no tfjs layer holds
  const xs = inputs(3, 4);
  const want = tf.tidy(() => {
    const t = (name: string, shape?: number[]): tf.Tensor => tf.tensor(w[name], shape);
    const conv = (h: tf.Tensor, name: string, shape: number[]): tf.Tensor =>
      tf.add(tf.conv2d(h as tf.Tensor4D, t(`${name}/kernel`, shape) as tf.Tensor4D, 1, 'same'), t(`${name}/bias`));
    const hardSilu = (v: tf.Tensor): tf.Tensor => tf.mul(v, tf.div(tf.clipByValue(tf.add(v, 3), 0, 6), 6));
    const gelu = (v: tf.Tensor): tf.Tensor => tf.mul(tf.mul(v, 0.5), tf.add(1, tf.erf(tf.div(v, Math.SQRT2))));
    const normed = tf.div(tf.sub(xs, t('norm/mean')), tf.sqrt(t('norm/variance')));
    const stem = hardSilu(conv(normed, 'stem', [3, 3, 3, 8]));
    const gate = tf.sigmoid(conv(gelu(conv(tf.mean(stem, [1, 2], true), 'se_reduce', [1, 1, 8, 4])), 'se_expand', [1, 1, 4, 8]));
    const pooled = tf.mean(hardSilu(tf.mul(stem, gate)), [1, 2]);
    return tf.softmax(tf.add(tf.matMul(pooled, t('probs/kernel', [8, 4])), t('probs/bias')));
  });
  assert.ok(maxDiff(model.predict(xs) as tf.Tensor, want) < 1e-5, 'same outputs as the formulas');
  want.dispose();
  const p = await scoresAndTrains(model);
  assert.ok(exportError(p, 2) < 1e-5);
  // the exported model saves the Keras names and loads again with the same outputs
  const small = p.export();
  await saveModel(small, path.join(dir, 'small'));
  const again = await loadModel(path.join(dir, 'small'));
  assert.ok(maxDiff(small.predict(xs) as tf.Tensor, again.predict(xs) as tf.Tensor) < 1e-6);
  tf.dispose(xs);
  small.dispose();
  again.dispose();
});

test('loadModel names the layer, its class and what to do for what tfjs cannot read', async () => {
  await useBackend('wasm');
  const cases: [string, Parameters<typeof fixture>[2], RegExp][] = [
    ['sequential', (j) => { j.modelTopology.model_config.config.layers.splice(1, 0, {class_name: 'RandomFlip', config: {name: 'flip', mode: 'horizontal'}}); },
      /layer 'flip' of class 'RandomFlip' is not known to tfjs: remove it before converting.*registerClass/],
    ['sequential', (j) => { j.modelTopology.model_config.config.layers[3].config.activation = 'squareplus'; },
      /layer 'act' \(Activation\) uses activation 'squareplus', which tfjs does not know/],
    ['sequential', (j) => { j.modelTopology.model_config.config.layers.shift(); },
      /Sequential model 'keras_sequential' does not give its input shape.*first layer 'conv' has no batch_input_shape/],
    ['sequential', (j) => { j.modelTopology.model_config.config.layers[1].config.groups = 4; },
      /layer 'conv' \(Conv2D\) has groups: 4/],
    ['functional', (j) => { j.modelTopology.model_config.config.layers[1].inbound_nodes = [{args: [{class_name: '__keras_tensor__', config: {keras_history: ['image', 0, 0]}}], kwargs: {}}]; },
      /layer 'norm' lists its inputs in the Keras 3 format/],
  ];
  for (const [name, edit, message] of cases) await assert.rejects(loadModel(fixture(name, 3, edit).dir), message);
});
