import * as tf from '@tensorflow/tfjs';
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { Batch, ImageDataset } from '../src/data';
import {
  BatchSource, evaluate, fit, Forward, learningRate, loadModel, NonFiniteLossError, Optimizer, OptimizerOptions,
  progress, saveModel, trainModel, trainStep,
} from '../src/train';

before(async () => {
  await tf.setBackend('cpu');
});

const dirs: string[] = [];
const tmpDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gfp-train-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

/** n images [4, 4, 1]: class 0 bright on top, class 1 bright at the bottom, plus noise. */
function stripes(n: number, seed = 1): ImageDataset {
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const images = new Uint8Array(n * 16);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < 16; p++) {
      const top = p < 8;
      images[i * 16 + p] = Math.round((top === (labels[i] === 0) ? 180 : 60) + 60 * (rand() - 0.5));
    }
  }
  return new ImageDataset({ name: 'stripes', images, labels, shape: [4, 4, 1], classes: 2 });
}

/** conv 3x3 (no bias) -> BN -> relu -> flatten -> dense(2) logits; seeded initialisers. */
function tinyConvNet(seed = 7): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 1] });
  const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed }) });
  const bn = tf.layers.batchNormalization();
  let x = bn.apply(conv.apply(input)) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(tf.layers.reLU().apply(x)) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'tiny' });
}

const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

describe('learning-rate schedules', () => {
  it('give the hand-computed values', () => {
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(learningRate(37, { name: 'constant', lr: 0.1, totalSteps: 100 }), 0.1);
    // warm-up 4 steps: lr * (s + 1) / 4
    close(learningRate(0, { name: 'constant', lr: 0.1, totalSteps: 100, warmupSteps: 4 }), 0.025);
    close(learningRate(3, { name: 'constant', lr: 0.1, totalSteps: 100, warmupSteps: 4 }), 0.1);
    // cosine over 10 steps: step 5 is half-way, (1 + cos(pi / 2)) / 2 = 0.5
    close(learningRate(0, { name: 'cosine', lr: 0.1, totalSteps: 10 }), 0.1);
    close(learningRate(5, { name: 'cosine', lr: 0.1, totalSteps: 10 }), 0.05);
    // after 2 warm-up steps, 10 cosine steps: step 7 is t = 5/10
    close(learningRate(7, { name: 'cosine', lr: 0.1, totalSteps: 12, warmupSteps: 2 }), 0.05);
    // minLr 0.1, t = 1/4: 0.1 + 0.9 * (1 + cos(pi / 4)) / 2
    close(learningRate(1, { name: 'cosine', lr: 1, minLr: 0.1, totalSteps: 4 }), 0.1 + 0.9 * (1 + Math.SQRT1_2) / 2);
    // step decay at 50% and 75%, gamma 0.1
    close(learningRate(49, { name: 'step', lr: 0.1, totalSteps: 100 }), 0.1);
    close(learningRate(50, { name: 'step', lr: 0.1, totalSteps: 100 }), 0.01);
    close(learningRate(75, { name: 'step', lr: 0.1, totalSteps: 100 }), 0.001);
    close(learningRate(3, { name: 'step', lr: 1, totalSteps: 10, milestones: [0.3], gamma: 0.5 }), 0.5);
    assert.throws(() => learningRate(0, { name: 'linear' as 'step', lr: 1, totalSteps: 1 }), /unknown learning-rate schedule 'linear'; valid: constant, cosine, step/);
  });
});

