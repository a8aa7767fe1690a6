import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {group} from '../src/graph';
import {ImageDataset} from '../src/data';
import {pruner} from '../src/prune';

const L = tf.layers;
const conv = (filters: number, name: string, kernelSize = 3) =>
  L.conv2d({filters, kernelSize, padding: 'same', name, kernelInitializer: tf.initializers.randomUniform({minval: -1, maxval: 1, seed: name.charCodeAt(0)})});
const bn = (name: string) => L.batchNormalization({name, gammaInitializer: tf.initializers.randomUniform({minval: -2, maxval: 2, seed: name.length * 7 + name.charCodeAt(2)})});

/** a -> bnA, b -> bnB, added (a and b share a space, normalized by bnA and bnB); c -> bnC; head. */
function bnNet(): tf.LayersModel {
  const x = tf.input({shape: [6, 6, 2]});
  const a = bn('bnA').apply(conv(4, 'a').apply(x)) as tf.SymbolicTensor;
  const b = bn('bnB').apply(conv(4, 'b').apply(L.reLU().apply(a))) as tf.SymbolicTensor;
  const c = bn('bnC').apply(conv(3, 'c', 1).apply(L.add().apply([a, b]))) as tf.SymbolicTensor;
  const y = L.dense({units: 2, name: 'head'}).apply(L.globalAveragePooling2d({}).apply(c)) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: y, name: 'bnnet'});
}

/** Without BatchNorm: every sample's loss depends on that sample alone, so gate gradients can be taken per sample by hand. */
function plainNet(): tf.LayersModel {
  const x = tf.input({shape: [6, 6, 2]});
  const a = conv(4, 'a').apply(x) as tf.SymbolicTensor;
  const b = conv(4, 'b').apply(a) as tf.SymbolicTensor;
  const c = conv(3, 'c', 1).apply(L.add().apply([a, b])) as tf.SymbolicTensor;
  const y = L.dense({units: 2, name: 'head'}).apply(L.globalAveragePooling2d({}).apply(c)) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: y, name: 'plain'});
}

/** Per output channel (last axis) of a layer's kernel: sum |w| or sqrt(sum w^2), by plain loops over its values. */
function channelNorms(model: tf.LayersModel, layer: string, p: 1 | 2): number[] {
  const k = model.getLayer(layer).getWeights()[0];
  const values = k.dataSync();
  const out = k.shape[k.rank - 1];
  const sums = new Array<number>(out).fill(0);
  values.forEach((v, i) => { sums[i % out] += p === 1 ? Math.abs(v) : v * v; });
  return p === 1 ? sums : sums.map(Math.sqrt);
}

