import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tf from '@tensorflow/tfjs';
import {
  ImageDataset, cifar10, classNames, fashionMnist, mulberry32, packageRoot, parseCifar10, readCifar10, readIdx,
} from '../src/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-data-'));
const tmpFile = (name: string, bytes: Uint8Array): string => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return file;
};

// IDX by hand: 0, 0, type code, rank, dims as big-endian uint32, then the payload.
function idxBytes(code: number, dims: number[], payload: Buffer): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = code;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, payload]);
}

// Toy dataset whose sample i has pixel 0 = i and label i % classes; other pixels pseudo-random.
function toyDataset(n: number, shape: [number, number, number], classes: number, seed = 1): ImageDataset {
  const pixels = shape[0] * shape[1] * shape[2];
  const rand = mulberry32(seed);
  const images = new Uint8Array(n * pixels).map(() => Math.floor(rand() * 256));
  for (let i = 0; i < n; i++) images[i * pixels] = i;
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  return new ImageDataset({ name: 'toy', images, labels, shape, classes });
}

// Collects a whole pass as plain arrays (and disposes the tensors).
function collect(ds: ImageDataset, batchSize: number, opts = {}): { xs: Float32Array[]; labels: number[]; shapes: number[][] } {
  const xs: Float32Array[] = [];
  const labels: number[] = [];
  const shapes: number[][] = [];
  for (const b of ds.batches(batchSize, opts)) {
    shapes.push(b.xs.shape, b.ys.shape);
    xs.push(b.xs.dataSync() as Float32Array);
    labels.push(...b.labels);
    b.xs.dispose(); b.ys.dispose();
  }
  return { xs, labels, shapes };
}

// Image i of ds as [H, W, C] floats in [0, 1].
const sourceImage = (ds: ImageDataset, i: number): tf.Tensor3D => {
  const pixels = ds.shape[0] * ds.shape[1] * ds.shape[2];
  return tf.tensor3d(Float32Array.from(ds.images.subarray(i * pixels, (i + 1) * pixels), (v) => v / 255), ds.shape);
};

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): boolean =>
  a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) <= tol);

