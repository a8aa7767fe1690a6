import * as tf from '@tensorflow/tfjs';
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageDataset } from '../src/data';
import { loadCheckpoint, loadModel, Optimizer, saveCheckpoint, trainModel } from '../src/train';
import { writeFilesAtomic } from '../src/train/checkpoint';
import { nodeFs, WriteFs } from '../src/train/write_fs';

before(async () => {
  await tf.setBackend('cpu');
});

const dirs: string[] = [];
const tmpDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gfp-ckpt-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

/** n images [4, 4, 1], class 0 bright on top, class 1 at the bottom. */
function stripes(n: number): ImageDataset {
  const images = new Uint8Array(n * 16);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  for (let i = 0; i < n; i++) for (let p = 0; p < 16; p++) images[i * 16 + p] = ((p < 8) === (labels[i] === 0) ? 180 : 60) + ((i * 7 + p * 13) % 40);
  return new ImageDataset({ name: 'stripes', images, labels, shape: [4, 4, 1], classes: 2 });
}

function tinyNet(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 1] });
  let x = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(tf.layers.batchNormalization().apply(x)) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'tiny' });
}

const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

/** Every file under `dir` (relative path -> bytes). */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
  return new Map(await Promise.all(files.map(async (f) => [f, await fs.readFile(path.join(dir, f))] as [string, Buffer])));
}

/**
 * nodeFs with a fault at call `at` (0-based, counting every call): 'fail' throws there only (the writer cleans
 * up); 'kill' throws there and at every call after (the process is gone: no clean-up). `calls` counts the calls.
 */
function faulty(at: number, mode: 'fail' | 'kill'): WriteFs & { calls: string[] } {
  const calls: string[] = [];
  const wrap = <K extends keyof WriteFs>(op: K) => (async (...args: unknown[]) => {
    const n = calls.push(`${op} ${path.basename(String(args[0]))}`) - 1;
    if (n === at || (mode === 'kill' && n > at)) throw new Error(`injected fault at call ${n} (${op} ${String(args[0])})`);
    return (nodeFs[op] as (...a: unknown[]) => Promise<unknown>)(...args);
  }) as WriteFs[K];
  const layer = { calls } as WriteFs & { calls: string[] };
  for (const op of Object.keys(nodeFs) as (keyof WriteFs)[]) (layer as unknown as Record<string, unknown>)[op] = wrap(op);
  return layer;
}

