import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {group, registerHandler} from '../src/graph';
import {zoo, ZooName} from '../src/models';
import {countCosts} from '../src/measure';
import {ImageDataset} from '../src/data';
import {costsOf, deltaCosts, exportPruned, maskedForward, maskTensors, profileLatency, pruner, RunCheckpoint} from '../src/prune';
import {Optimizer} from '../src/train';
import {randomKept} from './helpers';

const L = tf.layers;


/** max |pruned(x) - masked(x)| after random pruning; also checks MACs/memory against measure. */
function exactness(model: tf.LayersModel, seed = 7): number {
  const g = group(model);
  const kept = randomKept(g, seed);
  const shape = model.inputs[0].shape.slice(1) as number[];
  return tf.tidy(() => {
    const x = tf.randomUniform([3, ...shape], 0, 1, 'float32', seed);
    const masks = maskTensors(g, kept);
    const a = maskedForward(g, masks, x, false);
    tf.dispose([...masks.values()]);
    const small = exportPruned(g, kept);
    const b = small.predict(x) as tf.Tensor;
    const measured = countCosts(small);
    const counted = costsOf(g, kept);
    assert.equal(counted.macs, measured.macs, `${model.name}: pruner MACs == measured MACs of the exported model`);
    assert.equal(counted.memory, measured.memory, `${model.name}: pruner memory == measured memory`);
    const err = tf.max(tf.abs(a.sub(b))).dataSync()[0] / Math.max(1e-6, tf.max(tf.abs(a)).dataSync()[0]);
    small.dispose();
    return err;
  });
}

/** Give BatchNorm layers non-trivial statistics so that slicing mistakes show. */
function perturbBatchNorm(model: tf.LayersModel, seed: number): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    tf.tidy(() => layer.setWeights(layer.getWeights().map((w, i) => tf.randomUniform(w.shape, i === 3 ? 0.5 : -0.5, 1.5, 'float32', seed + i))));
  }
}

const spaceOf = (model: tf.LayersModel, layer: string) => group(model).spaces.find((s) => s.producers.includes(layer) || s.members.some((m) => m.layer === layer))!;

test('setup: cpu backend', async () => {
  await tf.setBackend('cpu');
});