const spaceWith = (model: tf.LayersModel, layer: string) => group(model).spaces.findIndex((s) => s.producers.includes(layer));
const close = (a: number[], b: number[], what: string) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${v} vs ${b[i]}`));

test('setup: cpu backend', async () => {
  await tf.setBackend('cpu');
});

test('l1, l2 and bn criteria equal hand computations, summed over the producers / BatchNorms of a space; no score needed', () => {
  const model = bnNet();
  const p = pruner(model);
  const ab = spaceWith(model, 'a');
  const c = spaceWith(model, 'c');
  assert.equal(spaceWith(model, 'b'), ab, 'a and b share the space');
  const sum = (x: number[], y: number[]) => x.map((v, i) => v + y[i]);
  const gamma = (name: string) => Array.from(model.getLayer(name).getWeights()[0].dataSync(), Math.abs);
  const expected: Record<string, [number[], number[]]> = {
    l1: [sum(channelNorms(model, 'a', 1), channelNorms(model, 'b', 1)), channelNorms(model, 'c', 1)],
    l2: [sum(channelNorms(model, 'a', 2), channelNorms(model, 'b', 2)), channelNorms(model, 'c', 2)],
    bn: [sum(gamma('bnA'), gamma('bnB')), gamma('bnC')],
  };
  const before = tf.memory().numTensors;
  for (const [criterion, [inAB, inC]] of Object.entries(expected)) {
    const ranked = p.normalize('none', {criterion: criterion as 'l1'});
    assert.equal(ranked.criterion, criterion);
    const value = (s: number, k: number) => ranked.units.find((u) => u.space === s && u.unit === k)!.fisher;
    close(inAB.map((_, k) => value(ab, k)), inAB, `${criterion} a+b`);
    close(inC.map((_, k) => value(c, k)), inC, `${criterion} c`);
    assert.ok(ranked.units.every((u, i) => i === 0 || ranked.units[i - 1].score <= u.score));
  }
  assert.equal(tf.memory().numTensors, before, 'criteria leak no tensors');
  // prune() removes what normalize ranks first by the same normalizer and criterion
  const first = p.normalize('none', {criterion: 'bn'}).units[0];
  const [removed] = p.prune({normalize: 'none', criterion: 'bn'});
  assert.deepEqual([removed.space, removed.unit, removed.fisher], [first.space, first.unit, first.fisher]);
  assert.throws(() => p.normalize('none', {criterion: 'magnitude' as 'l1'}), /unknown criterion "magnitude": use one of 'fisher', 'taylor', 'l1', 'l2', 'bn', 'random'/);
  p.dispose();
  model.dispose();
});

test('bn criterion on a space without BatchNorm says which space', () => {
  const model = plainNet();
  const p = pruner(model);
  assert.throws(() => p.normalize('none', {criterion: 'bn'}), /criterion 'bn' needs a BatchNormalization with a scale on every pruned space; space \d+ \(a, b\), space \d+ \(c\) have none/);
  p.dispose();
  model.dispose();
});

test('taylor criterion equals sum_n |sum over consumers of d(l_n / B)/d(mask)| by per-sample hand gradients; fisher is the sum of their squares', async () => {
  const model = plainNet();
  const [wa, ba, wb, bb, wc, bc, wh, bhead] = model.getWeights();
  const B = 4;
  const xs = tf.randomUniform([B, 6, 6, 2], -1, 1, 'float32', 3) as tf.Tensor4D;
  const ys = tf.oneHot([0, 1, 1, 0], 2) as tf.Tensor2D;
  const taylor = new Float64Array(4);
  const fisher = new Float64Array(4);
  for (let n = 0; n < B; n++) {
    const x = xs.slice([n, 0, 0, 0], [1, 6, 6, 2]);
    const y = ys.slice([n, 0], [1, 2]);
    // masks on a's and b's channels at their consumers: b reads a, c reads a + b
    const f = (mb: tf.Tensor, mc: tf.Tensor): tf.Scalar => {
      const a = tf.conv2d(x as tf.Tensor4D, wa as tf.Tensor4D, 1, 'same').add(ba);
      const b = tf.conv2d(a.mul(mb) as tf.Tensor4D, wb as tf.Tensor4D, 1, 'same').add(bb);
      const c = tf.conv2d(a.add(b).mul(mc) as tf.Tensor4D, wc as tf.Tensor4D, 1, 'same').add(bc);
      return tf.losses.softmaxCrossEntropy(y, c.mean([1, 2]).matMul(wh).add(bhead)).div(B) as tf.Scalar;
    };
    const [gb, gc] = tf.grads(f)([tf.ones([4]), tf.ones([4])]);
    gb.add(gc).dataSync().forEach((v, k) => { taylor[k] += Math.abs(v); fisher[k] += v * v; });
  }
  const p = pruner(model);
  await assert.rejects(async () => p.normalize('none', {criterion: 'taylor'}), /normalize\(\) needs Fisher, and none was accumulated/);
  await p.score([{xs, ys}]);
  const ab = spaceWith(model, 'a');
  const values = (criterion: 'taylor' | 'fisher') => {
    const r = p.normalize('none', {criterion});
    return [0, 1, 2, 3].map((k) => r.units.find((u) => u.space === ab && u.unit === k)!.fisher);
  };
  close(values('taylor'), Array.from(taylor), 'taylor');
  close(values('fisher'), Array.from(fisher), 'fisher');
  p.dispose();
  model.dispose();
});

test('random criterion: seeded, in [0, 1), the same for normalize and the prune after it, new after each prune', () => {
  const model = bnNet();
  const [p, q] = [pruner(model), pruner(model)];
  const a = p.normalize('flops', {criterion: 'random'});
  const b = q.normalize('flops', {criterion: 'random'});
  assert.deepEqual(a.units.map((u) => u.fisher), b.units.map((u) => u.fisher), 'seeded: two pruners draw the same');
  assert.ok(a.units.every((u) => u.fisher >= 0 && u.fisher < 1));
  assert.deepEqual(p.normalize('flops', {criterion: 'random'}).units, a.units, 'drawn once until the next prune');
  const [removed] = p.prune({normalize: 'flops', criterion: 'random'});
  assert.deepEqual([removed.space, removed.unit], [a.units[0].space, a.units[0].unit]);
  const after = p.normalize('flops', {criterion: 'random'}).units;
  assert.notDeepEqual(after.map((u) => u.fisher), a.units.filter((u) => u !== a.units[0]).map((u) => u.fisher));
  p.dispose();
  q.dispose();
  model.dispose();
});

test('run({criterion: l1}) prunes the lowest filter norms over the same training; gfp prune --criterion names the choices', async () => {
  const model = bnNet();
  const images = Uint8Array.from({length: 16 * 72}, (_, i) => (i * 29 + 5) % 256);
  const data = new ImageDataset({name: 'tiny', images, labels: Int32Array.from({length: 16}, (_, i) => i % 2), shape: [6, 6, 2], classes: 2});
  const p = pruner(model);
  const before = tf.memory().numTensors;
  const r = await p.run({data, targetFlops: 0.8, interval: 2, batchSize: 8, criterion: 'l1', normalize: 'none', lr: 0});
  assert.equal(tf.memory().numTensors, before);
  assert.ok(r.final.macsRatio <= 0.8 && r.rows.length > 0);
  // lr 0: the weights never change, so every removal is the kept unit of least l1 norm at that time
  const q = pruner(model);
  for (const row of r.rows) {
    const [lowest] = q.normalize('none', {criterion: 'l1'}).units;
    assert.deepEqual([row.space, row.unit], [lowest.space, lowest.unit]);
    q.prune({normalize: 'none', criterion: 'l1'});
  }
  p.dispose();
  q.dispose();
  model.dispose();
  const root = path.join(__dirname, '..', '..');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-criterion-')), 'x');
  const cli = spawnSync(process.execPath, [path.join(root, 'bin', 'gfp.js'), 'prune', '--model', 'resnet20', '--criterion', 'magnitude', '--out', out], {encoding: 'utf8'});
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /--criterion <name>' argument 'magnitude' is invalid\. Allowed choices are fisher, taylor, l1, l2, bn, random/);
});

/** conv a (10 filters) -> conv b (6) -> conv c (5) -> head: three plain spaces of one-channel units. */
function wideNet(): tf.LayersModel {
  const x = tf.input({shape: [6, 6, 2]});
  const a = conv(10, 'a').apply(x) as tf.SymbolicTensor;
  const b = conv(6, 'b').apply(L.reLU().apply(a)) as tf.SymbolicTensor;
  const c = conv(5, 'c').apply(L.reLU().apply(b)) as tf.SymbolicTensor;
  const y = L.dense({units: 2, name: 'head'}).apply(L.globalAveragePooling2d({}).apply(c)) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: y, name: 'wide'});
}

test('roundTo 4: a space loses its lowest units down to the next multiple of 4 at once, ranked by their summed score', () => {
  const model = wideNet();
  const p = pruner(model, {roundTo: 4});
  const [a, b, c] = ['a', 'b', 'c'].map((n) => spaceWith(model, n));
  const norms = {a: channelNorms(model, 'a', 1), b: channelNorms(model, 'b', 1), c: channelNorms(model, 'c', 1)};
  const lowest = (v: number[], n: number) => v.map((x, k) => [x, k]).sort((u, w) => u[0] - w[0] || u[1] - w[1]).slice(0, n);
  // by hand: a 10 -> 8 drops its 2 lowest, b 6 -> 4 its 2 lowest, c 5 -> 4 its lowest; 'none' divides by 1
  const chunks = {a: lowest(norms.a, 2), b: lowest(norms.b, 2), c: lowest(norms.c, 1)};
  const sums = Object.entries(chunks).map(([name, ch]) => [name, ch.reduce((s, [x]) => s + x, 0)] as const).sort((u, w) => u[1] - w[1]);
  const removed = p.prune({units: 1, normalize: 'none', criterion: 'l1'});
  const name = sums[0][0] as 'a' | 'b' | 'c';
  const space = {a, b, c}[name];
  assert.deepEqual(removed.map((r) => [r.space, r.unit]), chunks[name].map(([, k]) => [space, k]), `the chunk of ${name}`);
  close(removed.map((r) => r.fisher), removed.map(() => sums[0][1]), 'chunk score');
  // the floor: every space at its smallest multiple of 4 (c's 5 channels go to 4, not to 1)
  const p1 = pruner(model);
  assert.ok(p.minFlopsRatio() > p1.minFlopsRatio());
  assert.throws(() => pruner(model, {roundTo: 0}), /pruner\(\{roundTo\}\) must be a positive integer, got 0/);
  p.dispose();
  p1.dispose();
  model.dispose();
});

test('run({roundTo: 4}): every kept and exported channel count is a multiple of 4 or the full width', async () => {
  const model = wideNet();
  const images = Uint8Array.from({length: 16 * 72}, (_, i) => (i * 29 + 5) % 256);
  const data = new ImageDataset({name: 'tiny', images, labels: Int32Array.from({length: 16}, (_, i) => i % 2), shape: [6, 6, 2], classes: 2});
  const floor = pruner(model, {roundTo: 4});
  const target = floor.minFlopsRatio() + 0.05;
  floor.dispose();
  const p = pruner(model);
  const r = await p.run({data, targetFlops: target, interval: 1, batchSize: 8, roundTo: 4, lr: 0.01});
  const widths = r.final.spaces.filter((s) => s.prunable).map((s) => [s.channels, s.keptChannels]);
  assert.ok(widths.some(([full, kept]) => kept < full), 'something was pruned');
  for (const [full, kept] of widths) assert.ok(kept === full || kept % 4 === 0, `${kept} of ${full} channels`);
  const small = p.export();
  for (const layer of ['a', 'b', 'c']) {
    const filters = small.getLayer(layer).getConfig().filters as number;
    const full = model.getLayer(layer).getConfig().filters as number;
    assert.ok(filters === full || filters % 4 === 0, `${layer}: ${filters} filters`);
  }
  small.dispose();
  p.dispose();
  model.dispose();
});
