/**
 * The tf.layers patches of src/backend/patches.ts give what tf.layers gives: forward values and gradients (of the
 * input and every weight) with the patch installed equal those without it, on cpu and wasm; each patch's call is
 * really taken; BatchNormalization without scale, which tf.layers cannot train, equals one with gamma = 1.
 */
import * as tf from '@tensorflow/tfjs';
import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {installedPatches, installPatches, layerPatches, PatchName, uninstallPatches, useBackend} from '../src/backend';

const L = tf.layers;

/** Output and the gradients of sum(output * w) for the input and the layer's trainable weights, as arrays. */
function valuesAndGrads(layer: tf.layers.Layer, x: tf.Tensor, training: boolean): number[][] {
  return tf.tidy(() => {
    const weights = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const probe = tf.randomUniform((layer.apply(x) as tf.Tensor).shape, -1, 1, 'float32', 7);
    const f = (xs: tf.Tensor): tf.Scalar => (layer.apply(xs, {training}) as tf.Tensor).mul(probe).sum();
    const {value, grads} = weights.length ? tf.variableGrads(() => f(x), weights) : {value: f(x), grads: {}};
    const dx = tf.grad(f)(x);
    const y = layer.apply(x, {training}) as tf.Tensor;
    return [y, dx, value, ...weights.map((w) => grads[w.name])].map((t) => Array.from(t.dataSync()));
  });
}

function assertClose(a: number[][], b: number[][], what: string): void {
  assert.equal(a.length, b.length, `${what}: as many tensors`);
  a.forEach((t, i) => t.forEach((v, k) => assert.ok(Math.abs(v - b[i][k]) <= 1e-4 * (1 + Math.abs(b[i][k])), `${what}: tensor ${i}[${k}] ${v} vs ${b[i][k]}`)));
}

/** Run `f` with every patch but counting the calls of `name`'s fast path. */
function counting<T>(name: PatchName, f: () => T): {result: T; calls: number} {
  const patch = layerPatches[name];
  const call = patch.call;
  let calls = 0;
  patch.call = (...args) => {
    calls++;
    return call(...args);
  };
  try {
    return {result: f(), calls};
  } finally {
    patch.call = call;
  }
}

const cases: {name: PatchName; backends: string[]; layer: () => tf.layers.Layer; shape: number[]; training: boolean}[] = [
  {name: 'conv2dPlainGradient', backends: ['cpu', 'wasm'], layer: () => L.conv2d({filters: 8, kernelSize: 3, padding: 'same', strides: 2, useBias: false}), shape: [2, 9, 9, 4], training: true},
  {name: 'relu6', backends: ['cpu', 'wasm'], layer: () => L.reLU({maxValue: 6}), shape: [2, 5, 5, 4], training: true},
  {name: 'batchNormFused', backends: ['wasm'], layer: () => L.batchNormalization({momentum: 0.9}), shape: [4, 5, 5, 8], training: true},
];

for (const backend of ['cpu', 'wasm']) {
  test(`${backend}: each patched layer call equals tf.layers' own, values and gradients`, async () => {
    await useBackend(backend as 'cpu' | 'wasm');
    assert.deepEqual(installedPatches(), Object.keys(layerPatches), 'useBackend installs every patch');
    for (const c of cases.filter((k) => k.backends.includes(backend))) {
      const layer = c.layer();
      const x = tf.tidy(() => tf.randomNormal(c.shape, 0, 3, 'float32', 3)); // relu6 sees values above 6
      layer.apply(x); // build
      const initial = layer.getWeights().map((w) => w.clone());
      const run = (): number[][] => {
        layer.setWeights(initial); // BatchNorm's moving statistics move in training
        return valuesAndGrads(layer, x, c.training);
      };
      const before = tf.memory().numTensors;
      const {result: patched, calls} = counting(c.name, run);
      assert.equal(tf.memory().numTensors, before, `${c.name}: no tensor left behind`);
      assert.ok(calls > 0, `${c.name}: its call ran`);
      uninstallPatches();
      try {
        assert.deepEqual(installedPatches(), []);
        const shipped = counting(c.name, run);
        assert.equal(shipped.calls, 0, `${c.name}: uninstalled`);
        assertClose(patched, shipped.result, `${backend} ${c.name}`);
      } finally {
        installPatches();
      }
      tf.dispose([x, ...initial]);
    }
  });

  test(`${backend}: BatchNormalization({scale: false}) trains only patched, as gamma = 1 would`, async () => {
    await useBackend(backend as 'cpu' | 'wasm');
    const x = tf.randomNormal([4, 3, 3, 8], 1, 2, 'float32', 5);
    const noScale = L.batchNormalization({scale: false});
    const reference = L.batchNormalization({});
    noScale.apply(x);
    reference.apply(x);
    reference.setWeights([tf.ones([8]), ...noScale.getWeights()]); // gamma, then beta, moving mean, moving variance
    const {result: patched, calls} = counting('batchNormWithoutScale', () => valuesAndGrads(noScale, x, true));
    assert.ok(calls > 0);
    const expected = valuesAndGrads(reference, x, true);
    assertClose(patched, [...expected.slice(0, 3), expected[4]], `${backend} scale: false`); // the reference has a gamma gradient too
    uninstallPatches();
    try {
      assert.throws(() => valuesAndGrads(noScale, x, true), 'tf.layers as shipped cannot train it (if this passes, the patch can go)');
    } finally {
      installPatches();
    }
    x.dispose();
  });
}

test('useBackend(name, {patches: false}) leaves tf.layers as it ships; an unknown patch name is refused', async () => {
  await useBackend('cpu', {patches: false});
  assert.deepEqual(installedPatches(), []);
  await useBackend('cpu');
  assert.deepEqual(installedPatches(), Object.keys(layerPatches));
  assert.throws(() => installPatches(['nope' as PatchName]), /unknown layer patch 'nope'; valid: conv2dPlainGradient/);
  assert.deepEqual(installedPatches(), Object.keys(layerPatches), 'a refused name changes nothing');
});
