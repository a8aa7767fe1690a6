// The webgpu path, on an NVIDIA GPU or, without one, on Mesa's software Vulkan (lavapipe 24+, accepted through
// GFP_WEBGPU_SOFTWARE=1; .ci/run installs it from Debian backports). A file of its own: the variable must not
// make webgpu the 'auto' choice of the other specs. Skipped, with the reason, where webgpu cannot start.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {zoo} from '../src/models';
import {pruner} from '../src/prune';
import {forwardOf, Optimizer, trainStep} from '../src/train';

process.env.GFP_WEBGPU_SOFTWARE = '1';

const maxRelDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + 1e-3));
  return m;
};

test('webgpu: Fisher scores, the pruned model, a training step and the updated weights equal the cpu backend', async (t) => {
  let init: {values: Float32Array; shape: number[]}[] = [];
  // the same steps on the active backend, from the weights of the first (cpu) run; values are read asynchronously
  const steps = async () => {
    const model = zoo.resnet20({inputShape: [8, 8, 1], classes: 3, seed: 1});
    if (init.length) model.setWeights(init.map((w) => tf.tensor(w.values, w.shape)));
    else init = model.getWeights().map((w) => ({values: w.dataSync() as Float32Array, shape: w.shape}));
    const x = tf.tensor4d(Float32Array.from({length: 4 * 64}, (_, i) => ((i * 37) % 101) / 101), [4, 8, 8, 1]);
    const labels = Int32Array.of(0, 1, 2, 1);
    const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 3) as tf.Tensor2D;
    const p = pruner(model, {inputShape: [8, 8, 1]});
    const scored = await p.score([{xs: x.clone(), ys: ys.clone(), labels}]);
    const pruned = p.prune({units: 3}).map((u) => `${u.space}/${u.unit}`);
    const small = p.export();
    const out = small.predict(x) as tf.Tensor;
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = new Optimizer({name: 'sgd', momentum: 0.9});
    const {loss} = await trainStep({forward: forwardOf(model), variables, optimizer, lr: 0.1}, {xs: x, ys, labels});
    const r = {fisher: scored.spaces.flatMap((s) => s.fisher), pruned, out: await out.data(), loss, weights: await Promise.all(variables.map((v) => v.data()))};
    p.dispose(); optimizer.dispose(); tf.dispose([x, ys, out]); small.dispose(); model.dispose();
    return r;
  };
  await useBackend('cpu');
  const cpu = await steps();
  try {
    await useBackend('webgpu');
  } catch (e) {
    t.skip((e as Error).message);
    return;
  }
  const gpu = await steps();
  assert.ok(maxRelDiff(gpu.fisher, cpu.fisher) < 1e-3, `Fisher differs by ${maxRelDiff(gpu.fisher, cpu.fisher)}`);
  assert.deepEqual(gpu.pruned, cpu.pruned);
  assert.ok(maxRelDiff(gpu.out, cpu.out) < 1e-3, `pruned outputs differ by ${maxRelDiff(gpu.out, cpu.out)}`);
  assert.ok(Math.abs(gpu.loss - cpu.loss) < 1e-4, `loss ${gpu.loss} vs ${cpu.loss}`);
  gpu.weights.forEach((w, i) => assert.ok(maxRelDiff(w, cpu.weights[i]) < 1e-3, `weight ${i} differs by ${maxRelDiff(w, cpu.weights[i])}`));
});

test('webgpu: our Conv2D and depthwise filter gradients equal the cpu backend (strides, padding, 1x1, odd sizes)', async (t) => {
  const cases: {x: [number, number, number, number]; k: number; co: number; stride: number; pad: 'same' | 'valid'}[] = [
    {x: [2, 8, 8, 3], k: 3, co: 4, stride: 1, pad: 'same'},
    {x: [2, 9, 7, 4], k: 3, co: 5, stride: 2, pad: 'same'},
    {x: [3, 7, 7, 2], k: 3, co: 3, stride: 2, pad: 'valid'},
    {x: [2, 6, 6, 8], k: 1, co: 16, stride: 1, pad: 'valid'},
    {x: [2, 6, 6, 8], k: 1, co: 4, stride: 2, pad: 'same'},
    {x: [1, 10, 10, 3], k: 5, co: 2, stride: 1, pad: 'same'},
  ];
  // dW of sum(conv(x, w) * r) for a fixed r: the filter gradient kernels alone decide it
  const grads = (c: typeof cases[number]) => tf.tidy(() => {
    const x = tf.randomUniform(c.x, -1, 1, 'float32', 1);
    const w = tf.randomUniform([c.k, c.k, c.x[3], c.co], -1, 1, 'float32', 2) as tf.Tensor4D;
    const dw = tf.randomUniform([c.k, c.k, c.x[3], 1], -1, 1, 'float32', 3) as tf.Tensor4D;
    const y = tf.conv2d(x as tf.Tensor4D, w, c.stride, c.pad);
    const yd = tf.depthwiseConv2d(x as tf.Tensor4D, dw, c.stride, c.pad);
    const r = tf.randomUniform(y.shape, -1, 1, 'float32', 4);
    const rd = tf.randomUniform(yd.shape, -1, 1, 'float32', 5);
    return [tf.grad((v) => tf.conv2d(x as tf.Tensor4D, v as tf.Tensor4D, c.stride, c.pad).mul(r).sum())(w),
      tf.grad((v) => tf.depthwiseConv2d(x as tf.Tensor4D, v as tf.Tensor4D, c.stride, c.pad).mul(rd).sum())(dw)];
  });
  await useBackend('cpu');
  const cpu = cases.map((c) => grads(c).map((g) => { const v = g.dataSync(); g.dispose(); return v; }));
  try {
    await useBackend('webgpu');
  } catch (e) {
    t.skip((e as Error).message);
    return;
  }
  const n0 = tf.memory().numTensors;
  for (const [i, c] of cases.entries()) {
    const gs = grads(c);
    const values = await Promise.all(gs.map((g) => g.data()));
    tf.dispose(gs);
    values.forEach((v, j) => assert.ok(maxRelDiff(v, cpu[i][j]) < 1e-4, `${JSON.stringify(c)} ${j ? 'depthwise' : 'conv2d'}: differs by ${maxRelDiff(v, cpu[i][j])}`));
  }
  assert.equal(tf.memory().numTensors, n0);
});
