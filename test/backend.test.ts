import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {backendsAvailable, useBackend, BackendName} from '../src/backend';
import {fastGradients, replacedGradients} from '../src/backend/gradients';
import {simdKernels, useSimd} from '../src/backend/kernels/simd';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase { b: number; h: number; w: number; ci: number; k: number; s: number; pad: Pad; co: number; m: number }

const PADS: Pad[] = ['same', 'valid', [[0, 0], [1, 2], [0, 1], [0, 0]]];

/** Batch 1, 2 and 3, odd and even sizes (output heights both sides of 8), kernels 1/3/5, strides 1/2, all pad kinds, multipliers 1/2, Ci <> Co. */
function cases(): ConvCase[] {
  const out: ConvCase[] = [{b: 3, h: 8, w: 6, ci: 6, k: 1, s: 1, pad: 'same', co: 2, m: 1}, // 1x1 with Ci > Co
    // Ci = 9 and 12: the SIMD depthwise kernel's four-channel loop, with and without a tail
    {b: 2, h: 9, w: 10, ci: 9, k: 3, s: 2, pad: 'same', co: 5, m: 1}, {b: 2, h: 10, w: 9, ci: 12, k: 3, s: 1, pad: 'valid', co: 4, m: 1},
    // strided, m = 1, Ci = 32 and 12: our SIMD depthwise filter gradient, its images split across the threads
    {b: 2, h: 12, w: 10, ci: 32, k: 3, s: 2, pad: 'same', co: 8, m: 1}, {b: 2, h: 11, w: 9, ci: 12, k: 3, s: 2, pad: 'valid', co: 8, m: 1},
    // Ci % 4 = 0, Co % 8 = 0, >= 100 output pixels: the SIMD conv filter gradient
    {b: 2, h: 12, w: 11, ci: 8, k: 3, s: 1, pad: 'same', co: 8, m: 1}, {b: 1, h: 16, w: 16, ci: 4, k: 5, s: 1, pad: 'valid', co: 16, m: 1},
    {b: 2, h: 23, w: 21, ci: 4, k: 3, s: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]], co: 16, m: 2},
    // 1x1 through the SIMD kernel, its pixels cut into rows of 63, 39 and 128 (and 49)
    {b: 2, h: 7, w: 9, ci: 12, k: 1, s: 1, pad: 'same', co: 16, m: 1}, {b: 3, h: 13, w: 11, ci: 8, k: 1, s: 1, pad: 'valid', co: 8, m: 1},
    {b: 16, h: 4, w: 4, ci: 8, k: 1, s: 1, pad: 'same', co: 8, m: 1}, {b: 1, h: 7, w: 7, ci: 4, k: 1, s: 1, pad: 'valid', co: 24, m: 1},
    // Ci = 1 and 3 (a first conv): x zero-padded to 4 channels for the SIMD kernel
    {b: 2, h: 12, w: 10, ci: 1, k: 3, s: 1, pad: 'same', co: 8, m: 1}, {b: 1, h: 21, w: 20, ci: 3, k: 3, s: 2, pad: 'same', co: 16, m: 1}];
  for (const [b, h, w] of [[1, 7, 7], [3, 8, 6], [2, 17, 9]]) {
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
  assert.ok(simdKernels(tf.backend() as never), 'the SIMD kernels load (npm run build makes simd.wasm)');
  for (const simd of [true, false]) {
    useSimd(simd);
    for (const c of cases()) {
      for (const [name, inputs, attrs] of kernelRuns(c)) {
        const err = await relativeError(name, inputs, attrs);
        assert.ok(err <= 1e-4, `${name} ${JSON.stringify(c)} simd ${simd}: relative error ${err}`);
      }
    }
  }
  useSimd(true);
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

/** `op` of a values() tensor of `shape` and `dtype` on `backend`: its shape and data. */
async function opOn(backend: string, shape: number[], dtype: tf.DataType, op: (x: tf.Tensor) => tf.Tensor): Promise<{shape: number[]; data: number[]}> {
  await tf.setBackend(backend);
  const y = tf.tidy(() => {
    const v = tf.tensor(values(shape, 9), shape).mul(3);
    return op(dtype === 'bool' ? v.greater(0) : v.cast(dtype)); // NOTE: wasm's cast to bool keeps raw bytes
  });
  const out = {shape: y.shape, data: Array.from(await y.data())};
  y.dispose();
  return out;
}

test('wasm Tile matches the cpu backend for float, int and bool tensors of rank 0 to 5', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const cases: [number[], number[], tf.DataType][] = [
    [[], [], 'float32'], [[3], [4], 'float32'], [[1, 1, 1, 5], [4, 3, 2, 1], 'float32'], [[2, 3], [3, 1], 'int32'],
    [[2, 1, 3], [2, 5, 3], 'bool'], [[2, 3, 1, 2, 2], [1, 2, 3, 1, 2], 'float32'], [[4, 2], [0, 3], 'float32'],
  ];
  for (const [shape, reps, dtype] of cases) {
    const op = (x: tf.Tensor) => tf.tile(x, reps);
    assert.deepEqual(await opOn('wasm', shape, dtype, op), await opOn('cpu', shape, dtype, op), `tile ${shape} by ${reps} (${dtype})`);
  }
  await tf.setBackend('wasm');
  assert.equal(tf.memory().numTensors, before);
});