describe('checkpoint sets are atomic', () => {
  const data = { name: 'stripes', train: stripes(32), test: stripes(16) };
  const run = (out: string, extra: Partial<Parameters<typeof trainModel>[0]>) => {
    const model = tinyNet(3);
    return trainModel({ model, dataset: data, out, epochs: 2, batchSize: 8, lr: 0.05, schedule: 'constant', seed: 1, progress: 'silent', ...extra })
      .finally(() => model.dispose());
  };

  it('a save failing or killed at each step leaves the previous checkpoint resumable and, after the next save, no leftovers', async () => {
    const n0 = tf.memory().numTensors;
    const first = await tmpDir();
    await run(first, { epochs: 1 }); // the checkpoint of epoch 1
    const before = await snapshot(first);
    const saved1 = await loadCheckpoint(first);
    const weights1 = weightsOf(saved1.model);
    saved1.model.dispose();
    tf.dispose(Object.values(saved1.optimizer.tensors));
    const whole = await tmpDir();
    await run(whole, {}); // 2 epochs uninterrupted
    const other = tinyNet(11); // what the interrupted save writes: other weights, another state
    const optimizer = new Optimizer({ name: 'sgd', momentum: 0.9 });
    const count = faulty(-1, 'fail');
    const probe = await tmpDir();
    await fs.cp(first, probe, { recursive: true });
    await saveCheckpoint(probe, other, optimizer, { epoch: 99 }, count);
    const commit = count.calls.findIndex((c) => c.startsWith('rename .checkpoint.json.tmp-'));
    assert.ok(commit > 4, count.calls.join(', '));
    for (const mode of ['fail', 'kill'] as const) {
      for (let at = 0; at < count.calls.length; at++) {
        const dir = await tmpDir();
        await fs.cp(first, dir, { recursive: true });
        const where = `${mode} at call ${at} (${count.calls[at]})`;
        const saved = await saveCheckpoint(dir, other, optimizer, { epoch: 99 }, faulty(at, mode)).then(() => true, (e: Error) => {
          assert.match(e.message, /injected fault/, where);
          return false;
        });
        const ckpt = await loadCheckpoint<{ epoch: number }>(dir);
        assert.equal(ckpt.state.epoch, at <= commit ? 1 : 99, where);
        assert.deepEqual(weightsOf(ckpt.model), at <= commit ? weights1 : weightsOf(other), where);
        ckpt.model.dispose();
        tf.dispose(Object.values(ckpt.optimizer.tensors));
        if (at <= commit) {
          assert.equal(saved, false, where);
          if (mode === 'fail') assert.deepEqual(await snapshot(dir), before, `${where}: the folder is as before`);
        }
        // the next save removes whatever a killed one left
        await saveCheckpoint(dir, other, optimizer, { epoch: 100 });
        const names = (await fs.readdir(dir)).filter((f) => !['model.json', 'weights.bin', 'report.json'].includes(f));
        assert.equal(names.length, 2, `${where}: ${names.join(', ')}`);
        assert.ok(names.includes('checkpoint.json') && names.some((n) => /^ckpt-\d+$/.test(n)), names.join(', '));
      }
    }
    other.dispose();
    optimizer.dispose();
    // resuming the folder a save was killed in (just before the switch) equals the uninterrupted run
    const killed = await tmpDir();
    await fs.cp(first, killed, { recursive: true });
    const other2 = tinyNet(11);
    await assert.rejects(saveCheckpoint(killed, other2, new Optimizer({ name: 'sgd' }), { epoch: 99 }, faulty(commit, 'kill')));
    other2.dispose();
    await run(killed, { resume: true });
    const [a, b] = [await loadModel(whole), await loadModel(killed)];
    assert.deepEqual(weightsOf(b), weightsOf(a));
    a.dispose();
    b.dispose();
    assert.equal(tf.memory().numTensors, n0);
  });

  it('every file is flushed (fsync) before its rename, and the folder after', async () => {
    const events: string[] = [];
    const [open, rename] = [fs.open, fs.rename];
    fs.open = (async (file: string, ...rest: unknown[]) => {
      const h = await (open as (...a: unknown[]) => Promise<fs.FileHandle>)(file, ...rest);
      const sync = h.sync.bind(h);
      h.sync = async () => (events.push(`sync ${file}`), sync());
      return h;
    }) as typeof fs.open;
    fs.rename = (async (from: string, to: string) => (events.push(`rename ${from}`), rename(from, to))) as typeof fs.rename;
    const dir = await tmpDir();
    const model = tinyNet(1);
    const optimizer = new Optimizer({ name: 'sgd' });
    try {
      await saveCheckpoint(dir, model, optimizer, { epoch: 1 });
      await writeFilesAtomic(dir, [['a.json', '{}'], ['b.bin', new Uint8Array(8)]]);
    } finally {
      [fs.open, fs.rename] = [open, rename];
      model.dispose();
      optimizer.dispose();
    }
    const renames = events.filter((e) => e.startsWith('rename '));
    assert.equal(renames.length, 3, events.join('\n'));
    for (const r of renames) {
      const file = r.slice('rename '.length);
      assert.ok(events.indexOf(`sync ${file}`) >= 0 && events.indexOf(`sync ${file}`) < events.indexOf(r), `${file} flushed before its rename`);
      assert.ok(events.indexOf(`sync ${dir}`, events.indexOf(r)) > 0, `${dir} flushed after renaming ${file}`);
    }
    const set = JSON.parse(await fs.readFile(path.join(dir, 'checkpoint.json'), 'utf8')).set;
    for (const f of ['weights.bin', 'optimizer.bin', 'model.json']) {
      assert.ok(events.indexOf(`sync ${path.join(dir, set, f)}`) < events.indexOf(`sync ${path.join(dir, set)}`), `${f} flushed before its folder`);
    }
    assert.ok(events.indexOf(`sync ${path.join(dir, set)}`) < events.indexOf(renames[0]), 'the set is flushed before the switch');
  });

  it('a full disk: the error names the file, no temp file is left, the earlier files stay', async () => {
    const dir = await tmpDir();
    await writeFilesAtomic(dir, [['report.json', '{"old": true}']]);
    const model = tinyNet(1);
    const optimizer = new Optimizer({ name: 'sgd' });
    await saveCheckpoint(dir, model, optimizer, { epoch: 1 });
    const before = await snapshot(dir);
    const open = fs.open;
    // writes half of each weights file, then fails as a full disk does (Node's message names no file)
    fs.open = (async (file: string, ...rest: unknown[]) => {
      const h = await (open as (...a: unknown[]) => Promise<fs.FileHandle>)(file, ...rest);
      if (!String(file).includes('weights.bin') && !String(file).includes('report.json')) return h;
      h.writeFile = async (data: string | Uint8Array) => {
        await h.write(Buffer.from(data).subarray(0, Buffer.from(data).length >> 1));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      };
      return h;
    }) as typeof fs.open;
    try {
      await assert.rejects(saveCheckpoint(dir, model, optimizer, { epoch: 2 }), (e: Error & { code?: string }) => {
        assert.match(e.message, new RegExp(`cannot write ${path.join(dir, 'ckpt-2', 'weights.bin')}: ENOSPC`));
        return e.code === 'ENOSPC';
      });
      await assert.rejects(writeFilesAtomic(dir, [['report.json', '{"new": true}']]), new RegExp(`cannot write ${path.join(dir, '.report.json.tmp-')}\\d+: ENOSPC`));
    } finally {
      fs.open = open;
      model.dispose();
      optimizer.dispose();
    }
    assert.deepEqual(await snapshot(dir), before);
  });

  it('a checkpoint of the earlier layout (binaries beside checkpoint.json, version 1) still loads', async () => {
    const dir = await tmpDir();
    const model = tinyNet(5);
    const optimizer = new Optimizer({ name: 'sgd' });
    await saveCheckpoint(dir, model, optimizer, { epoch: 4 });
    const json = JSON.parse(await fs.readFile(path.join(dir, 'checkpoint.json'), 'utf8'));
    for (const f of ['model.json', 'weights.bin', 'optimizer.bin']) await fs.rename(path.join(dir, json.set, f), path.join(dir, f));
    await fs.rm(path.join(dir, json.set), { recursive: true });
    await fs.writeFile(path.join(dir, 'checkpoint.json'), JSON.stringify({ ...json, version: 1, set: undefined }));
    const ckpt = await loadCheckpoint<{ epoch: number }>(dir);
    assert.equal(ckpt.state.epoch, 4);
    assert.deepEqual(weightsOf(ckpt.model), weightsOf(model));
    [model, ckpt.model].forEach((m) => m.dispose());
    optimizer.dispose();
  });
});