describe('optimizer', () => {
  /** One update of a kernel [1, 2] and a bias [2] with gradients g; returns their new values. */
  function update(o: OptimizerOptions, g: number[], lr: number, steps = 1): { kernel: number[]; bias: number[] } {
    const kernel = tf.tidy(() => tf.variable(tf.tensor2d([[1, 2]])));
    const bias = tf.tidy(() => tf.variable(tf.tensor1d([1, 2])));
    const opt = new Optimizer(o);
    for (let i = 0; i < steps; i++) {
      tf.tidy(() => opt.apply([kernel, bias], [tf.tensor2d([g]), tf.tensor1d(g)], lr));
    }
    const r = { kernel: Array.from(kernel.dataSync()), bias: Array.from(bias.dataSync()) };
    opt.dispose();
    tf.dispose([kernel, bias]);
    return r;
  }
  const near = (a: number[], b: number[]) => a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-6, `[${a}] vs [${b}]`));

  it('applies weight decay to kernels only (l2, decoupled, adam)', () => {
    const n0 = tf.memory().numTensors;
    for (const o of [
      { name: 'sgd', momentum: 0, weightDecay: 0.1, decayMode: 'l2' },
      { name: 'sgd', momentum: 0.9, weightDecay: 0.1, decayMode: 'decoupled' },
      { name: 'adam', weightDecay: 0.1 },
    ] as OptimizerOptions[]) {
      // zero gradient: only the decay moves weights; w <- w - lr * wd * w = 0.9 w for lr 1
      const r = update(o, [0, 0], 1);
      near(r.kernel, [0.9, 1.8]);
      near(r.bias, [1, 2]);
    }
    assert.equal(tf.memory().numTensors, n0);
  });

  it('follows the momentum, Nesterov and Adam update rules', () => {
    // momentum 0.9, g = 1: buf 1 then 1.9; w = 1 - 0.1 * (1 + 1.9)
    near(update({ name: 'sgd', momentum: 0.9 }, [1, 1], 0.1, 2).bias, [1 - 0.29, 2 - 0.29]);
    // Nesterov first step: d = g + mu * buf = 1.9
    near(update({ name: 'sgd', momentum: 0.9, nesterov: true }, [1, 1], 0.1).bias, [1 - 0.19, 2 - 0.19]);
    // Adam first step: m_hat = g, v_hat = g^2, d = g / (|g| + eps) = sign(g)
    near(update({ name: 'adam' }, [3, -0.5], 0.01).bias, [1 - 0.01, 2 + 0.01]);
    // no gradient: no change, even with momentum and weight decay
    const w = tf.tidy(() => tf.variable(tf.tensor2d([[1, 2]])));
    const opt = new Optimizer({ name: 'sgd', weightDecay: 0.1 });
    opt.apply([w], [null], 1);
    near(Array.from(w.dataSync()), [1, 2]);
    opt.dispose();
    w.dispose();
  });

  it('round-trips its state', () => {
    const w = tf.variable(tf.tensor2d([[1, -1]]));
    const a = new Optimizer({ name: 'adam' });
    tf.tidy(() => a.apply([w], [tf.tensor2d([[0.5, 2]])], 0.1));
    const state = a.getState();
    const b = new Optimizer({ name: 'adam' });
    b.setState(state, [w]);
    tf.dispose(Object.values(state.tensors));
    const w2 = tf.variable(w.clone());
    tf.tidy(() => a.apply([w], [tf.tensor2d([[1, 1]])], 0.1));
    tf.tidy(() => b.apply([w2], [tf.tensor2d([[1, 1]])], 0.1));
    assert.deepEqual(Array.from(w2.dataSync()), Array.from(w.dataSync()));
    assert.equal(b.step, 2);
    a.dispose();
    b.dispose();
    tf.dispose([w, w2]);
  });
});

