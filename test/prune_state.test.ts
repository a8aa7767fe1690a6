import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {ImageDataset} from '../src/data';
import {group} from '../src/graph';
import {outputRule} from '../src/train';
import {accumulate, initialState, normalize, prune, pruner, pruneSetup, PruneState, runSchedule, scoreBatch, setKept, summary} from '../src/prune';

const L = tf.layers;
const conv = (filters: number, name: string) =>
  L.conv2d({filters, kernelSize: 3, padding: 'same', name, kernelInitializer: tf.initializers.randomUniform({minval: -1, maxval: 1, seed: name.charCodeAt(0)})});

/** a -> bn -> relu, b added to it (one space), c; head: two prunable spaces. */
function net(): tf.LayersModel {
  const x = tf.input({shape: [6, 6, 2]});
  const a = L.batchNormalization({name: 'bnA'}).apply(conv(6, 'a').apply(x)) as tf.SymbolicTensor;
  const b = conv(6, 'b').apply(L.reLU().apply(a)) as tf.SymbolicTensor;
  const c = conv(5, 'c').apply(L.reLU().apply(L.add().apply([a, b]))) as tf.SymbolicTensor;
  const y = L.dense({units: 2, name: 'head'}).apply(L.globalAveragePooling2d({}).apply(c)) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: y, name: 'statenet'});
}

const data = new ImageDataset({name: 'tiny', images: Uint8Array.from({length: 16 * 72}, (_, i) => (i * 29 + 5) % 256),
  labels: Int32Array.from({length: 16}, (_, i) => i % 2), shape: [6, 6, 2], classes: 2});

/** A deep copy to compare a state with after a step (a mutation would show as a difference). */
const copy = (s: PruneState): PruneState => JSON.parse(JSON.stringify(s));

test('setup: cpu backend', async () => {
  await useBackend('cpu');
});

test('step functions on a state give what the Pruner gives, and leave the state passed in as it was', async () => {
  const model = net();
  const p = pruner(model);
  const setup = pruneSetup(group(model));
  const rule = outputRule(model);
  let state = initialState(setup);
  const before = tf.memory().numTensors;
  for (const batch of data.batches(8)) {
    const [prev, was] = [state, copy(state)];
    state = await scoreBatch(setup, state, batch, {outputRule: rule, where: 'test'});
    tf.dispose([batch.xs, batch.ys]);
    assert.deepEqual(prev, was, 'scoreBatch left the state passed in as it was');
  }
  assert.equal(tf.memory().numTensors, before, 'scoreBatch leaks nothing');
  const report = await p.score(data.batches(8));
  assert.equal(state.fisherSteps, 2);
  assert.deepEqual(state.fisher, report.spaces.map((s) => s.fisher));
  assert.equal(state.loss, report.loss);
  assert.deepEqual(state, p.snapshot());
  for (const [normalizer, criterion] of [['memory', 'fisher'], ['flops', 'taylor'], ['none', 'l1'], ['flops', 'random']] as const) {
    const was = copy(state);
    assert.deepEqual(normalize(setup, state, {normalizer, criterion}), p.normalize(normalizer, {criterion}), `${normalizer} ${criterion}`);
    const r = prune(setup, state, {units: 3, normalizer, criterion});
    assert.deepEqual(state, was, 'normalize and prune left the state passed in as it was');
    assert.equal(r.removed.length, 3);
    assert.ok(r.removed.every((u) => !r.state.kept[u.space][u.unit] && state.kept[u.space][u.unit]), 'the removed units are off in the new state only');
    assert.equal(r.state.fisherSteps, 0);
    assert.ok(r.state.fisher.flat().every((f) => f === 0), 'the new state has no Fisher');
  }
  const r = prune(setup, state, {units: 3, normalizer: 'flops', criterion: 'fisher'});
  assert.deepEqual(r.removed, p.prune({units: 3, normalize: 'flops'}));
  assert.deepEqual(r.state, p.snapshot());
  assert.deepEqual(summary(setup, r.state), p.state());
  p.dispose();
  model.dispose();
});

