import * as tf from '@tensorflow/tfjs';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageDataset } from '../src/data';
import { saveModel, trainModel } from '../src/train';
import { checkOut, lockOut, LOCK_FILE } from '../src/train/out_dir';

before(async () => {
  await tf.setBackend('cpu');
});

const dirs: string[] = [];
const tmpDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gfp-out-'));
  dirs.push(dir);
  return dir;
};
after(() => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

const root = path.join(__dirname, '..', '..');
const gfp = (...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'gfp.js'), ...args], { encoding: 'utf8', cwd: root });
  return { code: r.status, err: r.stderr };
};

/** Every file under `dir` (relative path -> bytes). */
async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
  return new Map(await Promise.all(files.map(async (f) => [f, await fs.readFile(path.join(dir, f))] as [string, Buffer])));
}

function tinyNet(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 1] });
  const x = tf.layers.flatten().apply(tf.layers.conv2d({ filters: 2, kernelSize: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input)) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tf.SymbolicTensor, name: 'tiny' });
}

function stripes(n: number): ImageDataset {
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  const images = Uint8Array.from({ length: n * 16 }, (_, k) => (((k % 16) < 8) === (labels[Math.floor(k / 16)] === 0) ? 200 : 40));
  return new ImageDataset({ name: 'stripes', images, labels, shape: [4, 4, 1], classes: 2 });
}