before(async () => { await tf.setBackend('cpu'); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('IDX reader', () => {
  const values = Buffer.from(Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 37 + 11) & 255));
  const images = idxBytes(0x08, [3, 4, 5], values);

  for (const [kind, bytes] of [['raw', images], ['gzip', zlib.gzipSync(images)]] as const) {
    test(`reads a ${kind} uint8 rank-3 file`, async () => {
      const got = await readIdx(tmpFile(`images-${kind}.idx`, bytes), { dtype: 'uint8', rank: 3 });
      assert.equal(got.dtype, 'uint8');
      assert.deepEqual(got.dims, [3, 4, 5]);
      assert.ok(got.data instanceof Uint8Array);
      assert.deepEqual(Array.from(got.data), Array.from(values));
    });
  }

  test('decodes the other element types big-endian', async () => {
    const cases: [number, (b: Buffer, v: number, at: number) => void, number, number[]][] = [
      [0x09, (b, v, at) => b.writeInt8(v, at), 1, [-128, -1, 0, 127]],
      [0x0b, (b, v, at) => b.writeInt16BE(v, at), 2, [-32768, -2, 300, 32767]],
      [0x0c, (b, v, at) => b.writeInt32BE(v, at), 4, [-2147483648, -5, 70000, 2147483647]],
      [0x0d, (b, v, at) => b.writeFloatBE(v, at), 4, [-1.5, 0, 0.25, 2 ** 40 + 2 ** 17]],
      [0x0e, (b, v, at) => b.writeDoubleBE(v, at), 8, [-1e-300, Math.PI, 0, 1e300]],
    ];
    for (const [code, write, size, vals] of cases) {
      const payload = Buffer.alloc(vals.length * size);
      vals.forEach((v, i) => write(payload, v, i * size));
      const got = await readIdx(tmpFile(`type-${code}.idx`, idxBytes(code, [2, 2], payload)));
      assert.deepEqual(got.dims, [2, 2]);
      assert.deepEqual(Array.from(got.data), vals, `type code 0x${code.toString(16)}`);
    }
  });

  test('a missing file names the path', async () => {
    const file = path.join(tmp, 'no-such.idx');
    await assert.rejects(readIdx(file), (e: Error) => e.message.startsWith(`${file}: cannot read`) && /IDX/.test(e.message));
  });

  test('a wrong magic names the path, the expected and the found magic', async () => {
    const labels = tmpFile('labels.idx', idxBytes(0x08, [3], Buffer.from([1, 2, 3])));
    await assert.rejects(readIdx(labels, { dtype: 'uint8', rank: 3 }), (e: Error) =>
      e.message.startsWith(`${labels}: expected IDX magic 0x00000803 (images, uint8`) && e.message.includes('found 0x00000801'));
    const notIdx = tmpFile('zip.idx', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]));
    await assert.rejects(readIdx(notIdx), (e: Error) => e.message.startsWith(`${notIdx}: expected IDX magic`) && e.message.includes('0x504b0304'));
  });

  test('truncated or overlong data names the path and the byte counts', async () => {
    const short = tmpFile('short.idx', images.subarray(0, images.length - 1));
    await assert.rejects(readIdx(short), (e: Error) =>
      e.message.startsWith(`${short}: truncated`) && e.message.includes(`need ${images.length} bytes`) && e.message.includes(`has ${images.length - 1}`));
    const long = tmpFile('long.idx', Buffer.concat([images, Buffer.from([0])]));
    await assert.rejects(readIdx(long), (e: Error) => e.message.startsWith(`${long}: trailing bytes`));
    const header = tmpFile('header.idx', images.subarray(0, 9));
    await assert.rejects(readIdx(header), (e: Error) => e.message.startsWith(`${header}: truncated header`));
    const gz = zlib.gzipSync(images);
    const cut = tmpFile('cut.idx.gz', gz.subarray(0, gz.length >> 1));
    await assert.rejects(readIdx(cut), (e: Error) => e.message.startsWith(`${cut}: gzip data is corrupt or truncated`));
  });
});

describe('CIFAR-10 reader', () => {
  // pixel value of image i at (y, x, c), written CHW into the record, expected back HWC
  const pixel = (i: number, y: number, x: number, c: number): number => (i * 7 + y * 5 + x * 3 + c * 101) & 255;
  const records = (labels: number[], first = 0): Buffer => {
    const out = Buffer.alloc(labels.length * 3073);
    labels.forEach((label, r) => {
      out[r * 3073] = label;
      for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
        out[r * 3073 + 1 + c * 1024 + y * 32 + x] = pixel(first + r, y, x, c);
      }
    });
    return out;
  };

  test('decodes records and converts CHW to HWC', async () => {
    for (const [kind, bytes] of [['raw', records([3, 0, 9])], ['gzip', zlib.gzipSync(records([3, 0, 9]))]] as const) {
      const { images, labels } = await readCifar10(tmpFile(`cifar-${kind}.bin`, bytes));
      assert.deepEqual(Array.from(labels), [3, 0, 9]);
      assert.equal(images.length, 3 * 32 * 32 * 3);
      for (let i = 0; i < 3; i++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) {
        assert.equal(images[((i * 32 + y) * 32 + x) * 3 + c], pixel(i, y, x, c));
      }
    }
  });

  test('bad lengths and labels name the file', async () => {
    assert.throws(() => parseCifar10(new Uint8Array(3074), 'b.bin'), /^Error: b\.bin: length 3074 bytes is not a positive multiple of 3073/);
    assert.throws(() => parseCifar10(new Uint8Array(0), 'e.bin'), /^Error: e\.bin: length 0 bytes/);
    assert.throws(() => parseCifar10(records([1, 10]), 'l.bin'), /^Error: l\.bin: record 1 has label 10; expected 0\.\.9/);
    const missing = path.join(tmp, 'none.bin');
    await assert.rejects(readCifar10(missing), (e: Error) => e.message.startsWith(`${missing}: cannot read`));
  });

  test('cifar10() joins data_batch_* in number order and reads test_batch', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cifar-'));
    fs.writeFileSync(path.join(dir, 'data_batch_10.bin'), records([3], 2));
    fs.writeFileSync(path.join(dir, 'data_batch_2.bin'), records([2], 1));
    fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), records([1, 5], 0).subarray(0, 3073));
    await assert.rejects(cifar10({ dir }), (e: Error) => e.message.includes(`no test_batch.bin in ${dir}`));
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), records([7, 8]));
    const { train, test: testSet } = await cifar10({ dir });
    assert.deepEqual(Array.from(train.labels), [1, 2, 3]);
    assert.deepEqual(train.shape, [32, 32, 3]);
    assert.equal(train.images[((2 * 32 + 4) * 32 + 6) * 3 + 1], pixel(2, 4, 6, 1));
    assert.deepEqual(Array.from(testSet.labels), [7, 8]);
    assert.equal(testSet.classNames?.[7], 'horse');
    const limited = await cifar10({ dir, limit: { train: 2, test: 1 } });
    assert.deepEqual([limited.train.size, limited.test.size], [2, 1]);
    await assert.rejects(cifar10({ dir, limit: { train: 4 } }), /cifar10: limit\.train must be an integer in 0\.\.3, got 4/);
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    await assert.rejects(cifar10({ dir: empty }), (e: Error) => e.message.includes(`no data_batch_*.bin files in ${empty}`));
  });
});