test('wasm Reverse matches the cpu backend on filter taps, inner, several and size-1 axes, for float, int and bool', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const cases: [number[], number[], tf.DataType][] = [
    [[3, 3, 4, 5], [0, 1], 'float32'], [[1, 1, 6, 2], [0, 1], 'float32'], [[5], [0], 'float32'], [[2, 3, 4], [2], 'int32'],
    [[2, 3, 4], [0, 2], 'bool'], [[2, 3, 2, 2, 3], [1, 3], 'float32'], [[4, 2], [-1], 'float32'], [[0, 3], [1], 'float32'], [[], [], 'float32'],
  ];
  for (const [shape, dims, dtype] of cases) {
    const op = (x: tf.Tensor) => tf.reverse(x, dims);
    assert.deepEqual(await opOn('wasm', shape, dtype, op), await opOn('cpu', shape, dtype, op), `reverse ${shape} on ${dims} (${dtype})`);
  }
  await tf.setBackend('wasm');
  assert.equal(tf.memory().numTensors, before);
});

/** Runs `f` with tf's own gradients for `names` registered instead of ours, then restores ours. */
async function withTfGradients<T>(names: string[], f: () => Promise<T>): Promise<T> {
  const set = (configs: tf.GradConfig[]) => configs.filter((g) => names.includes(g.kernelName)).forEach((g) => tf.registerGradient(g));
  set(replacedGradients);
  try {
    return await f();
  } finally {
    set(fastGradients);
  }
}

