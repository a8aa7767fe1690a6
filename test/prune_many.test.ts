import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {group, Grouping} from '../src/graph';
import {GroupConv2D, zoo} from '../src/models';
import {allKept, callWork, costsOf, deltaCosts, Kept, LatencyModel, Normalizer, pruner, RankedUnit, Ranking} from '../src/prune';

const L = tf.layers;

/**
 * Residual add, BatchNorm without scale, depthwise, SeparableConv2D, a grouped conv, a concatenation and a softmax
 * head: every kind of coupling whose costs a removal changes in its neighbours.
 */
function mixedNet(): tf.LayersModel {
  const x = tf.input({shape: [8, 8, 3]});
  const stem = L.conv2d({filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'stem'}).apply(x) as tf.SymbolicTensor;
  const r = L.conv2d({filters: 8, kernelSize: 3, padding: 'same', name: 'res'}).apply(stem) as tf.SymbolicTensor;
  const sum = L.reLU().apply(L.batchNormalization({scale: false, name: 'bn'}).apply(L.add().apply([stem, r]))) as tf.SymbolicTensor;
  const dw = L.depthwiseConv2d({kernelSize: 3, padding: 'same', name: 'dw'}).apply(sum) as tf.SymbolicTensor;
  const pw = L.conv2d({filters: 12, kernelSize: 1, activation: 'relu', name: 'pw'}).apply(dw) as tf.SymbolicTensor;
  const gc = new GroupConv2D({filters: 12, kernelSize: 3, padding: 'same', groups: 4, name: 'gc'}).apply(pw) as tf.SymbolicTensor;
  const sep = L.separableConv2d({filters: 6, kernelSize: 3, padding: 'same', name: 'sep'}).apply(sum) as tf.SymbolicTensor;
  const cat = L.concatenate({name: 'cat'}).apply([gc, sep]) as tf.SymbolicTensor;
  const c = L.conv2d({filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c'}).apply(cat) as tf.SymbolicTensor;
  const y = L.dense({units: 4, activation: 'softmax', name: 'head'}).apply(L.globalAveragePooling2d({}).apply(c)) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: y, name: 'mixed'});
}

/** The straightforward ranking: after every removal, re-rank every kept unit (costs at the current counts) and take the first. */
function reference(g: Grouping, kept: Kept, fisher: number[][], eligible: boolean[], by: Normalizer, units: number, latency?: LatencyModel): RankedUnit[] {
  const removed: RankedUnit[] = [];
  for (let i = 0; i < units; i++) {
    const cost = deltaCosts(g, kept, by, latency);
    const ranked: RankedUnit[] = [];
    g.spaces.forEach((_, s) => {
      if (!eligible[s] || cost[s] <= 0) return;
      kept[s].forEach((on, k) => { if (on) ranked.push({space: s, unit: k, fisher: fisher[s][k], cost: cost[s], score: fisher[s][k] / cost[s]}); });
    });
    const [best] = ranked.sort((a, b) => a.score - b.score);
    if (!best) break;
    kept[best.space][best.unit] = false;
    removed.push(best);
  }
  return removed;
}

/** The incremental ranking's removals. */
function incremental(g: Grouping, kept: Kept, fisher: number[][], eligible: boolean[], by: Normalizer, units: number, latency?: LatencyModel): RankedUnit[] {
  const r = new Ranking(g, kept, fisher, eligible, by, latency);
  const removed: RankedUnit[] = [];
  for (let i = 0; i < units; i++) {
    const best = r.next();
    if (!best) break;
    r.remove(best);
    removed.push(best);
  }
  return removed;
}

/** Fisher with many ties (and zeros) across and within spaces: the tie-breaking must match too. */
const tiedFisher = (g: Grouping): number[][] => g.spaces.map((s, i) => Array.from({length: s.units}, (_, k) => ((k * 7 + i * 3) % 5) * 0.25));

/** A latency model with integer slopes and intercepts (sums stay exact), work kinds as profileLatency assigns them. */
function integerLatency(g: Grouping): LatencyModel {
  const work = callWork(g, g.spaces.map((s) => s.units));
  return {backend: 'test', batchSize: 1, calls: g.calls.flatMap((c, i) => (c.call.layer.getClassName() === 'InputLayer' ? [] : [{
    layer: c.call.layer.name, call: c.call.call, kind: work[i].macs !== undefined ? 'macs' as const : 'elements' as const, work: [], ms: [],
    slope: 1 + (i % 3), intercept: i % 5,
  }]))};
}

test('setup: cpu backend (with the layer patches: BatchNormalization without a scale trains)', async () => {
  await useBackend('cpu');
});

const models: [string, () => tf.LayersModel, number][] = [
  ['mixed (residual, depthwise, separable, grouped, concat)', mixedNet, Infinity],
  ['mobilenetv2', () => zoo.mobilenetv2({inputShape: [8, 8, 1], classes: 3, seed: 1}), 120],
  ['resnext', () => zoo.resnext({inputShape: [8, 8, 1], classes: 3, seed: 1}), 120],
];
for (const [name, make, units] of models) {
  test(`incremental ranking = re-ranking after every removal, tied Fisher, every normalizer: ${name}`, () => {
    const model = make();
    const g = group(model);
    const eligible = g.spaces.map((s) => s.prunable);
    const fisher = tiedFisher(g);
    const latency = integerLatency(g);
    const total = g.spaces.reduce((n, s, i) => n + (eligible[i] ? s.units - 1 : 0), 0);
    for (const by of ['memory', 'flops', 'none', 'latency'] as Normalizer[]) {
      const [keptA, keptB] = [allKept(g), allKept(g)];
      const want = reference(g, keptA, fisher, eligible, by, Math.min(units, total), latency);
      const got = incremental(g, keptB, fisher, eligible, by, Math.min(units, total), latency);
      assert.ok(want.length > 10, `${by}: ${want.length} removals`);
      assert.deepEqual(got, want, `${by}: same units in the same order with the same costs`);
      assert.deepEqual(keptB, keptA);
      if (units === Infinity && by === 'none') {
        // to the end: every eligible space at one unit
        assert.equal(got.length, total);
        keptB.forEach((k, i) => { if (eligible[i]) assert.equal(k.filter(Boolean).length, 1); });
      }
    }
    model.dispose();
  });
}

