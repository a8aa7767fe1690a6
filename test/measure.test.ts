import {before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {compareLatency, countCosts, macsOf, measure, paramsOf} from '../src/measure';

const sym = (y: tf.SymbolicTensor | tf.SymbolicTensor[] | tf.Tensor | tf.Tensor[]) => y as tf.SymbolicTensor;
const macsByName = (model: tf.LayersModel) =>
  Object.fromEntries(countCosts(model).layers.map((row) => [row.name, row.macs]));

// A stand-in with GroupConv2D's class name and config (src/models is not imported):
// 3x3 'same', stride 1, kernel [3, 3, cin / groups, filters]. Only symbolic shapes are needed.
class FakeGroupConv extends tf.layers.Layer {
  static className = 'GroupConv2D';
  constructor(private readonly filters: number, private readonly groups: number) { super({}); }
  override build(shape: tf.Shape | tf.Shape[]): void {
    const cin = (shape as tf.Shape)[3] as number;
    this.addWeight('kernel', [3, 3, cin / this.groups, this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }
  override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = shape as tf.Shape;
    return [s[0], s[1], s[2], this.filters];
  }
  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), filters: this.filters, kernelSize: [3, 3], groups: this.groups};
  }
}

// A class no cost handler knows; identity.
class Mystery extends tf.layers.Layer {
  static className = 'Mystery';
  override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] { return shape; }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor { return tf.clone(Array.isArray(inputs) ? inputs[0] : inputs); }
}

// input [9, 9, 3]
function convNet(): tf.LayersModel {
  const x = tf.input({shape: [9, 9, 3]});
  let y = tf.layers.conv2d({name: 'c1', filters: 4, kernelSize: 3, strides: 1, padding: 'same'}).apply(x); // [9, 9, 4]
  y = tf.layers.conv2d({name: 'c2', filters: 6, kernelSize: 3, strides: 2, padding: 'valid'}).apply(y); // [4, 4, 6]
  y = tf.layers.conv2d({name: 'c3', filters: 8, kernelSize: 3, strides: 2, padding: 'same'}).apply(y); // [2, 2, 8]
  y = tf.layers.batchNormalization({name: 'bn'}).apply(y);
  y = tf.layers.activation({name: 'relu', activation: 'relu'}).apply(y);
  y = tf.layers.depthwiseConv2d({name: 'd1', kernelSize: 3, depthMultiplier: 1, padding: 'same'}).apply(y); // [2, 2, 8]
  y = tf.layers.depthwiseConv2d({name: 'd2', kernelSize: 2, depthMultiplier: 2, padding: 'valid'}).apply(y); // [1, 1, 16]
  y = tf.layers.flatten({name: 'flat'}).apply(y); // [16]
  y = tf.layers.dense({name: 'fc', units: 10}).apply(y); // [10]
  return tf.model({inputs: x, outputs: sym(y)});
}