describe('ImageDataset', () => {
  test('mulberry32 is deterministic and in [0, 1)', () => {
    const a = mulberry32(123), b = mulberry32(123), c = mulberry32(124);
    const sa = Array.from({ length: 1000 }, a), sb = Array.from({ length: 1000 }, b), sc = Array.from({ length: 1000 }, c);
    assert.deepEqual(sa, sb);
    assert.notDeepEqual(sa, sc);
    assert.ok(sa.every((u) => u >= 0 && u < 1));
    assert.ok(Math.abs(sa.reduce((s, u) => s + u, 0) / 1000 - 0.5) < 0.05);
  });

  test('batches: shapes, one-hot ys, pixels / 255, dropLast, no leaked tensors', () => {
    const ds = toyDataset(10, [3, 4, 2], 4);
    const before = tf.memory().numTensors;
    const shapes: number[][] = [];
    let first = 0;
    for (const { xs, ys, labels } of ds.batches(4)) {
      shapes.push(xs.shape);
      assert.equal(xs.dtype, 'float32');
      assert.deepEqual(ys.shape, [labels.length, 4]);
      const ref = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 4));
      assert.deepEqual(Array.from(ys.dataSync()), Array.from(ref.dataSync()));
      const src = tf.tidy(() => tf.stack(Array.from(labels, (_, k) => sourceImage(ds, first + k))));
      assert.ok(close(xs.dataSync(), src.dataSync()));
      tf.dispose([ref, src, xs, ys]);
      first += labels.length;
    }
    assert.deepEqual(shapes, [[4, 3, 4, 2], [4, 3, 4, 2], [2, 3, 4, 2]]);
    assert.deepEqual(collect(ds, 4, { dropLast: true }).shapes.filter((_, i) => i % 2 === 0), [[4, 3, 4, 2], [4, 3, 4, 2]]);
    assert.equal(collect(ds, 11, { dropLast: true }).labels.length, 0);
    const early = ds.batches(3);
    const one = early.next().value as { xs: tf.Tensor; ys: tf.Tensor };
    tf.dispose([one.xs, one.ys]);
    early.return(undefined);
    assert.equal(tf.memory().numTensors, before);
    assert.throws(() => ds.batches(0).next(), /ImageDataset 'toy': batchSize must be a positive integer, got 0/);
  });

  test('seeded shuffle is a deterministic permutation and xs follow labels', () => {
    const ds = toyDataset(50, [2, 2, 1], 50);
    const a = collect(ds, 8, { shuffle: true, seed: 5 });
    const b = collect(ds, 8, { shuffle: true, seed: 5 });
    const c = collect(ds, 8, { shuffle: true, seed: 6 });
    assert.deepEqual(a.labels, b.labels);
    assert.notDeepEqual(a.labels, c.labels);
    assert.deepEqual([...a.labels].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual(a.labels, Array.from({ length: 50 }, (_, i) => i));
    const firstPixels = a.xs.flatMap((x) => Array.from({ length: x.length / 4 }, (_, k) => Math.round(x[k * 4] * 255)));
    assert.deepEqual(firstPixels, a.labels); // sample i has pixel 0 = i = label
  });

  test('augmentation: deterministic per seed, each output a flip/crop of its source', () => {
    const p = 1;
    const ds = toyDataset(40, [5, 6, 2], 3);
    const before = tf.memory().numTensors;
    const augment = { flip: true, padCrop: p };
    const a = collect(ds, 16, { augment, seed: 7 });
    assert.deepEqual(a.xs, collect(ds, 16, { augment, seed: 7 }).xs);
    assert.notDeepEqual(a.xs, collect(ds, 16, { augment, seed: 8 }).xs);
    assert.deepEqual(a.labels, Array.from(ds.labels)); // no shuffle: file order
    const out = a.xs.flatMap((x) => Array.from({ length: x.length / 60 }, (_, k) => x.subarray(k * 60, (k + 1) * 60)));
    const seen = new Set<string>();
    for (let i = 0; i < ds.size; i++) {
      const match = tf.tidy(() => {
        const padded = tf.pad(sourceImage(ds, i), [[p, p], [p, p], [0, 0]]);
        for (const flip of [false, true]) for (let oy = 0; oy <= 2 * p; oy++) for (let ox = 0; ox <= 2 * p; ox++) {
          const crop = padded.slice([oy, ox, 0], [5, 6, 2]);
          if (close(out[i], (flip ? tf.reverse(crop, 1) : crop).dataSync())) return `${flip}:${oy}:${ox}`;
        }
        return undefined;
      });
      assert.ok(match !== undefined, `sample ${i} is not a flip/crop of its source`);
      seen.add(match);
    }
    assert.ok(seen.size >= 6, `only ${seen.size} distinct flip/crop choices in 40 samples`);
    assert.ok([...seen].some((s) => s.startsWith('true')) && [...seen].some((s) => s.startsWith('false')));
    assert.equal(tf.memory().numTensors, before);
  });

  test('channelStats and normalized() match tf.moments', () => {
    const ds = toyDataset(30, [4, 4, 3], 2);
    const { mean, variance } = tf.tidy(() => tf.moments(tf.tensor2d(Float32Array.from(ds.images, (v) => v / 255), [30 * 16, 3]), 0));
    const stats = ds.channelStats();
    assert.ok(close(stats.mean, mean.dataSync(), 1e-5));
    assert.ok(close(stats.std, Array.from(variance.dataSync(), Math.sqrt), 1e-5));
    tf.dispose([mean, variance]);
    const norm = ds.normalized();
    assert.deepEqual(norm.normalization, stats);
    assert.equal(ds.normalization, undefined);
    const { xs, ys } = norm.batches(30).next().value as { xs: tf.Tensor4D; ys: tf.Tensor };
    const m = tf.tidy(() => tf.moments(xs.reshape([-1, 3]), 0));
    assert.ok(close(m.mean.dataSync(), [0, 0, 0], 1e-4));
    assert.ok(close(m.variance.dataSync(), [1, 1, 1], 1e-4));
    tf.dispose([xs, ys, m.mean, m.variance]);
    const other = toyDataset(5, [4, 4, 3], 2, 9).normalized(stats);
    assert.deepEqual(other.normalization, stats);
    assert.throws(() => ds.normalized({ mean: [0], std: [1] }), /normalization needs 3 means and 3 positive stds/);
  });

  test('take and subset', () => {
    const ds = toyDataset(12, [2, 3, 1], 5);
    const t = ds.take(4);
    assert.equal(t.size, 4);
    assert.deepEqual(Array.from(t.labels), [0, 1, 2, 3]);
    assert.deepEqual(Array.from(t.images), Array.from(ds.images.subarray(0, 24)));
    const s = ds.subset([7, 2, 7]);
    assert.deepEqual(Array.from(s.labels), [2, 2, 2]);
    assert.deepEqual(Array.from(s.images.subarray(6, 12)), Array.from(ds.images.subarray(12, 18)));
    assert.deepEqual(Array.from(s.images.subarray(0, 6)), Array.from(ds.images.subarray(42, 48)));
    assert.equal(s.size, 3);
    assert.throws(() => ds.take(13), /ImageDataset 'toy': take\(n\) needs an integer n in 0\.\.12, got 13/);
    assert.throws(() => ds.subset([0, 12]), /subset index 12 \(position 1\) is not an integer in 0\.\.11/);
    assert.throws(() => new ImageDataset({ name: 'bad', images: new Uint8Array(4), labels: new Int32Array([3]), shape: [2, 2, 1], classes: 3 }),
      /ImageDataset 'bad': sample 0 has label 3, expected an integer in 0\.\.2/);
  });
});