/** Score one batch with a fresh pruner of the model; returns the pruner and the Fisher it holds. */
async function scoredPruner(model: tf.LayersModel, grouping = true) {
  const p = pruner(model, {grouping});
  const labels = Int32Array.from([0, 1, 2, 3, 1, 0]);
  const batch = tf.tidy(() => ({xs: tf.randomUniform([6, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D, ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 4) as tf.Tensor2D, labels}));
  const r = await p.score([batch]);
  return {p, fisher: r.spaces.map((s) => s.fisher)};
}

test('p.prune({units: N}) removes exactly what one-at-a-time re-ranking removes, with its rows (memory, flops, none; grouping off too)', async () => {
  const model = mixedNet();
  for (const grouping of [true, false]) {
    for (const by of ['memory', 'flops', 'none'] as Normalizer[]) {
      const {p, fisher} = await scoredPruner(model, grouping);
      const eligible = p.group().map((s) => s.prunable);
      assert.ok(fisher.some((f, i) => eligible[i] && f.some((v) => v > 0)), 'real, non-zero Fisher');
      const kept = allKept(p.grouping);
      const want = reference(p.grouping, kept, fisher, eligible, by, 40);
      const before = tf.memory().numTensors;
      const got = p.prune({units: 40, normalize: by});
      assert.equal(tf.memory().numTensors, before);
      assert.deepEqual(got.map(({space, unit, fisher: f, cost, score}) => ({space, unit, fisher: f, cost, score})), want, `${by}, grouping ${grouping}`);
      assert.deepEqual(p.kept, kept);
      // each row's MACs and memory are those after its removal
      const replay = allKept(p.grouping);
      got.forEach((u) => {
        replay[u.space][u.unit] = false;
        const c = costsOf(p.grouping, replay);
        assert.deepEqual([u.macs, u.memory], [c.macs, c.memory]);
      });
      p.dispose();
    }
  }
  model.dispose();
});

test('chunked pruning: prune() and normalize() without Fisher since the last prune throw and say to score; a disposed pruner throws', async () => {
  const model = mixedNet();
  const fresh = pruner(model);
  assert.throws(() => fresh.prune({units: 2}), /prune\(\) needs Fisher, and none was accumulated since the pruner was made: run p\.score\(batches\) first/);
  assert.throws(() => fresh.normalize('flops'), /normalize\(\) needs Fisher/);
  const {p} = await scoredPruner(model);
  const kept = p.state().spaces.map((s) => s.kept.length);
  assert.equal(p.prune({units: 3}).length, 3);
  assert.throws(() => p.prune({units: 3}), /none was accumulated since the last prune\(\): run p\.score\(batches\) first/);
  assert.throws(() => p.normalize(), /since the last prune\(\)/);
  assert.equal(p.state().spaces.reduce((n, s, i) => n + kept[i] - s.kept.length, 0), 3, 'the refused prune removed nothing');
  const labels = Int32Array.from([3, 2]);
  await p.score([tf.tidy(() => ({xs: tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 8) as tf.Tensor4D, ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 4) as tf.Tensor2D, labels}))]);
  assert.equal(p.prune({units: 2}).length, 2, 'a new score allows the next chunk');
  p.dispose();
  assert.throws(() => p.state(), /this pruner of model "mixed" was disposed: make a new one with pruner\(model\)/);
  assert.throws(() => p.prune(), /was disposed/);
  await assert.rejects(p.score([]), /was disposed/);
  model.dispose();
});

test('bad options name themselves: interval, unitsPerPrune, checkpointEvery, steps, units', async () => {
  await useBackend('wasm');
  const model = zoo.resnet20({inputShape: [8, 8, 1], classes: 3, seed: 1});
  const p = pruner(model);
  const data = {size: 4, batches: () => []};
  await assert.rejects(p.run({data, targetFlops: 0.9, interval: 0}), /run\(\{interval\}\) must be a positive integer, got 0/);
  await assert.rejects(p.run({data, targetFlops: 0.9, unitsPerPrune: 0}), /run\(\{unitsPerPrune\}\) must be a positive integer, got 0/);
  await assert.rejects(p.run({data, targetFlops: 0.9, unitsPerPrune: -1}), /run\(\{unitsPerPrune\}\) must be a positive integer, got -1/);
  await assert.rejects(p.run({data, targetFlops: 0.9, checkpointEvery: 0}), /run\(\{checkpointEvery\}\) must be a positive integer/);
  await assert.rejects(p.score([], {steps: 0}), /score\(\{steps\}\) must be a positive integer, got 0/);
  assert.throws(() => p.prune({units: 0}), /prune\(\{units\}\) must be a positive integer, got 0/);
  assert.throws(() => p.prune({units: 1.5}), /prune\(\{units\}\) must be a positive integer, got 1.5/);
  p.dispose();
  model.dispose();
  await tf.setBackend('cpu');
});