for (const name of Object.keys(zoo) as ZooName[]) {
  test(`${name}: pruned model equals the masked model after random pruning`, () => {
    const before = tf.memory().numTensors;
    const model = zoo[name]({inputShape: [16, 16, 1], classes: 5, seed: 3});
    perturbBatchNorm(model, 11);
    const err = exactness(model);
    assert.ok(err < 1e-4, `${name}: relative error ${err}`);
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
}

test('resnet20 groups: each stage\'s residual stream is one space; block-inner convs are their own', () => {
  const model = zoo.resnet20({inputShape: [16, 16, 1], classes: 10});
  const spaces = group(model).spaces;
  const prunable = spaces.filter((s) => s.prunable);
  // 3 residual streams + 9 block-inner spaces (conv1 of each block)
  assert.equal(prunable.length, 12);
  const streams = prunable.filter((s) => s.producers.length > 1);
  assert.equal(streams.length, 3);
  for (const s of streams) {
    // the stream is written by the stem/projection conv and each block's second conv
    assert.equal(s.producers.length, 4, s.producers.join(','));
    assert.equal(s.unit, 1);
  }
  const inner = prunable.filter((s) => s.producers.length === 1);
  assert.equal(inner.length, 9);
  for (const s of inner) assert.equal(s.consumers.length, 1);
  model.dispose();
});

test('mobilenetv2 groups: the depthwise conv shares the space of its expansion conv', () => {
  const model = zoo.mobilenetv2({inputShape: [16, 16, 1], classes: 10});
  const g = group(model);
  const dw = model.layers.filter((l) => l.getClassName() === 'DepthwiseConv2D');
  assert.ok(dw.length > 0);
  for (const layer of dw) {
    const s = g.spaces.find((sp) => sp.consumers.includes(layer.name))!;
    assert.ok(s.producers.includes(layer.name), `${layer.name} listed as producer of the space it passes through`);
    assert.equal(s.producers.length, 2, `${layer.name}: expansion conv + depthwise: ${s.producers}`);
  }
  model.dispose();
});

test('resnext groups: the unit of a grouped conv\'s space is one conv-group', () => {
  const model = zoo.resnext({inputShape: [16, 16, 1], classes: 10});
  const g = group(model);
  const gconvs = model.layers.filter((l) => l.getClassName() === 'GroupConv2D');
  assert.ok(gconvs.length > 0);
  for (const layer of gconvs) {
    const groups = layer.getConfig().groups as number;
    const s = g.spaces.find((sp) => sp.producers.includes(layer.name))!;
    assert.equal(s.units, groups, `${layer.name}`);
    assert.equal(s.members.length, 2, 'input set of the grouped conv and its output set');
  }
  model.dispose();
});

test('resnet56 groups: 3 residual streams of 10 producers and 27 block-inner spaces', () => {
  const model = zoo.resnet56({inputShape: [8, 8, 1], classes: 10});
  const prunable = group(model).spaces.filter((s) => s.prunable);
  assert.deepEqual(prunable.filter((s) => s.producers.length > 1).map((s) => s.producers.length), [10, 10, 10]);
  assert.equal(prunable.filter((s) => s.producers.length === 1).length, 27);
  model.dispose();
});

test('concatnet groups: concatenation couples nothing; a transition conv reads every space of its block', () => {
  const model = zoo.concatnet({inputShape: [16, 16, 1], classes: 10});
  const spaces = group(model).spaces.filter((s) => s.prunable);
  for (const s of spaces) assert.equal(s.producers.length, 1, s.producers.join(','));
  const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name);
  assert.equal(spaces.length, convs.length, 'one space per conv');
  const trans = spaces.filter((s) => s.consumers.includes('trans1_conv'));
  assert.ok(trans.length >= 4, `trans1_conv reads ${trans.length} spaces`);
  model.dispose();
});

test('regnetx groups: grouped bottleneck spaces have one unit per conv-group', () => {
  const model = zoo.regnetx({inputShape: [16, 16, 1], classes: 10});
  const g = group(model);
  for (const layer of model.layers.filter((l) => l.getClassName() === 'GroupConv2D')) {
    const s = g.spaces.find((sp) => sp.producers.includes(layer.name))!;
    assert.equal(s.units, layer.getConfig().groups);
    assert.equal(s.unit, 8, 'group width 8');
  }
  model.dispose();
});

// ---- tiny hand-built models, one per rule ----

function residualNet(): tf.LayersModel {
  const x = tf.input({shape: [6, 6, 2]});
  const a = L.conv2d({filters: 4, kernelSize: 3, padding: 'same', name: 'a'}).apply(x) as tf.SymbolicTensor;
  const b = L.conv2d({filters: 4, kernelSize: 3, padding: 'same', name: 'b'}).apply(a) as tf.SymbolicTensor;
  const s = L.add({name: 'sum'}).apply([a, b]) as tf.SymbolicTensor;
  const c = L.conv2d({filters: 3, kernelSize: 1, name: 'c'}).apply(s) as tf.SymbolicTensor;
  const y = L.dense({units: 2, name: 'head'}).apply(L.globalAveragePooling2d({}).apply(c)) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: y});
}

test('rule: residual add couples both producers; consumers of either side join the space', () => {
  const model = residualNet();
  const s = spaceOf(model, 'a');
  assert.deepEqual(s.producers.sort(), ['a', 'b']);
  assert.deepEqual(s.consumers.sort(), ['b', 'c']);
  assert.ok(exactness(model) < 1e-4);
});