describe('fit / evaluate', () => {
  it('lowers the loss and leaks no tensors', async () => {
    const model = tinyConvNet();
    const data = stripes(64);
    const n0 = tf.memory().numTensors;
    const losses: number[] = [];
    const r = await fit(model, data, { epochs: 6, batchSize: 16, lr: 0.1, optimizer: { name: 'sgd', momentum: 0.9 }, onStep: (_s, l) => losses.push(l) });
    assert.equal(tf.memory().numTensors, n0);
    assert.equal(r.steps, 24);
    assert.equal(losses.length, 24);
    assert.ok(r.epochs[5].loss < 0.5 * r.epochs[0].loss, `epoch losses ${r.epochs.map((e) => e.loss)}`);
    const ev = await evaluate(model, data, 10);
    assert.equal(tf.memory().numTensors, n0);
    assert.ok(ev.accuracy > 0.9, `accuracy ${ev.accuracy}`);
    model.dispose();
  });

  it('stops after a step budget', async () => {
    const model = tinyConvNet();
    const r = await fit(model, stripes(64), { epochs: 5, batchSize: 16, steps: 6 });
    assert.deepEqual([r.steps, r.epochs.map((e) => e.steps), r.stopped], [6, [4, 2], true]);
    model.dispose();
  });

  it('evaluate matches a hand computation (partial last batch, ties go to class 0)', async () => {
    // images [1, 2, 1]: logits are the two pixels / 255
    const pixels = [[255, 0], [0, 51], [102, 102], [10, 20], [200, 100]];
    const labels = [0, 1, 1, 1, 1];
    const data = new ImageDataset({ name: 'pairs', images: Uint8Array.from(pixels.flat()), labels: Int32Array.from(labels), shape: [1, 2, 1], classes: 2 });
    const forward: Forward = (xs) => tf.reshape(xs, [-1, 2]);
    let lossSum = 0;
    let right = 0;
    pixels.forEach(([a, b], i) => {
      const z = [a / 255, b / 255];
      lossSum += Math.log(Math.exp(z[0]) + Math.exp(z[1])) - z[labels[i]];
      right += (z[1] > z[0] ? 1 : 0) === labels[i] ? 1 : 0;
    });
    const n0 = tf.memory().numTensors;
    const ev = await evaluate(forward, data, 2);
    assert.equal(tf.memory().numTensors, n0);
    assert.equal(ev.accuracy, right / 5); // 3 of 5: samples 0, 1, 3
    assert.equal(right, 3);
    assert.ok(Math.abs(ev.loss - lossSum / 5) < 1e-6, `${ev.loss} vs ${lossSum / 5}`);
  });

  it('BatchNorm updates its moving statistics in training and evaluation uses them', async () => {
    // images [1, 2, 1] -> flatten -> BN: logits = gamma * (x - mean) / sqrt(var + eps) + beta
    const input = tf.input({ shape: [1, 2, 1] });
    const bn = tf.layers.batchNormalization();
    const model = tf.model({ inputs: input, outputs: bn.apply(tf.layers.flatten().apply(input)) as tf.SymbolicTensor });
    const data = new ImageDataset({ name: 'bn', images: Uint8Array.from([51, 102, 153, 255, 204, 0, 0, 51]), labels: Int32Array.from([1, 1, 0, 1]), shape: [1, 2, 1], classes: 2 });
    const xs = [[0.2, 0.4], [0.6, 1], [0.8, 0], [0, 0.2]];
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = new Optimizer({ name: 'sgd' });
    const batch: Batch = data.batches(4).next().value as Batch;
    await trainStep({ forward: (x, t) => model.apply(x, { training: t }) as tf.Tensor2D, variables, optimizer, lr: 0.5 }, batch);
    tf.dispose([batch.xs, batch.ys]);
    optimizer.dispose();
    const [gamma, beta, mean, variance] = bn.getWeights().map((w) => Array.from(w.dataSync()));
    // moving = 0.99 * moving + 0.01 * batch statistic (biased variance), from mean 0 and variance 1
    const batchMean = [0, 1].map((c) => xs.reduce((s, x) => s + x[c], 0) / 4);
    const batchVar = [0, 1].map((c) => xs.reduce((s, x) => s + (x[c] - batchMean[c]) ** 2, 0) / 4);
    [0, 1].forEach((c) => {
      assert.ok(Math.abs(mean[c] - 0.01 * batchMean[c]) < 1e-6, `moving mean ${mean}`);
      assert.ok(Math.abs(variance[c] - (0.99 + 0.01 * batchVar[c])) < 1e-6, `moving variance ${variance}`);
    });
    // evaluation: logits from the moving statistics, by hand
    let lossSum = 0;
    let right = 0;
    xs.forEach((x, i) => {
      const z = x.map((v, c) => (gamma[c] * (v - mean[c])) / Math.sqrt(variance[c] + 1e-3) + beta[c]);
      const label = [1, 1, 0, 1][i];
      lossSum += Math.log(Math.exp(z[0]) + Math.exp(z[1])) - z[label];
      right += (z[1] > z[0] ? 1 : 0) === label ? 1 : 0;
    });
    const ev = await evaluate(model, data, 4);
    assert.ok(Math.abs(ev.loss - lossSum / 4) < 1e-5, `${ev.loss} vs ${lossSum / 4}`);
    assert.equal(ev.accuracy, right / 4);
    model.dispose();
  });

  it('throws on a NaN loss, naming epoch and step, without updating', async () => {
    const model = tinyConvNet();
    const trainable = () => model.trainableWeights.map((w) => Array.from(w.read().dataSync()));
    const before = trainable();
    let calls = 0;
    const forward: Forward = (xs, t) => {
      const z = model.apply(xs, { training: t }) as tf.Tensor2D;
      return ++calls === 3 ? tf.mul(z, NaN) : z;
    };
    await assert.rejects(
      fit(model, stripes(32), { epochs: 3, batchSize: 16, forward, lr: 0 }),
      (e: unknown) => e instanceof NonFiniteLossError && /loss is NaN at epoch 2, step 3/.test(e.message),
    );
    // lr 0: the two good steps changed nothing either, so the trainable weights are as before
    assert.deepEqual(trainable(), before);
    model.dispose();
  });

  it('prints compact progress lines when not on a terminal', () => {
    let text = '';
    const stream = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) });
    const p = progress('lines', { stream, intervalMs: 0 });
    p.start('epoch 1/2', 10);
    p.update(5, { loss: 0.5, acc: 0.75, samples: 320 });
    p.stop('epoch 1/2: done');
    assert.match(text, /^epoch 1\/2 5\/10 \(50\.0%\) \| \d+ samples\/s \| loss 0\.5000 \| acc 75\.0% \| ETA \d+s\nepoch 1\/2: done\n$/);
  });
});