test('a state JSON round-trips: restore() of the parsed snapshot continues exactly; restore() refuses a state of another shape', async () => {
  const model = net();
  const p = pruner(model);
  await p.score(data.batches(8));
  p.prune({units: 2, criterion: 'random'});
  await p.score(data.batches(8), {steps: 1});
  const saved = JSON.stringify(p.snapshot());
  assert.deepEqual(JSON.parse(saved), p.snapshot());
  const q = pruner(model);
  q.restore(JSON.parse(saved));
  assert.deepEqual(q.snapshot(), p.snapshot());
  assert.deepEqual(q.normalize('flops', {criterion: 'random'}), p.normalize('flops', {criterion: 'random'}), 'the random source continues where it was');
  assert.deepEqual(q.prune({units: 2}), p.prune({units: 2}));
  assert.deepEqual(q.state(), p.state());
  // the snapshot and kept are copies: changing them changes nothing until restore()
  const s = p.snapshot();
  const on = s.kept.findIndex((k) => k.filter(Boolean).length > 1);
  const unit = s.kept[on].indexOf(true);
  s.kept[on][unit] = false;
  assert.equal(p.kept[on][unit], true);
  assert.throws(() => { (p.kept[on] as boolean[])[unit] = false; }, TypeError, 'kept is frozen');
  p.restore(s);
  assert.equal(p.kept[on][unit], false);
  // setKept: the same by hand on a copy; back on, and a unit out of range named
  const again = setKept(s, [{space: on, unit}], true);
  assert.equal(s.kept[on][unit], false, 'setKept left the state passed in as it was');
  p.restore(again);
  assert.equal(p.kept[on][unit], true);
  assert.throws(() => setKept(s, [{space: on, unit: 99}], false), new RegExp(`setKept: space ${on} unit 99 is not in the state \\(spaces 0\\.\\.\\d+, units 0\\.\\.\\d+\\)`));
  assert.throws(() => setKept(s, [{space: 99, unit: 0}], false), /setKept: space 99 unit 0 is not in the state \(spaces 0\.\.\d+\)/);
  assert.throws(() => p.restore({...s, kept: s.kept.slice(1)}), /state\.kept must hold one array per space with one entry per unit \(units per space: \[/);
  assert.throws(() => p.restore({...s, fisher: s.fisher.map((f, i) => (i === on ? f.slice(1) : f))}), new RegExp(`state\\.fisher must hold .*; space ${on} differs`));
  assert.throws(() => p.restore({...s, kept: s.kept.map((k, i) => (i === on ? k.map(() => false) : k))}), new RegExp(`state\\.kept must keep at least one unit of every space; space ${on} keeps none`));
  p.dispose();
  q.dispose();
  model.dispose();
});

test('accumulate adds one step to copies; runSchedule on a state removes what run() removes', async () => {
  const s0: PruneState = {kept: [[true, true]], fisher: [[1, 2]], taylor: [[0, 1]], fisherSteps: 1, loss: 3, randomDraws: 0, pruned: false};
  const was = copy(s0);
  const s1 = accumulate(s0, {loss: 0.5, fisher: [Float32Array.of(0.5, 1)], taylor: [[2, 2]]});
  assert.deepEqual(s1, {kept: [[true, true]], fisher: [[1.5, 3]], taylor: [[2, 3]], fisherSteps: 2, loss: 0.5, randomDraws: 0, pruned: false});
  assert.deepEqual(s0, was);
  s1.kept[0][0] = false;
  assert.equal(s0.kept[0][0], true, 'accumulate shares no arrays it could change');
  const model = net();
  const p = pruner(model);
  // lr 0: the weights never change, so the schedule on a state sees what run() sees
  const run = await p.run({data, targetFlops: 0.7, interval: 2, batchSize: 8, normalize: 'flops', lr: 0});
  const setup = pruneSetup(group(model));
  const before = tf.memory().numTensors;
  const r = await runSchedule(setup, initialState(setup), {data, targetFlops: 0.7, interval: 2, unitsPerPrune: 1, normalizer: 'flops', criterion: 'fisher',
    batchSize: 8, seed: 0, checkpointEvery: 10, step: {outputRule: outputRule(model)}});
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(r.rows, run.rows);
  assert.equal(r.steps, run.steps);
  assert.deepEqual(summary(setup, r.state), run.final);
  p.dispose();
  model.dispose();
});