test('rule: concatenation maps channels to their sources without coupling them', () => {
  const x = tf.input({shape: [5, 5, 2]});
  const a = L.conv2d({filters: 3, kernelSize: 1, name: 'a'}).apply(x) as tf.SymbolicTensor;
  const b = L.conv2d({filters: 5, kernelSize: 3, padding: 'same', name: 'b'}).apply(x) as tf.SymbolicTensor;
  const cat = L.concatenate({name: 'cat'}).apply([b, a]) as tf.SymbolicTensor;
  const bn = L.batchNormalization({name: 'bn'}).apply(cat) as tf.SymbolicTensor;
  const c = L.conv2d({filters: 2, kernelSize: 3, name: 'c'}).apply(bn) as tf.SymbolicTensor;
  const y = L.dense({units: 2}).apply(L.flatten().apply(c)) as tf.SymbolicTensor;
  const model = tf.model({inputs: x, outputs: y});
  perturbBatchNorm(model, 5);
  assert.notEqual(spaceOf(model, 'a').id, spaceOf(model, 'b').id);
  assert.deepEqual(spaceOf(model, 'a').consumers, ['c']);
  for (let seed = 1; seed < 5; seed++) assert.ok(exactness(model, seed) < 1e-4);
});

test('rule: depthwise with multiplier 2 and flatten -> dense', () => {
  const x = tf.input({shape: [6, 6, 1]});
  const a = L.conv2d({filters: 4, kernelSize: 1, name: 'a'}).apply(x) as tf.SymbolicTensor;
  const d = L.depthwiseConv2d({kernelSize: 3, depthMultiplier: 2, name: 'dw'}).apply(a) as tf.SymbolicTensor;
  const f = L.flatten({name: 'flat'}).apply(d) as tf.SymbolicTensor;
  const y = L.dense({units: 3, name: 'fc'}).apply(f) as tf.SymbolicTensor;
  const model = tf.model({inputs: x, outputs: y});
  const s = spaceOf(model, 'a');
  assert.equal(s.units, 4);
  assert.deepEqual(s.members.map((m) => m.channels), [4, 8]);
  assert.deepEqual(s.consumers.sort(), ['dw', 'fc']);
  for (let seed = 1; seed < 4; seed++) assert.ok(exactness(model, seed) < 1e-4);
});

test('rule: a head shared across levels couples the spaces it reads', () => {
  const x = tf.input({shape: [8, 8, 2]});
  const p3 = L.conv2d({filters: 4, kernelSize: 1, name: 'p3'}).apply(x) as tf.SymbolicTensor;
  const down = L.maxPooling2d({poolSize: 2}).apply(x) as tf.SymbolicTensor;
  const p4 = L.conv2d({filters: 4, kernelSize: 1, name: 'p4'}).apply(down) as tf.SymbolicTensor;
  const head = L.conv2d({filters: 3, kernelSize: 3, padding: 'same', name: 'head'});
  const o3 = L.globalAveragePooling2d({}).apply(head.apply(p3)) as tf.SymbolicTensor;
  const o4 = L.globalAveragePooling2d({}).apply(head.apply(p4)) as tf.SymbolicTensor;
  const y = L.add().apply([o3, o4]) as tf.SymbolicTensor;
  const out = L.dense({units: 2}).apply(y) as tf.SymbolicTensor;
  const model = tf.model({inputs: x, outputs: out});
  assert.equal(spaceOf(model, 'p3').id, spaceOf(model, 'p4').id);
  assert.ok(exactness(model) < 1e-4);
});

test('rule: an unknown layer is a barrier with a reason; a registered handler lifts it', () => {
  class Scale extends tf.layers.Layer {
    static className = 'TestScale';
    override call(x: tf.Tensor | tf.Tensor[]): tf.Tensor { return tf.mul(Array.isArray(x) ? x[0] : x, 2); }
  }
  tf.serialization.registerClass(Scale);
  const x = tf.input({shape: [4, 4, 1]});
  const a = L.conv2d({filters: 4, kernelSize: 1, name: 'a'}).apply(x) as tf.SymbolicTensor;
  const s = new Scale({}).apply(a) as tf.SymbolicTensor;
  const b = L.conv2d({filters: 2, kernelSize: 1, name: 'b'}).apply(s) as tf.SymbolicTensor;
  const model = tf.model({inputs: x, outputs: L.dense({units: 2}).apply(L.flatten().apply(b)) as tf.SymbolicTensor});
  const blocked = spaceOf(model, 'a');
  assert.equal(blocked.prunable, false);
  assert.match(blocked.reason!, /TestScale has no pruning rule/);
  registerHandler('TestScale', {group: (ctx) => ctx.inputs[0]});
  assert.equal(spaceOf(model, 'a').prunable, true);
  assert.ok(exactness(model) < 1e-4);
});

