import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {group} from '../src/graph';
import {callWork, costsAt, LatencyModel, profileLatency, pruner} from '../src/prune';

const L = tf.layers;
const pad8 = (c: number): number => Math.ceil(c / 8) * 8;

/** conv 3x3 (16) -> relu -> conv 3x3 (16) -> global average pool -> dense (3), on 6x6x3 inputs. */
function tinyNet(): tf.LayersModel {
  return tf.sequential({layers: [
    L.conv2d({inputShape: [6, 6, 3], filters: 16, kernelSize: 3, padding: 'same'}), L.reLU(),
    L.conv2d({filters: 16, kernelSize: 3, padding: 'same'}), L.globalAveragePooling2d({}), L.dense({units: 3})]});
}

/**
 * A backend whose kernels run channels in packs of 8: ms = 0.05 + 1e-4 * output positions * padded out channels
 * (times kernel area * padded in channels for convs and dense layers), per sample.
 */
function packedBy8(layer: tf.layers.Layer, inputs: tf.Tensor[]): number {
  const inShape = inputs[0].shape;
  const out = layer.computeOutputShape(inShape) as number[];
  const positions = out.slice(1, -1).reduce((a, b) => a * b, 1);
  const kernel = layer.getConfig().kernelSize as number[] | undefined;
  const weighted = layer.getClassName() === 'Conv2D' || layer.getClassName() === 'Dense';
  const reduce = weighted ? (kernel ? kernel[0] * kernel[1] : 1) * pad8(inShape[inShape.length - 1]) : 1;
  return 0.05 + 1e-4 * positions * pad8(out[out.length - 1]) * reduce;
}

/** Counts with the first prunable space (the first conv's 16 filters) at n units, the others full. */
const at = (g: ReturnType<typeof group>, n: number): number[] => {
  const first = g.spaces.findIndex((s) => s.prunable);
  assert.equal(g.spaces[first].units, 16);
  return g.spaces.map((s, i) => (i === first ? n : s.units));
};

test('latency model: plain JSON, exact at the profiled widths, pack 8 found, no tensors left', async () => {
  const model = tinyNet();
  const g = group(model);
  const before = tf.memory().numTensors;
  const lat = await profileLatency(g, {batchSize: 2, runs: 1, timeCall: packedBy8});
  assert.equal(tf.memory().numTensors, before, 'profiling leaks no tensors');
  assert.deepEqual(JSON.parse(JSON.stringify(lat)), lat, 'plain JSON data');
  for (const c of lat.calls) {
    assert.equal(c.pack, 8, `${c.layer}: the pack of the injected timings`);
    assert.ok(c.residualMs! < 1e-9, `${c.layer}: exact fit (residual ${c.residualMs})`);
  }
  // at each profiled width the prediction is the sum of the profiled times (within the fits' residuals)
  const widths = [1, 0.9, 0.75, 0.6, 0.5, 0.4, 0.25, 0.15];
  const tolerance = lat.calls.reduce((s, c) => s + c.residualMs!, 0) + 1e-9;
  widths.forEach((f, w) => {
    const counts = g.spaces.map((s) => (s.prunable ? Math.max(1, Math.round(f * s.units)) : s.units));
    const profiled = lat.calls.reduce((s, c) => s + c.ms[w], 0);
    const reloaded = JSON.parse(JSON.stringify(lat)) as LatencyModel;
    assert.ok(Math.abs(costsAt(g, counts, reloaded).time! - profiled) <= tolerance, `width ${f}`);
  });
  model.dispose();
});