describe('Fashion-MNIST and packageRoot', () => {
  test('packageRoot finds this package and an installed copy', () => {
    const root = packageRoot();
    assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).name, 'group-fisher-pruning');
    assert.ok(path.relative(root, __dirname).split(path.sep).every((part) => part !== '..'));
    // an installed copy: node_modules/group-fisher-pruning/dist/src/data/package_root.js, with a decoy package.json between
    const installed = path.join(tmp, 'app', 'node_modules', 'group-fisher-pruning');
    const dataDir = path.join(installed, 'dist', 'src', 'data');
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(path.join(tmp, 'app', 'package.json'), JSON.stringify({ name: 'app' }));
    fs.writeFileSync(path.join(installed, 'dist', 'package.json'), JSON.stringify({ type: 'commonjs' }));
    fs.writeFileSync(path.join(installed, 'package.json'), JSON.stringify({ name: 'group-fisher-pruning' }));
    fs.copyFileSync(require.resolve('../src/data/package_root'), path.join(dataDir, 'package_root.js'));
    const copy = require(path.join(dataDir, 'package_root.js')) as { packageRoot: () => string };
    assert.equal(copy.packageRoot(), installed);
  });

  test('the shipped Fashion-MNIST loads: 60000/10000 samples, 28x28x1, balanced labels', async () => {
    const { train, test: testSet } = await fashionMnist();
    assert.deepEqual([train.size, testSet.size], [60000, 10000]);
    for (const ds of [train, testSet]) {
      assert.deepEqual(ds.shape, [28, 28, 1]);
      assert.equal(ds.classes, 10);
      assert.deepEqual(ds.classNames, classNames);
      assert.equal(ds.images.length, ds.size * 784);
      const counts = new Array(10).fill(0);
      for (const l of ds.labels) counts[l] += 1;
      assert.deepEqual(counts, new Array(10).fill(ds.size / 10)); // also proves every label is in 0..9
    }
    assert.deepEqual(classNames, ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    const limited = await fashionMnist({ limit: { train: 100, test: 7 } });
    assert.deepEqual([limited.train.size, limited.test.size], [100, 7]);
    assert.deepEqual(Array.from(limited.train.labels), Array.from(train.labels.subarray(0, 100)));
    await assert.rejects(fashionMnist({ limit: { test: 10001 } }), /fashionMnist: limit\.test must be an integer in 0\.\.10000, got 10001/);
    const dir = path.join(tmp, 'no-fashion');
    await assert.rejects(fashionMnist({ dir }), (e: Error) => e.message.includes(path.join(dir, 'train-images-idx3-ubyte.gz')));
  });
});