test('bad input: no prunable space (Sequential or functional), wrong input shape', () => {
  const seq = tf.sequential({layers: [L.dense({units: 2, inputShape: [3]})]});
  assert.throws(() => pruner(seq), /no prunable channel space[\s\S]*model input/);
  const x = tf.input({shape: [3]});
  const only = tf.model({inputs: x, outputs: L.dense({units: 2}).apply(x) as tf.SymbolicTensor});
  assert.throws(() => pruner(only), /no prunable channel space[\s\S]*model output/);
  assert.throws(() => pruner(residualNet(), {inputShape: [7, 7, 2]}), /inputShape \[7,7,2\] does not match/);
});

// ---- Fisher against a per-sample hand computation ----

test('Fisher equals a per-sample hand computation, summed over coupled consumers before squaring', async () => {
  const model = residualNet();
  const [wa, ba, wb, bb, wc, bc, wh, bh] = model.getWeights();
  const xs = tf.randomUniform([4, 6, 6, 2], -1, 1, 'float32', 3) as tf.Tensor4D;
  const labels = Int32Array.from([0, 1, 1, 0]);
  const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 2) as tf.Tensor2D;
  const B = 4;
  // reference: sample n alone, masks mb (input of b) and mc (input of c) shared; g[n,k,:] = d(l_n / B)/dm_k
  const expected = new Float64Array(4);
  for (let n = 0; n < B; n++) {
    const x = xs.slice([n, 0, 0, 0], [1, 6, 6, 2]);
    const y = ys.slice([n, 0], [1, 2]);
    const f = (mb: tf.Tensor, mc: tf.Tensor): tf.Scalar => {
      const a = tf.conv2d(x as tf.Tensor4D, wa as tf.Tensor4D, 1, 'same').add(ba);
      const b = tf.conv2d(a.mul(mb) as tf.Tensor4D, wb as tf.Tensor4D, 1, 'same').add(bb);
      const c = tf.conv2d(a.add(b).mul(mc) as tf.Tensor4D, wc as tf.Tensor4D, 1, 'valid').add(bc);
      const logits = c.mean([1, 2]).matMul(wh).add(bh);
      return tf.losses.softmaxCrossEntropy(y, logits).div(B) as tf.Scalar;
    };
    const [gb, gc] = tf.grads(f)([tf.ones([4]), tf.ones([4])]);
    const sum = gb.add(gc).dataSync();
    sum.forEach((v, c) => { expected[c] += v * v; });
  }
  const ds = new ImageDataset({name: 'tiny', images: new Uint8Array(4 * 72), labels, shape: [6, 6, 2], classes: 2});
  const p = pruner(model);
  const before = tf.memory().numTensors;
  const batch = {xs, ys, labels};
  const report = await p.score([{xs: xs.clone(), ys: ys.clone(), labels: batch.labels}]);
  const s = report.spaces[spaceOf(model, 'a').id];
  s.fisher.forEach((v, c) => assert.ok(Math.abs(v - expected[c]) <= 1e-5 * Math.max(...expected), `channel ${c}: ${v} vs ${expected[c]}`));
  p.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.ok(ds.size === 4);
});

test('score leaves weights and BatchNorm statistics unchanged; steps leak no tensors', async () => {
  const model = zoo.resnet20({inputShape: [8, 8, 1], classes: 3, seed: 1});
  const p = pruner(model);
  const ws = model.getWeights().map((w) => w.clone());
  const batches = Array.from({length: 3}, (_, i) => tf.tidy(() => {
    const xs = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', i) as tf.Tensor4D;
    const labels = Int32Array.from([0, 1, 2, i % 3]);
    return {xs, ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 3) as tf.Tensor2D, labels};
  }));
  const before = tf.memory().numTensors;
  const r = await p.score(batches, {steps: 2});
  assert.equal(r.steps, 2);
  assert.ok(r.spaces.some((s) => s.fisher.some((v) => v > 0)));
  tf.tidy(() => model.getWeights().forEach((w, i) => assert.equal(tf.max(tf.abs(w.sub(ws[i]))).dataSync()[0], 0, model.weights[i].name)));
  const ranked = p.normalize('flops');
  assert.ok(ranked.units.every((u, i) => i === 0 || ranked.units[i - 1].score <= u.score));
  const removed = p.prune({units: 2, normalize: 'flops'});
  assert.equal(removed.length, 2);
  assert.ok(removed[1].macs < removed[0].macs);
  assert.equal(p.state().spaces.reduce((n, s) => n + s.units - s.kept.length, 0), 2);
  p.dispose();
  // score disposed the two batches it consumed, and nothing else is left behind
  assert.equal(tf.memory().numTensors, before - 2 * 2);
  tf.dispose([...ws, batches[2].xs, batches[2].ys]);
  model.dispose();
});

