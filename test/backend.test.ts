import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {backendsAvailable, useBackend, BackendName} from '../src/backend';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase { b: number; h: number; w: number; ci: number; k: number; s: number; pad: Pad; co: number; m: number }

const PADS: Pad[] = ['same', 'valid', [[0, 0], [1, 2], [0, 1], [0, 0]]];

/** Batch 1 and 3, odd and even sizes, kernels 1/3/5, strides 1/2, all pad kinds, multipliers 1/2. */
function cases(): ConvCase[] {
  const out: ConvCase[] = [];
  for (const [b, h, w] of [[1, 7, 7], [3, 8, 6]]) {
    for (const k of [1, 3, 5]) {
      for (const s of [1, 2]) {
        for (const pad of PADS) out.push({b, h, w, ci: 3, k, s, pad, co: 4, m: 1 + ((k + s) % 2)});
      }
    }
  }
  return out;
}

/** Deterministic values in [-1, 1). */
function values(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({length: n}, (_, i) => ((Math.sin(i * 12.9898 + seed * 78.233) * 43758.5453) % 1));
}

/** Runs kernel `name` on `backend` with fresh inputs and returns its values. */
async function runOn(backend: string, name: string, inputs: Record<string, [number[], number]>, attrs: tf.NamedAttrMap): Promise<Float32Array> {
  await tf.setBackend(backend);
  const tensors = Object.fromEntries(Object.entries(inputs).map(([k, [shape, seed]]) => [k, tf.tensor(values(shape, seed), shape)]));
  const out = tf.engine().runKernel(name, tensors, attrs) as tf.Tensor;
  const data = (await out.data()) as Float32Array;
  tf.dispose([out, ...Object.values(tensors)]);
  return data;
}

/** Max |wasm - cpu| relative to max |cpu|. */
async function relativeError(name: string, inputs: Record<string, [number[], number]>, attrs: tf.NamedAttrMap): Promise<number> {
  const got = await runOn('wasm', name, inputs, attrs);
  const want = await runOn('cpu', name, inputs, attrs);
  assert.equal(got.length, want.length, `${name}: output size`);
  let err = 0;
  let scale = 0;
  want.forEach((v, i) => { err = Math.max(err, Math.abs(got[i] - v)); scale = Math.max(scale, Math.abs(v)); });
  return err / Math.max(scale, 1e-12);
}

/** Output shape of the forward conv, computed by tf. */
function outShape(c: ConvCase, depthwise: boolean): number[] {
  const info = tf.backend_util.computeConv2DInfo([c.b, c.h, c.w, c.ci], [c.k, c.k, c.ci, depthwise ? c.m : c.co], c.s, 1, c.pad, undefined, depthwise);
  return info.outShape;
}

/** The four kernels with the inputs and attrs tf's gradients give them. */
function kernelRuns(c: ConvCase): [string, Record<string, [number[], number]>, tf.NamedAttrMap][] {
  const x = [c.b, c.h, c.w, c.ci];
  const filter = [c.k, c.k, c.ci, c.co];
  const dwFilter = [c.k, c.k, c.ci, c.m];
  const common = {strides: c.s, pad: c.pad, dimRoundingMode: undefined} as unknown as tf.NamedAttrMap;
  return [
    ['Conv2DBackpropInput', {dy: [outShape(c, false), 1], filter: [filter, 2]}, {...common, dataFormat: 'NHWC', inputShape: x}],
    ['Conv2DBackpropFilter', {x: [x, 3], dy: [outShape(c, false), 4]}, {...common, dataFormat: 'NHWC', filterShape: filter}],
    ['DepthwiseConv2dNativeBackpropInput', {dy: [outShape(c, true), 5], filter: [dwFilter, 6]}, {...common, dilations: 1, inputShape: x}],
    ['DepthwiseConv2dNativeBackpropFilter', {x: [x, 7], dy: [outShape(c, true), 8]}, {...common, dilations: 1, filterShape: dwFilter}],
  ];
}