/** A process id that no longer runs. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout as unknown as number;

describe('the output folder is checked before any work', () => {
  it('refuses the model\'s own folder (also through a link) and any folder inside it', async () => {
    const model = tinyNet();
    const dir = await tmpDir();
    const modelDir = path.join(dir, 'model');
    await saveModel(model, modelDir);
    model.dispose();
    await fs.symlink(modelDir, path.join(dir, 'link'));
    for (const [out, models] of [[modelDir, [modelDir]], [modelDir, [path.join(modelDir, 'model.json')]], [path.join(dir, 'link'), [modelDir]]]) {
      await assert.rejects(checkOut(out as string, { models: models as string[], overwrite: true }), /--out .* is the folder of the model .*: writing there would replace/);
    }
    await assert.rejects(checkOut(path.join(modelDir, 'pruned'), { models: [modelDir] }), /--out .*pruned is inside the folder of the model/);
    await checkOut(path.join(dir, 'pruned'), { models: [modelDir, 'resnet20'] });
  });

  it('refuses a file, a path under a file, a folder holding a run (naming the flags), --resume without a checkpoint', async () => {
    const dir = await tmpDir();
    const file = path.join(dir, 'notes.txt');
    await fs.writeFile(file, 'x');
    await assert.rejects(checkOut(file), /--out .*notes\.txt is a file, not a folder/);
    await assert.rejects(checkOut(path.join(file, 'run')), /--out .*run cannot be created: .*notes\.txt is a file/);
    await assert.rejects(checkOut(dir), /--out .* already holds notes\.txt: add --overwrite to replace it, or choose another --out/);
    await checkOut(dir, { overwrite: true });
    await assert.rejects(checkOut(path.join(dir, 'typo'), { resume: true }), /--resume: .*typo does not exist, so there is no checkpoint/);
    await assert.rejects(checkOut(dir, { resume: true }), /--resume: .* holds no checkpoint \(no .*checkpoint\.json\)/);
    await fs.writeFile(path.join(dir, 'checkpoint.json'), '{}');
    await assert.rejects(checkOut(dir), /already holds .*: add --resume to continue the run it holds, --overwrite to replace it/);
    await checkOut(dir, { resume: true });
    await assert.rejects(checkOut(dir, { resume: true, overwrite: true }), /--resume and --overwrite contradict each other/);
  });

  it('refuses a folder it cannot write', { skip: process.getuid?.() === 0 ? 'root writes any folder whatever its mode; run as a user to check' : false }, async () => {
    const dir = await tmpDir();
    await fs.chmod(dir, 0o500);
    await assert.rejects(checkOut(path.join(dir, 'run')), /--out .*run cannot be written: .* is not writable \(EACCES\)/);
    await fs.chmod(dir, 0o700);
  });

  it('locks the folder: a second writer is refused, a dead writer\'s lock is taken over with a note, release cleans up', async () => {
    const parent = await tmpDir();
    const out = path.join(parent, 'run');
    const listeners = process.listenerCount('exit');
    const release = await lockOut(out);
    assert.equal((await fs.readFile(path.join(out, LOCK_FILE), 'utf8')).trim(), String(process.pid));
    assert.equal(process.listenerCount('exit'), listeners + 1, 'released at exit too');
    await assert.rejects(lockOut(out), new RegExp(`--out ${out} is being written by process ${process.pid} \\(lock .*\\.gfp\\.lock\\)`));
    await assert.rejects(checkOut(out), new RegExp(`being written by process ${process.pid}`));
    release();
    assert.equal(process.listenerCount('exit'), listeners);
    assert.deepEqual(await fs.readdir(parent), [], 'the folder it created is removed again while empty');
    // a lock left by a killed run
    await fs.mkdir(out);
    const dead = Number(deadPid());
    await fs.writeFile(path.join(out, LOCK_FILE), `${dead}\n`);
    const write = process.stderr.write;
    let note = '';
    process.stderr.write = ((s: string) => ((note += s), true)) as typeof process.stderr.write;
    const again = await lockOut(out).finally(() => (process.stderr.write = write));
    assert.match(note, new RegExp(`taking over the lock .*\\.gfp\\.lock of process ${dead}, which no longer runs`));
    await fs.writeFile(path.join(out, 'model.json'), '{}');
    again();
    assert.deepEqual(await fs.readdir(out), ['model.json'], 'the lock is gone, the folder (not created by it) stays');
  });

  it('trainModel: refuses an earlier run without resume, resume without a checkpoint, a locked folder; overwrite starts afresh', async () => {
    const data = { name: 'stripes', train: stripes(16), test: stripes(8) };
    const run = (out: string, extra: Partial<Parameters<typeof trainModel>[0]> = {}) => {
      const model = tinyNet();
      return trainModel({ model, dataset: data, out, epochs: 1, batchSize: 8, lr: 0.1, progress: 'silent', ...extra }).finally(() => model.dispose());
    };
    const n0 = tf.memory().numTensors;
    const out = await tmpDir();
    await run(out);
    const first = await snapshot(out);
    await assert.rejects(run(out), /--out .* already holds .*: add --resume to continue the run it holds, --overwrite to replace it/);
    const fresh = path.join(await tmpDir(), 'typo');
    await assert.rejects(run(fresh, { resume: true }), /--resume: .*typo does not exist/);
    await assert.rejects(fs.stat(fresh), /ENOENT/, 'nothing was written');
    const release = await lockOut(out);
    await assert.rejects(run(out, { resume: true, epochs: 2 }), /being written by process/);
    release();
    assert.deepEqual(await snapshot(out), first, 'the refused runs changed nothing');
    const again = await run(out, { overwrite: true, epochs: 2 });
    assert.equal(again.history.length, 2, 'trained afresh: 2 epochs, not 1 resumed + 1');
    assert.equal(tf.memory().numTensors, n0);
  });

  it('gfp prune, train and demo refuse a bad --out before any work, and change nothing', async () => {
    const dir = await tmpDir();
    const model = tinyNet();
    const modelDir = path.join(dir, 'model');
    await saveModel(model, modelDir);
    model.dispose();
    const modelFiles = await snapshot(modelDir);
    const file = path.join(dir, 'file.txt');
    await fs.writeFile(file, 'x');
    const cases: [string[], RegExp][] = [
      [['prune', '--model', modelDir, '--out', modelDir], /--out .*model is the folder of the model .*model: writing there would replace/],
      [['prune', '--model', 'resnet20', '--out', file], /--out .*file\.txt is a file, not a folder/],
      [['prune', '--model', 'resnet20', '--out', path.join(dir, 'typo'), '--resume'], /--resume: .*typo does not exist/],
      [['train', '--model', 'resnet20', '--out', modelDir], /--out .*model already holds model\.json, weights\.bin: add --overwrite to replace it/],
      [['train', '--model', 'resnet20', '--out', path.join(dir, 'typo'), '--resume'], /--resume: .*typo does not exist/],
      [['train', '--model', 'fpn-detector', '--dataset', 'fashion-scenes', '--out', modelDir], /--out .*model already holds/],
      [['demo', modelDir, '--out', file], /--out .*file\.txt is a file/],
      [['demo', modelDir, '--out', modelDir, '--overwrite'], /is the folder of the model/],
    ];
    for (const [args, message] of cases) {
      const r = gfp(...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message, args.join(' '));
    }
    assert.deepEqual(await snapshot(modelDir), modelFiles);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['file.txt', 'model']);
  });
});