test('latency normalizer: a profile per call; with unit slopes on convs it ranks exactly like flops', async () => {
  const model = zoo.resnet20({inputShape: [8, 8, 1], classes: 3, seed: 1});
  const g = group(model);
  const before = tf.memory().numTensors;
  const lat = await profileLatency(g, {batchSize: 4, runs: 1, widths: [1, 0.5]});
  assert.equal(tf.memory().numTensors, before, 'profiling leaks no tensors');
  assert.equal(lat.calls.length, g.calls.filter((c) => c.call.layer.getClassName() !== 'InputLayer').length);
  for (const c of lat.calls) {
    assert.equal(c.ms.length, 2);
    assert.ok(c.slope >= 0 && c.ms.every((ms) => ms >= 0), c.layer);
    assert.ok(c.work[1] <= c.work[0], `${c.layer}: half width does less work`);
  }
  assert.equal(lat.calls.find((c) => c.layer === model.layers[1].name)?.kind, 'macs');
  const kept = randomKept(g, 5);
  const asFlops = {...lat, calls: lat.calls.map((c) => ({...c, slope: c.kind === 'macs' ? 1 : 0}))};
  assert.deepEqual(deltaCosts(g, kept, 'latency', asFlops).map(Math.round), deltaCosts(g, kept, 'flops').map(Math.round));
  const p = pruner(model);
  assert.throws(() => p.normalize('latency'), /profileLatency/);
  await p.profileLatency({batchSize: 2, runs: 1, widths: [1, 0.5]});
  assert.throws(() => p.normalize('latency'), /none was accumulated since the pruner was made: run p\.score\(batches\) first/);
  const labels = Int32Array.from([0, 2]);
  await p.score([tf.tidy(() => ({xs: tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 2) as tf.Tensor4D, ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 3) as tf.Tensor2D, labels}))]);
  const ranked = p.normalize('latency');
  assert.ok(ranked.units.length > 0 && ranked.units.every((u) => u.cost >= 0));
  p.dispose();
  model.dispose();
});

test('run: prunes every interval steps until the FLOPs target, rejects unreachable targets (wasm)', async () => {
  await useBackend('wasm');
  const model = zoo.resnet20({inputShape: [8, 8, 1], classes: 3, seed: 2});
  const n = 48;
  const images = new Uint8Array(n * 64).map((_, i) => (i * 37) % 256);
  const labels = Int32Array.from({length: n}, (_, i) => i % 3);
  const data = new ImageDataset({name: 'tiny', images, labels, shape: [8, 8, 1], classes: 3});
  const p = pruner(model);
  await assert.rejects(p.run({data, targetFlops: 0.001}), /targetFlops 0.001 cannot be reached: .* leaves 0\.\d+ of the FLOPs/);
  const before = tf.memory().numTensors;
  const report = await p.run({data, targetFlops: 0.8, interval: 2, unitsPerPrune: 3, batchSize: 16, lr: 0.01});
  assert.ok(report.final.macsRatio <= 0.8);
  report.rows.forEach((r) => assert.equal(r.step % 2, 0));
  // three units a pruning, and the last pruning stops at the unit that reaches the target: no overshoot
  const ratios = report.rows.map((r) => r.macsRatio);
  assert.ok(ratios.slice(0, -1).every((r) => r > 0.8) && ratios[ratios.length - 1] <= 0.8, `ratios ${ratios}`);
  const perStep = [...new Set(report.rows.map((r) => r.step))].map((step) => report.rows.filter((r) => r.step === step).length);
  assert.ok(perStep.slice(0, -1).every((k) => k === 3) && perStep[perStep.length - 1] <= 3, `units per pruning ${perStep}`);
  assert.equal(tf.memory().numTensors, before);
  // the exported model agrees with the masked one after real training and pruning
  const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 4);
  const small = p.export();
  const err = tf.tidy(() => tf.max(tf.abs((small.predict(x) as tf.Tensor).sub(p.forward()(x as tf.Tensor4D, false)))).dataSync()[0]);
  assert.ok(err < 1e-4, `err ${err}`);
  tf.dispose(x);
  small.dispose();
  p.dispose();
  model.dispose();
  await tf.setBackend('cpu');
});

