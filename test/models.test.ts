import {before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {byName, GroupConv2D, groupConv2d, mobilenetV2, regnetx, resnet, zoo, zooNames} from '../src/models';
import type {ZooName} from '../src/models';

type Sym = tf.SymbolicTensor;
const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Max |a - b| over all elements (both kept). */
function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Reference grouped conv: tf.conv2d on sliced channels of x [B,H,W,cin] and kernel [kh,kw,cin/G,cout]. */
function referenceGroupConv(x: tf.Tensor4D, k: tf.Tensor4D, groups: number, strides: number | [number, number], padding: 'same' | 'valid'): tf.Tensor4D {
  const [b, h, w, cin] = x.shape;
  const [kh, kw, cinG, cout] = k.shape;
  const coutG = cout / groups;
  const outs = [];
  for (let g = 0; g < groups; g++) {
    const xg = tf.slice(x, [0, 0, 0, g * (cin / groups)], [b, h, w, cin / groups]);
    const kg = tf.slice(k, [0, 0, 0, g * coutG], [kh, kw, cinG, coutG]);
    outs.push(tf.conv2d(xg, kg, strides, padding));
  }
  return tf.concat(outs, 3);
}

/** Parameters of resnet(depth, width) counted from the architecture description (BN has 4 per channel). */
function resnetParamsByHand(depth: number, width: number, inC: number, classes: number): {total: number; trainable: number} {
  const conv = (k: number, cin: number, cout: number) => k * k * cin * cout;
  const n = (depth - 2) / 6;
  let convs = conv(3, inC, width);
  const bnChannels = [width];
  let cin = width;
  for (let s = 0; s < 3; s++) {
    const w = width * 2 ** s;
    for (let i = 0; i < n; i++) {
      convs += conv(3, cin, w) + conv(3, w, w);
      bnChannels.push(w, w);
      if (cin !== w) { convs += conv(1, cin, w); bnChannels.push(w); }
      cin = w;
    }
  }
  const dense = cin * classes + classes;
  const bn = bnChannels.reduce((a, c) => a + c, 0);
  return {total: convs + dense + 4 * bn, trainable: convs + dense + 2 * bn};
}

before(async () => { await tf.setBackend('cpu'); });

describe('zoo', () => {
  test('every model builds for two input shapes, outputs [B, classes] and leaks nothing on predict', () => {
    for (const name of zooNames()) {
      for (const [shape, classes] of [[[16, 16, 1], 10], [[8, 8, 3], 4]] as const) {
        const model = zoo[name]({inputShape: [...shape], classes, seed: 1});
        assert.deepEqual(model.outputs[0].shape, [null, classes], name);
        const before = tf.memory().numTensors;
        const x = tf.ones([2, ...shape]);
        const y = model.predict(x) as tf.Tensor;
        assert.deepEqual(y.shape, [2, classes], `${name} ${shape}`);
        assert.ok(Array.from(y.dataSync()).every(Number.isFinite), `${name}: finite logits`);
        tf.dispose([x, y]);
        assert.equal(tf.memory().numTensors, before, `${name}: numTensors after predict`);
        model.dispose();
      }
    }
  });

  test('layer names are unique, readable and free of "/"', () => {
    for (const name of zooNames()) {
      const model = zoo[name]({inputShape: [8, 8, 3], classes: 4});
      const names = model.layers.map((l) => l.name);
      assert.equal(new Set(names).size, names.length, name);
      for (const n of names) assert.match(n, /^[a-z0-9_]+$/, `${name}: ${n}`);
      model.dispose();
    }
  });

  test('byName builds zoo models and rejects unknown names listing the valid ones', () => {
    const m = byName('resnet20', {inputShape: [8, 8, 1], classes: 3});
    assert.equal(m.name, 'resnet20');
    m.dispose();
    assert.throws(() => byName('resnet18', {inputShape: [8, 8, 1], classes: 3}), (e: Error) =>
      /resnet18/.test(e.message) && zooNames().every((n) => e.message.includes(n)));
  });

  test('seeded builds are identical (seed 0, the CLI default, too); another seed differs', () => {
    for (const name of zooNames()) {
      const opts = {inputShape: [8, 8, 3] as [number, number, number], classes: 4};
      for (const seed of [0, 3]) {
        const [a, b, c] = [seed, seed, seed + 1].map((s) => zoo[name]({...opts, seed: s}));
        const [wa, wb, wc] = [a, b, c].map((m) => m.getWeights());
        assert.equal(wa.length, wb.length);
        wa.forEach((w, i) => assert.equal(maxDiff(w, wb[i]), 0, `${name} seed ${seed} weight ${i}`));
        assert.ok(wa.some((w, i) => maxDiff(w, wc[i]) > 0), `${name}: seed ${seed + 1} differs from seed ${seed}`);
        [a, b, c].forEach((m) => m.dispose());
      }
    }
  });

  // 4x4 inputs keep the cpu backend at ~0.2-1 s per step. MobileNetV2 gets 8x8: at 4x4 its
  // last stages see 1x1 maps of 8 samples, where channels that ReLU6 zeroes have ~0 batch
  // variance and BN scales their gradients by 1/sqrt(eps); SGD then jumps around.
  const lossInputSize: Partial<Record<ZooName, number>> = {mobilenetv2: 8};
  test('loss falls over a few SGD steps on a tiny fixed batch', () => {
    for (const name of zooNames()) {
      const hw = lossInputSize[name] ?? 4;
      const model = zoo[name]({inputShape: [hw, hw, 3], classes: 4, seed: 7});
      const before = tf.memory().numTensors;
      const xs = tf.randomUniform([8, hw, hw, 3], 0, 1, 'float32', 11);
      const ys = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4));
      const opt = tf.train.sgd(0.01);
      const lossFn = () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, {training: true}) as tf.Tensor) as tf.Scalar;
      const losses: number[] = [];
      for (let step = 0; step < 5; step++) {
        const loss = opt.minimize(lossFn, true)!;
        losses.push(loss.dataSync()[0]);
        loss.dispose();
      }
      const final = tf.tidy(() => lossFn().dataSync()[0]);
      assert.ok(final < losses[0] * 0.9, `${name}: loss ${losses.map((l) => l.toFixed(3)).join(' ')} -> ${final.toFixed(3)}`);
      opt.dispose();
      tf.dispose([xs, ys]);
      assert.equal(tf.memory().numTensors, before, `${name}: numTensors after training`);
      model.dispose();
    }
  });
});