describe('checkpoints', () => {
  it('saveModel / loadModel round-trip gives identical predictions', async () => {
    const model = tinyConvNet();
    const data = stripes(32);
    await fit(model, data, { epochs: 1, batchSize: 8, lr: 0.1 }); // moving statistics away from 0 / 1
    const dir = await tmpDir();
    await saveModel(model, dir);
    const loaded = await loadModel(path.join(dir, 'model.json'));
    const batch = data.batches(32).next().value as Batch;
    const [a, b] = [model, loaded].map((m) => tf.tidy(() => Array.from((m.predict(batch.xs) as tf.Tensor).dataSync())));
    assert.deepEqual(b, a);
    assert.deepEqual(weightsOf(loaded), weightsOf(model));
    tf.dispose([batch.xs, batch.ys]);
    model.dispose();
    loaded.dispose();
  });

  it('loadModel names a missing model.json and a short weights file', async () => {
    const dir = await tmpDir();
    await assert.rejects(loadModel(dir), new RegExp(`no model.json at ${path.join(dir, 'model.json')}`));
    const model = tinyConvNet();
    await saveModel(model, dir);
    const bytes = model.getWeights().reduce((n, w) => n + 4 * w.size, 0);
    model.dispose();
    const file = path.join(dir, 'weights.bin');
    await fs.truncate(file, 10);
    await assert.rejects(loadModel(dir), new RegExp(`weights file ${file} has 10 bytes, expected ${bytes}`));
    await fs.rm(file);
    await assert.rejects(loadModel(dir), new RegExp(`weights file ${file} .*is missing; expected ${bytes} bytes`));
  });

  const data = { name: 'stripes', train: stripes(48), test: stripes(16, 99) };
  const run = (out: string, extra: Partial<Parameters<typeof trainModel>[0]>) => {
    const model = tinyConvNet();
    return trainModel({ model, dataset: data, out, epochs: 2, batchSize: 16, lr: 0.05, seed: 3, progress: 'silent', ...extra }).finally(() => model.dispose());
  };

  it('resume after epoch 1 equals an uninterrupted run (constant lr: 1 + 1 epochs; cosine: interrupted)', async () => {
    const n0 = tf.memory().numTensors;
    for (const schedule of ['constant', 'cosine'] as const) {
      const [whole, parts] = [await tmpDir(), await tmpDir()];
      const full = await run(whole, { schedule });
      if (schedule === 'constant') {
        await run(parts, { schedule, epochs: 1 });
      } else {
        const stop = new AbortController();
        await run(parts, { schedule, signal: stop.signal, onEpoch: () => stop.abort() });
      }
      assert.equal(JSON.parse(await fs.readFile(path.join(parts, 'checkpoint.json'), 'utf8')).state.epoch, 1);
      const resumed = await run(parts, { schedule, resume: true });
      const [a, b] = [await loadModel(whole), await loadModel(parts)];
      assert.deepEqual(weightsOf(b), weightsOf(a), schedule);
      assert.deepEqual(resumed.history.map((h) => h.testLoss), full.history.map((h) => h.testLoss));
      a.dispose();
      b.dispose();
      const report = JSON.parse(await fs.readFile(path.join(parts, 'report.json'), 'utf8'));
      assert.deepEqual(Object.keys(report).slice(0, 6), ['model', 'dataset', 'epochs', 'batchSize', 'optimizer', 'lr']);
      assert.equal(report.history.length, 2);
      assert.equal(report.testAccuracy, report.history[1].testAcc);
      assert.equal(report.backend, 'cpu');
    }
    assert.equal(tf.memory().numTensors, n0);
  });

  it('refuses to resume with different options', async () => {
    const dir = await tmpDir();
    await run(dir, { epochs: 1 });
    await assert.rejects(run(dir, { resume: true, batchSize: 8 }), /cannot resume from .*batchSize is 8 here but 16 in the checkpoint/);
  });

  it('a NaN loss names the step and keeps the last good checkpoint', async () => {
    const dir = await tmpDir();
    await run(dir, { epochs: 1 });
    const files = (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    assert.ok(files.length >= 7, files.join(', ')); // model.json, weights.bin, report.json, checkpoint.json, ckpt-1/{3 files}
    const saved = await Promise.all(files.map((f) => fs.readFile(f)));
    // same samples, but every image is NaN from the start of epoch 2
    const poisoned: BatchSource = {
      size: data.train.size,
      *batches(batchSize, opts) {
        for (const b of data.train.batches(batchSize, opts)) {
          const xs = tf.tidy(() => tf.mul(b.xs, NaN) as tf.Tensor4D);
          b.xs.dispose();
          yield { ...b, xs };
        }
      },
    };
    await assert.rejects(
      run(dir, { resume: true, dataset: { ...data, train: poisoned } }),
      /loss is NaN at epoch 2, step 4; .*the last good checkpoint in .* \(epoch 1\) is kept/,
    );
    const now = await Promise.all(files.map((f) => fs.readFile(f)));
    now.forEach((b, i) => assert.ok(b.equals(saved[i]), `${files[i]} changed`));
  });
});