test('run: resuming from a checkpoint gives the same masks, rows and weights as an uninterrupted run (wasm)', async () => {
  await useBackend('wasm');
  const n = 64;
  const images = new Uint8Array(n * 64).map((_, i) => (i * 53) % 256);
  const labels = Int32Array.from({length: n}, (_, i) => i % 3);
  const data = new ImageDataset({name: 'tiny', images, labels, shape: [8, 8, 1], classes: 3});
  const opts = {data, targetFlops: 0.75, interval: 3, unitsPerPrune: 2, batchSize: 16, lr: 0.02, checkpointEvery: 2};
  const modelA = zoo.resnet20({inputShape: [8, 8, 1], classes: 3, seed: 9});
  const optA = new Optimizer({name: 'sgd', momentum: 0.9});
  let saved: {ckpt: RunCheckpoint; weights: tf.Tensor[]; opt: ReturnType<Optimizer['getState']>} | undefined;
  const a = await pruner(modelA).run({...opts, optimizer: optA, onCheckpoint: async (ckpt) => {
    saved ??= {ckpt, weights: modelA.getWeights().map((w) => w.clone()), opt: optA.getState()};
  }});
  assert.ok(saved, 'a checkpoint was taken before the target');
  const modelB = zoo.resnet20({inputShape: [8, 8, 1], classes: 3, seed: 1});
  modelB.setWeights(saved.weights);
  const optB = new Optimizer({name: 'sgd', momentum: 0.9});
  optB.setState(saved.opt, modelB.trainableWeights.map((w) => w.read() as tf.Variable));
  const pB = pruner(modelB);
  const b = await pB.run({...opts, optimizer: optB, resume: saved.ckpt});
  assert.equal(b.steps, a.steps);
  assert.deepEqual(b.final.spaces.map((s) => s.kept), a.final.spaces.map((s) => s.kept));
  assert.deepEqual(b.rows.map((r) => [r.step, r.space, r.unit]), a.rows.map((r) => [r.step, r.space, r.unit]));
  const wa = modelA.getWeights();
  modelB.getWeights().forEach((w, i) => assert.equal(tf.tidy(() => tf.max(tf.abs(w.sub(wa[i]))).dataSync()[0]), 0, modelB.weights[i].name));
  tf.dispose([...saved.weights, ...Object.values(saved.opt.tensors)]);
  optA.dispose(); optB.dispose(); modelA.dispose(); modelB.dispose();
  await tf.setBackend('cpu');
});

test('a NaN loss stops scoring with a clear error and leaves the weights untouched', async () => {
  const model = residualNet();
  const p = pruner(model);
  const before = model.getWeights().map((w) => w.clone());
  const labels = Int32Array.from([0, 1]);
  const bad = {xs: tf.fill([2, 6, 6, 2], NaN) as tf.Tensor4D, ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 2) as tf.Tensor2D, labels};
  await assert.rejects(p.score([bad], {train: {lr: 0.1}}), /score: loss is NaN after 0 Fisher steps; the masks and the weights are unchanged by this step: the weights are finite: check the batch inputs for NaN/);
  tf.tidy(() => model.getWeights().forEach((w, i) => assert.equal(tf.max(tf.abs(w.sub(before[i]))).dataSync()[0], 0)));
  tf.dispose(before);
  p.dispose();
});