describe('resnet', () => {
  test('parameter count of depth 20 equals the hand count', () => {
    for (const [inC, classes] of [[1, 10], [3, 100]]) {
      const m = resnet({depth: 20, inputShape: [28, 28, inC], classes});
      const want = resnetParamsByHand(20, 16, inC, classes);
      assert.equal(m.countParams(), want.total);
      assert.equal(m.trainableWeights.reduce((a, w) => a + size(w.shape as number[]), 0), want.trainable);
      m.dispose();
    }
  });

  test('projection shortcut is a conv+BN feeding a real Add', () => {
    const m = resnet({depth: 20, inputShape: [16, 16, 1], classes: 10});
    assert.equal(m.getLayer('stage2_block0_proj').getClassName(), 'Conv2D');
    const add = m.getLayer('stage2_block0_add');
    assert.equal(add.getClassName(), 'Add');
    assert.deepEqual(add.inboundNodes[0].inboundLayers.map((l) => l.name).sort(), ['stage2_block0_conv2_bn', 'stage2_block0_proj_bn']);
    assert.deepEqual(m.getLayer('stage3_block2_add').outputShape, [null, 4, 4, 64]);
    m.dispose();
  });

  test('rejects a depth not of the form 6n+2', () => {
    for (const depth of [18, 21, 2]) {
      assert.throws(() => resnet({depth, inputShape: [8, 8, 1], classes: 2}), /resnet: depth must be 6n\+2/);
    }
  });
});

describe('mobilenetV2 / regnetx', () => {
  test('cifar variant downsamples 28 -> 4 and 32 -> 4 with ReLU6 and depthwise blocks', () => {
    for (const hw of [28, 32]) {
      const m = mobilenetV2({inputShape: [hw, hw, 3], classes: 10});
      assert.deepEqual(m.getLayer('last_conv').outputShape, [null, 4, 4, 1280]);
      assert.equal(m.getLayer('stage2_block0_dw').getClassName(), 'DepthwiseConv2D');
      assert.equal(m.getLayer('stage2_block1_add').getClassName(), 'Add');
      assert.equal((m.getLayer('stage2_block0_dw_relu6').getConfig() as {maxValue: number}).maxValue, 6);
      m.dispose();
    }
  });

  test('regnetx rejects widths that are not multiples of the group width', () => {
    assert.throws(() => regnetx({inputShape: [8, 8, 1], classes: 2, widths: [20], depths: [1]}), /regnetx: widths\[0\] \(20\).*groupWidth \(8\)/);
  });
});