describe('measure', () => {
  before(async () => { await tf.setBackend('cpu'); });

  it('counts conv, depthwise and dense MACs as by hand', () => {
    const model = convNet();
    assert.deepEqual(macsByName(model), {
      c1: 9 * 9 * 3 * 3 * 3 * 4, // stride 1, same
      c2: 4 * 4 * 3 * 3 * 4 * 6, // stride 2, valid: floor((9 - 3) / 2) + 1 = 4
      c3: 2 * 2 * 3 * 3 * 6 * 8, // stride 2, same: ceil(4 / 2) = 2
      bn: 0, relu: 0, flat: 0,
      d1: 2 * 2 * 3 * 3 * 8 * 1, // depthwise, multiplier 1
      d2: 1 * 1 * 2 * 2 * 8 * 2, // depthwise, multiplier 2
      fc: 16 * 10, // flatten -> dense
    });
    assert.equal(macsOf(model), 8748 + 3456 + 1728 + 288 + 64 + 160);
    for (const row of countCosts(model).layers) {
      assert.deepEqual(row.outputShape, (model.getLayer(row.name).outputShape as number[]).slice(1));
    }
    model.dispose();
  });

  it('counts params as model.countParams(), BatchNorm statistics as non-trainable', () => {
    const model = convNet();
    const c = countCosts(model);
    assert.equal(c.params, model.countParams());
    assert.equal(paramsOf(model), model.countParams());
    assert.equal(c.nonTrainableParams, 2 * 8); // moving mean and variance of 8 channels
    assert.equal(c.trainableParams + c.nonTrainableParams, c.params);
    assert.equal(c.layers.find((row) => row.name === 'bn')?.params, 4 * 8);
    model.dispose();
  });

  it('counts memory as conv/dense output elements, memoryAll as all outputs', () => {
    const model = convNet();
    const c = countCosts(model);
    const convDense = 9 * 9 * 4 + 4 * 4 * 6 + 2 * 2 * 8 + 2 * 2 * 8 + 1 * 1 * 16 + 10;
    assert.equal(c.memory, convDense);
    assert.equal(c.memoryAll, convDense + 2 * 2 * 8 /* bn */ + 2 * 2 * 8 /* relu */ + 16 /* flatten */);
    assert.deepEqual(c.inputShapes, [[9, 9, 3]]);
    model.dispose();
  });

  it('counts dense on a rank-3 input per position, channelsFirst conv and grouped conv', () => {
    const x = tf.input({shape: [5, 7, 8]});
    const d = tf.layers.dense({name: 'd', units: 3}).apply(x); // [5, 7, 3]
    const g = new FakeGroupConv(6, 2).apply(x); // [5, 7, 6]
    const xf = tf.input({shape: [3, 9, 9]});
    const cf = tf.layers.conv2d({name: 'cf', filters: 4, kernelSize: 3, dataFormat: 'channelsFirst'}).apply(xf); // [4, 7, 7]
    const model = tf.model({inputs: [x, xf], outputs: [sym(d), sym(g), sym(cf)]});
    const byClass = Object.fromEntries(countCosts(model).layers.map((row) => [row.className, row.macs]));
    assert.deepEqual(byClass, {
      Dense: 5 * 7 * 8 * 3,
      GroupConv2D: 5 * 7 * 3 * 3 * (8 / 2) * 6,
      Conv2D: 7 * 7 * 3 * 3 * 3 * 4,
    });
    assert.equal(countCosts(model).memory, 5 * 7 * 3 + 5 * 7 * 6 + 4 * 7 * 7);
    assert.equal(paramsOf(model), model.countParams());
    model.dispose();
  });

  it('sums the costs of a shared layer over its call sites in this model only', () => {
    const conv = tf.layers.conv2d({name: 'shared', filters: 3, kernelSize: 3, padding: 'same'});
    const other = tf.input({shape: [10, 10, 2]});
    const otherModel = tf.model({inputs: other, outputs: sym(conv.apply(other))}); // a call outside `model`
    const a = tf.input({shape: [6, 6, 2]});
    const b = tf.input({shape: [4, 4, 2]});
    const model = tf.model({inputs: [a, b], outputs: [sym(conv.apply(a)), sym(conv.apply(b))]});
    const [row] = countCosts(model).layers;
    assert.equal(row.calls, 2);
    assert.equal(row.macs, 6 * 6 * 3 * 3 * 2 * 3 + 4 * 4 * 3 * 3 * 2 * 3);
    assert.equal(row.activations, 6 * 6 * 3 + 4 * 4 * 3);
    assert.equal(countCosts(model).params, model.countParams()); // weights counted once
    assert.equal(macsOf(otherModel), 10 * 10 * 3 * 3 * 2 * 3);
    model.dispose();
  });

  it('counts a dense layer applied twice, and a nested model once per call', () => {
    const dense = tf.layers.dense({name: 'twice', units: 4});
    const x = tf.input({shape: [4]});
    const model = tf.model({inputs: x, outputs: sym(dense.apply(dense.apply(x)))});
    assert.equal(macsOf(model), 2 * 4 * 4);
    assert.equal(paramsOf(model), 4 * 4 + 4);

    const inner = tf.sequential({layers: [tf.layers.dense({name: 'inner_fc', units: 4, inputShape: [4]})]});
    const y = tf.input({shape: [4]});
    const outer = tf.model({inputs: y, outputs: sym(inner.apply(inner.apply(y)))});
    const c = countCosts(outer);
    assert.deepEqual(c.layers.map((row) => [row.name, row.calls, row.macs]), [[`${inner.name}/inner_fc`, 2, 2 * 4 * 4]]);
    assert.equal(c.params, outer.countParams());
    model.dispose();
    outer.dispose();
  });

  it('flags an unknown layer class with 0 MACs and does not throw', async () => {
    const x = tf.input({shape: [4]});
    const y = tf.layers.dense({name: 'fc', units: 3}).apply(new Mystery({name: 'm'}).apply(x));
    const model = tf.model({inputs: x, outputs: sym(y)});
    const m = await measure(model, {runs: 1, warmup: 0});
    const row = m.layers.find((r) => r.name === 'm');
    assert.equal(row?.unknown, true);
    assert.equal(row?.macs, 0);
    assert.deepEqual(m.unknownClasses, ['Mystery']);
    assert.equal(m.macs, 4 * 3);
    assert.equal(m.layers.find((r) => r.name === 'fc')?.unknown, undefined);
    model.dispose();
  });

  it('times each batch size with the requested runs, leaks no tensors, returns plain data', async () => {
    const model = convNet();
    const before = tf.memory().numTensors;
    const m = await measure(model, {batchSize: [1, 3], runs: 5, warmup: 1});
    assert.equal(tf.memory().numTensors, before);
    assert.equal(m.backend, 'cpu');
    assert.deepEqual(m.latency.map((l) => [l.batchSize, l.runs]), [[1, 5], [3, 5]]);
    for (const l of m.latency) {
      assert.ok(Number.isFinite(l.medianMs) && l.medianMs > 0, `median ${l.medianMs}`);
      assert.ok(l.minMs <= l.medianMs && l.medianMs <= l.maxMs);
      assert.ok(l.iqrMs !== undefined && l.iqrMs >= 0 && l.iqrMs <= l.maxMs - l.minMs);
    }
    assert.deepEqual(JSON.parse(JSON.stringify(m)), m);
    assert.deepEqual((await measure(model, {latency: false})).latency, []);
    model.dispose();
  });

  it('measures several models interleaved: one Measurement each, costs as measured alone', async () => {
    const [a, b] = [convNet(), convNet()];
    const calls: string[] = [];
    for (const [name, m] of [['a', a], ['b', b]] as const) {
      const apply = m.apply.bind(m);
      m.apply = (x, args) => (calls.push(name), apply(x, args));
    }
    const before = tf.memory().numTensors;
    const both = await measure([a, b], {batchSize: [1, 2], runs: 3, warmup: 1});
    assert.equal(tf.memory().numTensors, before);
    assert.equal(both.length, 2);
    both.forEach((m, i) => {
      const {latency, ...costs} = m;
      const {latency: _, ...alone} = {...countCosts([a, b][i]), backend: 'cpu', latency: []};
      assert.deepEqual(costs, alone);
      assert.deepEqual(latency.map((l) => [l.batchSize, l.runs]), [[1, 3], [2, 3]]);
    });
    assert.equal(calls.join(''), 'ab'.repeat(8), 'run by run, a then b, at each batch size');
    await assert.rejects(measure([], {}), /no model given/);
    [a, b].forEach((m) => m.dispose());
  });

  it('rejects bad options and undefined shapes, naming them', async () => {
    const model = convNet();
    await assert.rejects(measure(model, {runs: 0}), /runs must be an integer >= 1/);
    await assert.rejects(measure(model, {batchSize: [2, 1.5]}), /batchSize must be an integer >= 1, got 1.5/);
    const x = tf.input({shape: [null, null, 3]});
    const open = tf.model({inputs: x, outputs: sym(tf.layers.conv2d({name: 'open', filters: 2, kernelSize: 3}).apply(x))});
    assert.throws(() => countCosts(open), /layer 'open'.*fixed inputShape/);
    assert.equal(paramsOf(open), open.countParams());
    model.dispose();
    open.dispose();
  });
});

describe('compareLatency', () => {
  it('times every model at every run, in turn, and leaks nothing', async () => {
    await tf.setBackend('cpu');
    const build = (filters: number) => {
      const x = tf.input({shape: [8, 8, 2]});
      return tf.model({inputs: x, outputs: tf.layers.conv2d({filters, kernelSize: 3}).apply(x) as tf.SymbolicTensor});
    };
    const [a, b] = [build(2), build(16)];
    const before = tf.memory().numTensors;
    const r = await compareLatency([a, b], 3, {runs: 4, warmup: 1});
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(r.map((l) => [l.batchSize, l.runs]), [[3, 4], [3, 4]]);
    for (const l of r) assert.ok(l.minMs <= l.medianMs && l.medianMs <= l.maxMs && l.medianMs > 0);
    await assert.rejects(compareLatency([a], 0, {runs: 1, warmup: 0}), /option batchSize must be an integer >= 1, got 0/);
    a.dispose();
    b.dispose();
  });
});