/** Asserts max |got - want| <= tol * max(|want|, 1), listwise. */
function assertClose(got: Float32Array[], want: Float32Array[], tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: number of outputs`);
  got.forEach((g, i) => {
    assert.equal(g.length, want[i].length, `${what} output ${i}: size`);
    const scale = Math.max(1, ...want[i].map(Math.abs));
    const err = Math.max(0, ...g.map((v, j) => Math.abs(v - want[i][j])));
    assert.ok(err <= tol * scale, `${what} output ${i}: error ${err}, scale ${scale}`);
  });
}

test('wasm Sum and Mean match the cpu backend over leading, middle, trailing and all axes', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const cases: [number[], number | number[], boolean, tf.DataType][] = [
    [[4, 5, 6, 7], [0, 1, 2], false, 'float32'], [[4, 5, 6, 7], [2, 0, 1], true, 'float32'], [[4, 5, 6, 7], [1, 2], false, 'float32'],
    [[4, 5, 6, 7], 1, true, 'float32'], [[4, 5, 6, 7], [3], false, 'float32'], [[4, 5, 6, 7], [0, 2], false, 'float32'],
    [[4, 5, 6, 7], [0, 1, 2, 3], false, 'float32'], [[6, 3], 0, false, 'float32'], [[2, 3, 4], -2, false, 'float32'],
    [[64, 9, 3], [0, 1], false, 'float32'], [[4, 5, 6], [0, 1], false, 'int32'], [[3, 0, 2], 1, false, 'float32'],
    [[3, 37, 13], 1, false, 'float32'], [[64, 4, 4, 207], [0, 1, 2], false, 'float32'], [[2, 70, 16], [1], true, 'float32'],
  ];
  for (const [shape, axis, keepDims, dtype] of cases) {
    for (const op of ['sum', 'mean'] as const) {
      if (op === 'mean' && dtype === 'int32') continue;
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const y = tf.tidy(() => tf[op](tf.tensor(values(shape, 4), shape).mul(5).add(2).cast(dtype), axis, keepDims));
        const out = {shape: y.shape, dtype: y.dtype, data: Float32Array.from(await y.data())};
        y.dispose();
        return out;
      };
      const got = await run('wasm');
      const want = await run('cpu');
      const what = `${op} of ${dtype} [${shape}] over ${axis} keepDims=${keepDims}`;
      assert.deepEqual([got.shape, got.dtype], [want.shape, want.dtype], what);
      assertClose([got.data], [want.data], 1e-5, what);
    }
  }
  await tf.setBackend('wasm');
  assert.equal(tf.memory().numTensors, before);
});

test('wasm Identity and same-dtype Cast share data safely: values survive disposing the source', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const wasmIdsBefore = tf.engine().findBackend('wasm')!.numDataIds();
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    const x = tf.tidy(() => tf.tensor([1, 0, 3, -2], [2, 2]).cast(dtype));
    const want = Array.from(await x.data());
    const copies = [x.clone(), tf.cast(x, dtype), tf.engine().runKernel(tf.Identity, {x}) as tf.Tensor];
    x.dispose();
    for (const c of copies) assert.deepEqual([c.dtype, c.shape, Array.from(await c.data())], [dtype, [2, 2], want], `${dtype} copy`);
    tf.dispose(copies);
  }
  const f = tf.tensor([1.5, -2.7, 0.2]);
  const asInt = tf.cast(f, 'int32');
  assert.deepEqual(Array.from(await asInt.data()), [1, -2, 0], 'a dtype-changing cast still converts');
  tf.dispose([f, asInt]);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(tf.engine().findBackend('wasm')!.numDataIds(), wasmIdsBefore, 'wasm data leaked');
});

test('ClipByValue and Relu6 gradients equal tf\'s own on wasm (SIMD and JS) and cpu, on the bounds and for NaN', async () => {
  const shape = [3, 5, 3, 7]; // not a multiple of 4: the SIMD kernel's tail runs
  const x = () => {
    const v = values(shape, 11).map((a) => a * 8 - 1);
    [0, 6, -0, NaN, 1e-30].forEach((special, k) => { v[k * 7] = special; }); // on the bounds the clip gradient passes
    return tf.tensor(v, shape);
  };
  // tf's Relu6 gradient is dy * step(x) * (x <= 6): -0 for negative dy outside (0, 6], NaN at NaN; ours
  // masks (as ClipByValue's does): 0 there. `same` maps tf's to ours.
  const same = (v: number) => (Number.isNaN(v) ? 0 : v + 0);
  const ops: Record<string, [string, (a: tf.Tensor) => tf.Tensor, (v: number) => number]> = {
    clip: [tf.ClipByValue, (a) => tf.clipByValue(a, 0, 6), (v) => v],
    relu6: [tf.Relu6, (a) => tf.relu6(a), same],
  };
  const grads = async (backend: string, op: (a: tf.Tensor) => tf.Tensor): Promise<number[]> => {
    await tf.setBackend(backend);
    const [xs, w] = [x(), tf.tensor(values(shape, 12), shape)];
    const g = tf.grad((a: tf.Tensor) => op(a).mul(w).sum())(xs);
    const out = Array.from(await g.data());
    tf.dispose([xs, w, g]);
    return out;
  };
  const before = tf.memory().numTensors;
  for (const [backend, simd] of [['wasm', true], ['wasm', false], ['cpu', false]] as const) {
    useSimd(simd);
    for (const [name, [kernel, op, map]] of Object.entries(ops)) {
      const ours = await grads(backend, op);
      const theirs = await withTfGradients([kernel], () => grads(backend, op));
      assert.deepEqual(ours.map(map), theirs.map(map), `${name} gradient on ${backend}, simd ${simd}`);
    }
  }
  useSimd(true);
  await tf.setBackend('wasm');
  assert.equal(tf.memory().numTensors, before);
});

test('FusedBatchNorm, Mean and Sum gradients match tf\'s own on cpu and wasm (layers BN in training too)', async () => {
  const shape = [4, 5, 6, 8];
  // tf.batchNorm, and the moments + batchNorm of tf.layers' training BN (NOTE: tf 4.22 cannot take
  // gradients of a batchNorm without scale at all: it saves the missing input)
  type Loss = [params: number, f: (x: tf.Tensor, p: tf.Tensor[]) => tf.Scalar];
  const losses: Record<string, Loss> = {
    batchNorm: [4, (x, [m, v, s, o]) => tf.batchNorm(x, m, v.abs().add(0.5), o, s, 1e-3).square().sum()],
    trainingBn: [2, (x, [s, o]) => {
      const {mean, variance} = tf.moments(x, [0, 1, 2]);
      return tf.batchNorm(x, mean, variance, o, s, 1e-5).mul(tf.sin(x)).sum();
    }],
    meanAndSum: [0, (x) => tf.mean(x, [1, 2]).square().sum().add(tf.sum(x, 0, true).mul(2).sin().sum())],
  };
  const grads = async (backend: string, [params, loss]: Loss): Promise<Float32Array[]> => {
    await tf.setBackend(backend);
    const x = tf.tidy(() => tf.tensor(values(shape, 21), shape).mul(3).add(1));
    const p = [22, 23, 24, 25].slice(0, params).map((seed) => tf.tensor(values([8], seed), [8]));
    const gs = tf.grads((...a: tf.Tensor[]) => loss(a[0], a.slice(1)))([x, ...p]);
    const out = await Promise.all(gs.map((g) => g.data() as Promise<Float32Array>));
    tf.dispose([x, ...p, ...gs]);
    return out;
  };
  const before = tf.memory().numTensors;
  for (const backend of ['cpu', 'wasm']) {
    for (const [name, loss] of Object.entries(losses)) {
      const want = await withTfGradients([tf.FusedBatchNorm, tf.Mean, tf.Sum], () => grads('cpu', loss));
      assertClose(await grads(backend, loss), want, 1e-4, `${name} on ${backend}`);
    }
  }
  await tf.setBackend('wasm');
  assert.equal(tf.memory().numTensors, before);
});

test('wasm FusedBatchNorm matches the cpu backend with and without scale/offset, for ranks 2 to 4, off-centre inputs', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const c = 6;
  const cases: [string, number[], number[], boolean, number][] = [
    ['4D, [C] stats', [3, 5, 4, c], [c], true, 0], ['4D, no scale/offset', [3, 5, 4, c], [c], false, 0],
    ['4D, mean 50 std 1', [3, 5, 4, c], [c], true, 50], ['2D', [7, c], [c], true, 0], ['3D', [2, 7, c], [c], false, 0],
    ['4D, [1, 1, 1, C] stats (wasm\'s own)', [3, 5, 4, c], [1, 1, 1, c], true, 0],
    ['4D, 1 channel (wasm\'s own)', [3, 5, 4, 1], [1], true, 0], ['4D, 3 channels (wasm\'s own)', [3, 5, 4, 3], [3], true, 0],
  ];
  for (const [what, shape, statShape, affine, centre] of cases) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const y = tf.tidy(() => {
        const x = tf.tensor(values(shape, 31), shape).add(centre);
        const stat = (seed: number) => tf.tensor(values(statShape, seed), statShape);
        const mean = stat(32).add(centre);
        const variance = stat(33).abs().add(0.1);
        return tf.batchNorm(x, mean, variance, affine ? stat(34) : undefined, affine ? stat(35).add(1) : undefined, 1e-3);
      });
      const out = {shape: y.shape, data: Float32Array.from(await y.data())};
      y.dispose();
      return out;
    };
    const got = await run('wasm');
    const want = await run('cpu');
    assert.deepEqual(got.shape, want.shape, what);
    assertClose([got.data], [want.data], centre > 0 ? 1e-4 : 1e-5, what);
  }
  await tf.setBackend('wasm');
  assert.equal(tf.memory().numTensors, before);
});

test('wasm SplitV and Concat match the cpu backend on every axis, for float, int and bool, with empty parts', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const cases: [number[], number, number | number[], tf.DataType][] = [
    [[4, 3, 5, 8], 3, 4, 'float32'], [[4, 3, 5, 8], 3, [1, 0, 5, 2], 'float32'], [[4, 3, 5, 8], 1, [2, -1], 'int32'],
    [[4, 3, 5, 8], 0, 2, 'bool'], [[2, 5, 200], 2, [70, 130], 'float32'], [[6, 4], -1, [3, 1], 'float32'], [[3, 0, 4], 2, 2, 'float32'],
  ];
  for (const [shape, axis, splits, dtype] of cases) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const [parts, joined] = tf.tidy(() => {
        const v = tf.tensor(values(shape, 41), shape).mul(5);
        const x = dtype === 'bool' ? v.greater(0) : v.cast(dtype);
        const ps = tf.split(x, splits, axis);
        return [ps, tf.concat([...ps].reverse(), axis)];
      });
      const out = {parts: await Promise.all(parts.map(async (p) => [p.shape, p.dtype, Array.from(await p.data())])), joined: [joined.shape, Array.from(await joined.data())]};
      tf.dispose([...parts, joined]);
      return out;
    };
    assert.deepEqual(await run('wasm'), await run('cpu'), `split [${shape}] (${dtype}) by ${splits} on axis ${axis}, then concat reversed`);
  }
  await tf.setBackend('wasm');
  assert.equal(tf.memory().numTensors, before);
});

test('tf.layers BatchNormalization in training: fused SIMD kernels equal the layers\' own ops (output, gradients, moving statistics)', async () => {
  await useBackend('wasm');
  // one thread, then pixels split across the threads (over 2^15 values)
  for (const shape of [[3, 5, 7, 12], [6, 31, 33, 12]]) await batchNormAgainstLayers(shape);
});

async function batchNormAgainstLayers(shape: number[]): Promise<void> {
  const run = (simd: boolean) => {
    useSimd(simd);
    const bn = tf.layers.batchNormalization({momentum: 0.9, epsilon: 1e-3});
    const x = tf.tensor(values(shape, 21).map((v) => 3 * v + 0.5), shape);
    bn.build(shape);
    tf.tidy(() => bn.setWeights([tf.tensor(values([12], 22)), tf.tensor(values([12], 23)), tf.tensor(values([12], 24)), tf.tensor(values([12], 25)).abs()]));
    const w = tf.tensor(values(shape, 26), shape);
    const f = (a: tf.Tensor) => (bn.apply(a, {training: true}) as tf.Tensor).mul(w).sum() as tf.Scalar;
    const {value, grads} = tf.variableGrads(() => f(x), bn.trainableWeights.map((v) => v.read() as tf.Variable));
    const dx = tf.grad(f)(x); // a second training call: moving statistics updated twice
    const out = {loss: value.dataSync()[0], dx: Array.from(dx.dataSync()), grads: Object.values(grads).map((g) => Array.from(g.dataSync())),
      moving: bn.getWeights().slice(2).map((t) => Array.from(t.dataSync()))};
    tf.dispose([x, w, value, dx, ...Object.values(grads), ...bn.weights.map((v) => v.read())]);
    return out;
  };
  const before = tf.memory().numTensors;
  const [fused, own] = [run(true), run(false)];
  useSimd(true);
  const close = (a: number[], b: number[], what: string) => {
    const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-4 * scale, `${what}[${i}]: ${v} vs ${b[i]}`));
  };
  close([fused.loss], [own.loss], 'loss');
  close(fused.dx, own.dx, 'dx');
  fused.grads.forEach((g, i) => close(g, own.grads[i], `grad ${i}`));
  fused.moving.forEach((m, i) => close(m, own.moving[i], `moving ${i}`));
  assert.equal(tf.memory().numTensors, before);
}

test('tf.layers Conv2D while training: a plain Conv2D (no dx for a model input), equal to the layers\' own ops (then ReLU(6), ReLU(3))', async () => {
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const conv = tf.layers.conv2d({filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: 'glorotNormal'});
    const [relu6, relu3] = [tf.layers.reLU({maxValue: 6}), tf.layers.reLU({maxValue: 3})];
    const x = tf.tensor(values([2, 6, 5, 3], 31).map((v) => 8 * v), [2, 6, 5, 3]);
    const w = tf.tensor(values([2, 6, 5, 8], 32), [2, 6, 5, 8]);
    tf.dispose(conv.apply(x) as tf.Tensor); // builds it
    const kernel = conv.trainableWeights[0].read() as tf.Variable;
    const layers = (relu: tf.layers.Layer) => () => (relu.apply(conv.apply(x)) as tf.Tensor).mul(w).sum() as tf.Scalar;
    const ops = (max: number) => () => tf.clipByValue(tf.relu(tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same')), 0, max).mul(w).sum() as tf.Scalar;
    for (const [relu, max] of [[relu6, 6], [relu3, 3]] as const) {
      let got: {value: tf.Scalar; grads: tf.NamedTensorMap} | undefined;
      const profile = await tf.profile(() => { got = tf.variableGrads(layers(relu), [kernel]); });
      const names = new Set(profile.kernels.map((k) => k.name));
      assert.ok(names.has('Conv2D') && !names.has('FusedConv2D') && !names.has('Conv2DBackpropInput'), `${backend}: ${[...names]}`);
      const want = tf.variableGrads(ops(max), [kernel]);
      assertClose([got!.value.dataSync() as Float32Array, got!.grads[kernel.name].dataSync() as Float32Array],
        [want.value.dataSync() as Float32Array, want.grads[kernel.name].dataSync() as Float32Array], 1e-5, `${backend} maxValue ${max}`);
      tf.dispose([got!.value, want.value, ...Object.values(got!.grads), ...Object.values(want.grads)]);
    }
    const infer = await tf.profile(() => conv.apply(x) as tf.Tensor); // no gradient recorded: tf.layers' fused conv
    assert.ok(infer.kernels.some((k) => k.name === 'FusedConv2D'), `${backend} inference: ${infer.kernels.map((k) => k.name)}`);
    tf.dispose([x, w, kernel, infer.result as tf.Tensor]);
    assert.equal(tf.memory().numTensors, before, backend);
  }
  await tf.setBackend('wasm');
});