test('latency model: an aligned width costs less per channel than an unaligned one; the plain line misses it', async () => {
  const model = tinyNet();
  const g = group(model);
  const packed = await profileLatency(g, {batchSize: 2, runs: 1, timeCall: packedBy8});
  const linear = await profileLatency(g, {batchSize: 2, runs: 1, timeCall: packedBy8, packs: [1]});
  const perChannel = (lat: LatencyModel, n: number): number => costsAt(g, at(g, n), lat).time! / n;
  assert.ok(perChannel(packed, 8) < perChannel(packed, 9), '8 channels: one pack; 9 channels: two');
  assert.ok(perChannel(linear, 8) > perChannel(linear, 9), 'a line through the same times spreads the fixed cost instead');
  // inside a pack, dropping a channel frees (almost) nothing
  const freed = (lat: LatencyModel, n: number): number => costsAt(g, at(g, n), lat).time! - costsAt(g, at(g, n - 1), lat).time!;
  assert.ok(freed(packed, 16) < 1e-6 * freed(packed, 9), `16 -> 15 frees ${freed(packed, 16)}, 9 -> 8 frees ${freed(packed, 9)}`);
  assert.ok(freed(linear, 16) > 0.01);
  model.dispose();
});

test('latency model: a model of the old shape (no pack) reads as its line; bad packs and a failing timer are refused cleanly', async () => {
  const model = tinyNet();
  const g = group(model);
  const lat = await profileLatency(g, {batchSize: 2, runs: 1, timeCall: packedBy8});
  const old: LatencyModel = {...lat, calls: lat.calls.map(({layer, call, kind, work, ms, slope, intercept}) => ({layer, call, kind, work, ms, slope, intercept}))};
  const counts = at(g, 11);
  const work = callWork(g, counts);
  const byHand = g.calls.reduce((t, c, i) => {
    const f = old.calls.find((o) => o.layer === c.call.layer.name);
    return f ? t + f.intercept + f.slope * (f.kind === 'macs' ? work[i].macs! : work[i].elements) : t;
  }, 0);
  assert.ok(Math.abs(costsAt(g, counts, old).time! - byHand) < 1e-9);
  assert.notEqual(costsAt(g, counts, lat).time, byHand, 'the new fields change the prediction');
  const before = tf.memory().numTensors;
  await assert.rejects(profileLatency(g, {packs: [1, 0]}), /packs holds 0; a pack is a whole number of channels, at least 1/);
  await assert.rejects(profileLatency(g, {runs: 1, timeCall: () => { throw new Error('timer broke'); }}), /timer broke/);
  assert.equal(tf.memory().numTensors, before, 'nothing left when profiling throws');
  model.dispose();
});

test("'latency' normalizer on packed timings: spaces of whole packs still rank, by the time per unit over the next pack, and prune", async () => {
  const model = tinyNet();
  const lat = await profileLatency(group(model), {batchSize: 2, runs: 1, timeCall: packedBy8});
  const p = pruner(model, {inputShape: [6, 6, 3], latency: lat});
  const g = p.grouping;
  const prunable = g.spaces.flatMap((s, i) => (s.prunable ? [i] : []));
  // 16 channels are two whole packs: one channel less frees nothing, eight less free one pack
  const ranked = p.normalize('latency', {criterion: 'l1'});
  for (const s of prunable) {
    const unit = ranked.units.find((u) => u.space === s);
    assert.ok(unit, `space ${s} is ranked`);
    const full = g.spaces.map((sp) => sp.units);
    const fewer = full.map((n, i) => (i === s ? n - 8 : n));
    const perUnit = (costsAt(g, full, lat).time! - costsAt(g, fewer, lat).time!) / 8;
    assert.ok(perUnit > 0 && Math.abs(unit.cost - perUnit) <= 1e-9 * perUnit, `space ${s}: cost ${unit.cost}, time per unit over a pack ${perUnit}`);
  }
  // pruning one unit at a time goes on through the packs, as the ranking said
  const removed = p.prune({units: 20, normalize: 'latency', criterion: 'l1'});
  assert.equal(removed.length, 20);
  assert.equal(p.kept.reduce((a, k) => a + k.filter((on) => !on).length, 0), 20);
  p.dispose();
  model.dispose();
});