test('useBackend starts wasm and auto picks a backend available here', async () => {
  assert.equal(await useBackend('wasm'), 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  const available = await backendsAvailable();
  assert.ok(available.includes('wasm') && available.includes('cpu'), `available: ${available}`);
  const auto = await useBackend('auto');
  assert.equal(auto, available[0]);
  assert.equal(tf.getBackend(), auto);
});

test('useBackend names the reason and the alternatives when a backend cannot start', async () => {
  await assert.rejects(useBackend('nonsense' as BackendName), /unknown backend 'nonsense'.*wasm/);
  if (!(await backendsAvailable()).includes('tensorflow')) {
    await assert.rejects(useBackend('tensorflow'), /tfjs-node.*available here: .*wasm/);
  }
});

test('wasm gradient kernels match the cpu backend on many shapes without leaking', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const wasmIdsBefore = tf.engine().findBackend('wasm')!.numDataIds();
  for (const c of cases()) {
    for (const [name, inputs, attrs] of kernelRuns(c)) {
      const err = await relativeError(name, inputs, attrs);
      assert.ok(err <= 1e-4, `${name} ${JSON.stringify(c)}: relative error ${err}`);
    }
  }
  assert.equal(tf.memory().numTensors, before);
  assert.equal(tf.engine().findBackend('wasm')!.numDataIds(), wasmIdsBefore, 'wasm intermediates leaked');
});

test('gradients of conv2d and depthwiseConv2d on wasm match cpu at ResNet-like shapes', async () => {
  const grads = async (backend: string, depthwise: boolean, s: 1 | 2): Promise<Float32Array[]> => {
    await tf.setBackend(backend);
    const x = tf.tensor(values([4, 12, 12, 8], 1), [4, 12, 12, 8]);
    const w = tf.tensor(values([3, 3, 8, depthwise ? 2 : 16], 2), [3, 3, 8, depthwise ? 2 : 16]);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.square(depthwise
      ? tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, 'same')
      : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, 'same')).sum();
    const gs = tf.grads(f)([x, w]);
    const out = await Promise.all(gs.map((g) => g.data() as Promise<Float32Array>));
    tf.dispose([x, w, ...gs]);
    return out;
  };
  const before = tf.memory().numTensors;
  for (const depthwise of [false, true]) {
    for (const s of [1, 2] as const) {
      const got = await grads('wasm', depthwise, s);
      const want = await grads('cpu', depthwise, s);
      got.forEach((g, i) => {
        const scale = Math.max(...want[i].map(Math.abs));
        const err = Math.max(...g.map((v, j) => Math.abs(v - want[i][j])));
        assert.ok(err <= 1e-4 * scale, `depthwise=${depthwise} s=${s} grad ${i}: error ${err}, scale ${scale}`);
      });
    }
  }
  assert.equal(tf.memory().numTensors, before);
  await tf.setBackend('wasm');
});

test('wasm Tile matches the cpu backend for float, int and bool tensors of rank 0 to 5', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const cases: [number[], number[], tf.DataType][] = [
    [[], [], 'float32'], [[3], [4], 'float32'], [[1, 1, 1, 5], [4, 3, 2, 1], 'float32'], [[2, 3], [3, 1], 'int32'],
    [[2, 1, 3], [2, 5, 3], 'bool'], [[2, 3, 1, 2, 2], [1, 2, 3, 1, 2], 'float32'], [[4, 2], [0, 3], 'float32'],
  ];
  for (const [shape, reps, dtype] of cases) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const y = tf.tidy(() => {
        const v = tf.tensor(values(shape, 9), shape).mul(3);
        return tf.tile(dtype === 'bool' ? v.greater(0) : v.cast(dtype), reps); // NOTE: wasm's cast to bool keeps raw bytes
      });
      const out = {shape: y.shape, data: Array.from(await y.data())};
      y.dispose();
      return out;
    };
    assert.deepEqual(await run('wasm'), await run('cpu'), `tile ${shape} by ${reps} (${dtype})`);
  }
  await tf.setBackend('wasm');
  assert.equal(tf.memory().numTensors, before);
});