describe('GroupConv2D', () => {
  const cases: Array<[number, number, 'same' | 'valid']> = [];
  for (const g of [1, 2, 4]) for (const s of [1, 2]) for (const p of ['same', 'valid'] as const) cases.push([g, s, p]);

  test('layer output equals tf.conv2d on sliced inputs and kernels', () => {
    const before = tf.memory().numTensors;
    for (const [groups, strides, padding] of cases) {
      const x = tf.randomNormal([2, 7, 7, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
      const k = tf.randomNormal([3, 3, 8 / groups, 12], 0, 1, 'float32', 2) as tf.Tensor4D;
      const bias = tf.randomNormal([12], 0, 1, 'float32', 3);
      const layer = new GroupConv2D({name: `gc_${groups}_${strides}_${padding}`, filters: 12, kernelSize: 3, strides, padding, groups});
      const sym = layer.apply(tf.input({shape: [7, 7, 8]})) as Sym;
      layer.setWeights([k, bias]);
      const y = layer.apply(x) as tf.Tensor;
      const ref = tf.tidy(() => tf.add(referenceGroupConv(x, k, groups, strides, padding), bias));
      assert.deepEqual(y.shape.slice(1), sym.shape.slice(1), 'computeOutputShape');
      assert.deepEqual(y.shape, ref.shape);
      assert.ok(maxDiff(y, ref) < 1e-4, `groups ${groups} strides ${strides} ${padding}`);
      tf.dispose([x, k, bias, y, ref]);
      layer.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  test('gradients equal the reference gradients', () => {
    const before = tf.memory().numTensors;
    for (const [groups, strides, padding] of cases) {
      const x = tf.randomNormal([2, 6, 6, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
      const k = tf.randomNormal([3, 3, 4 / groups, 8], 0, 1, 'float32', 5) as tf.Tensor4D;
      const outShape = tf.tidy(() => groupConv2d(x, k, groups, strides, padding).shape);
      const r = tf.randomNormal(outShape, 0, 1, 'float32', 6); // random cotangent
      const f = (conv: typeof groupConv2d) => tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D, groups, strides, padding), r)));
      const got = f(groupConv2d)([x, k]);
      const want = f(referenceGroupConv)([x, k]);
      got.forEach((g, i) => assert.ok(maxDiff(g, want[i]) < 1e-4, `d${i === 0 ? 'x' : 'kernel'} groups ${groups} strides ${strides} ${padding}`));
      tf.dispose([x, k, r, ...got, ...want]);
    }
    assert.equal(tf.memory().numTensors, before);
  });

  test('a model with GroupConv2D saves and loads back with identical predictions', async () => {
    const input = tf.input({shape: [6, 6, 4]});
    const gc = new GroupConv2D({name: 'gc', filters: 6, kernelSize: 3, strides: 2, padding: 'same', groups: 2,
      kernelInitializer: tf.initializers.heNormal({seed: 1})});
    const y = tf.layers.dense({units: 3, name: 'fc'}).apply(tf.layers.flatten().apply(gc.apply(input))) as Sym;
    const models = [tf.model({inputs: input, outputs: y}), zoo.resnext({inputShape: [8, 8, 3], classes: 4, seed: 2})];
    for (const model of models) {
      let saved: tf.io.ModelArtifacts | undefined;
      await model.save(tf.io.withSaveHandler(async (a) => { saved = a; return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}}; }));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
      const gcs = loaded.layers.filter((l) => l.getClassName() === 'GroupConv2D') as GroupConv2D[];
      assert.ok(gcs.length > 0 && gcs.every((l) => l instanceof GroupConv2D && l.groups > 1));
      const x = tf.randomUniform([2, ...model.inputs[0].shape.slice(1)] as number[], 0, 1, 'float32', 9);
      const [a, b] = [model, loaded].map((m) => m.predict(x) as tf.Tensor);
      assert.equal(maxDiff(a, b), 0);
      tf.dispose([x, a, b]);
      loaded.dispose();
      model.dispose();
    }
    const roundTrip = new GroupConv2D(gc.getConfig() as unknown as ConstructorParameters<typeof GroupConv2D>[0]);
    assert.deepEqual(roundTrip.getConfig(), gc.getConfig());
  });

  test('bad configurations throw errors naming the layer', () => {
    assert.throws(() => new GroupConv2D({name: 'gc_bad', filters: 6, kernelSize: 3, groups: 4}), /GroupConv2D 'gc_bad': filters \(6\) must be divisible by groups \(4\)/);
    assert.throws(() => new GroupConv2D({name: 'gc_zero', filters: 6, kernelSize: 3, groups: 0}), /GroupConv2D 'gc_zero': groups must be a positive integer/);
    const layer = new GroupConv2D({name: 'gc_in', filters: 8, kernelSize: 3, groups: 4});
    assert.throws(() => layer.apply(tf.input({shape: [5, 5, 6]})), /GroupConv2D 'gc_in': input channels \(6\) must be divisible by groups \(4\)/);
    assert.throws(() => new GroupConv2D({name: 'gc_init', filters: 8, kernelSize: 3, groups: 4, kernelInitializer: {className: 'Nope', config: {}}}), /GroupConv2D 'gc_init': unknown kernelInitializer/);
  });
});
