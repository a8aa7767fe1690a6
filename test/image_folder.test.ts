import {test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as jpeg from 'jpeg-js';
import {PNG} from 'pngjs';
import {useBackend} from '../src/backend';
import {imageFolder, ImageDataset, mulberry32} from '../src/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-images-'));
let folders = 0;
const newFolder = (): string => fs.mkdtempSync(path.join(tmp, `f${folders++}-`));

/** An image [H, W, C] of 0..255 values, C = 1, 3 or 4. */
interface Img { width: number; height: number; channels: 1 | 3 | 4; data: Uint8Array }

const colorTypes: Record<Img['channels'], 0 | 2 | 6> = {1: 0, 3: 2, 4: 6}; // PNG colour types: gray, RGB, RGBA

function writePng(file: string, img: Img): void {
  const png = new PNG({width: img.width, height: img.height, colorType: colorTypes[img.channels], inputColorType: colorTypes[img.channels], inputHasAlpha: img.channels === 4});
  png.data = Buffer.from(img.data);
  fs.mkdirSync(path.dirname(file), {recursive: true});
  fs.writeFileSync(file, PNG.sync.write(png, {colorType: colorTypes[img.channels], inputColorType: colorTypes[img.channels], inputHasAlpha: img.channels === 4}));
}

function writeJpeg(file: string, img: Img): void {
  assert.equal(img.channels, 3);
  const rgba = new Uint8Array(img.width * img.height * 4).map((_, i) => (i % 4 === 3 ? 255 : img.data[Math.floor(i / 4) * 3 + (i % 4)]));
  fs.mkdirSync(path.dirname(file), {recursive: true});
  fs.writeFileSync(file, jpeg.encode({width: img.width, height: img.height, data: rgba}, 95).data);
}

/** Random pixels, except pixel 0 channel 0 = `tag` (identifies the image after the shuffle). */
function noise(width: number, height: number, channels: Img['channels'], seed: number, tag = 0): Img {
  const rand = mulberry32(seed);
  const data = new Uint8Array(width * height * channels).map(() => Math.floor(rand() * 256));
  data[0] = tag;
  if (channels === 4) for (let p = 3; p < data.length; p += 4) data[p] = Math.floor(rand() * 256); // alpha, to be dropped
  return {width, height, channels, data};
}

/** A smooth colour gradient (JPEG keeps it within a few levels). */
function gradient(width: number, height: number, seed: number): Img {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const p = (y * width + x) * 3;
    data[p] = (40 + 8 * x + seed * 10) % 256; data[p + 1] = 60 + 6 * y; data[p + 2] = 128 + 3 * (x - y);
  }
  return {width, height, channels: 3, data};
}

/** The images of a dataset, one Uint8Array [H, W, C] each. */
const samples = (ds: ImageDataset): Uint8Array[] => {
  const pixels = ds.shape[0] * ds.shape[1] * ds.shape[2];
  return Array.from({length: ds.size}, (_, i) => ds.images.slice(i * pixels, (i + 1) * pixels));
};

/** The float batches of a whole pass, concatenated. */
function batchValues(ds: ImageDataset): Float32Array {
  const parts: number[] = [];
  for (const {xs, ys} of ds.batches(4)) { parts.push(...xs.dataSync()); tf.dispose([xs, ys]); }
  return Float32Array.from(parts);
}

test('setup: wasm backend', async () => {
  await useBackend('wasm');
});

test('train/test layout: classes sorted by name, PNG pixels exact, labels follow the folders, other files skipped', async () => {
  const dir = newFolder();
  const classes = ['zebra', 'cat', 'dog'];
  const sources = new Map<string, {label: number; data: Uint8Array}>(); // key: split/class/tag
  for (const split of ['train', 'test']) {
    classes.forEach((c, k) => {
      for (let i = 0; i < 3; i++) {
        const tag = 16 * k + i + (split === 'test' ? 8 : 0);
        const img = noise(5, 4, 3, 100 * k + 10 * i + (split === 'test' ? 1 : 0), tag);
        writePng(path.join(dir, split, c, `img${i}.png`), img);
        sources.set(`${split}/${tag}`, {label: ['cat', 'dog', 'zebra'].indexOf(c), data: img.data});
      }
    });
  }
  fs.writeFileSync(path.join(dir, 'train', 'cat', 'notes.txt'), 'not an image');
  fs.writeFileSync(path.join(dir, 'train', 'dog', '.DS_Store'), 'junk');
  const before = tf.memory().numTensors;
  const {train, test: testSet} = await imageFolder(dir);
  assert.equal(tf.memory().numTensors, before);
  for (const [split, ds] of [['train', train], ['test', testSet]] as const) {
    assert.deepEqual(ds.classNames, ['cat', 'dog', 'zebra']);
    assert.deepEqual(ds.shape, [4, 5, 3]);
    assert.equal(ds.size, 9);
    samples(ds).forEach((pixels, i) => {
      const src = sources.get(`${split}/${pixels[0]}`);
      assert.ok(src, `${split} sample ${i} matches no source image`);
      assert.deepEqual(pixels, src.data);
      assert.equal(ds.labels[i], src.label);
    });
    // default range [0, 1]: batches hold x / 255
    const xs = batchValues(ds);
    ds.images.forEach((v, i) => assert.ok(Math.abs(xs[i] - v / 255) < 1e-6));
  }
  assert.equal(train.preprocessing?.layout, 'train-test');
  assert.deepEqual(train.preprocessing?.range, [0, 1]);
  assert.deepEqual(train.preprocessing?.size, [4, 5]);
  assert.equal(train.preprocessing?.resized, 0);
  assert.deepEqual(JSON.parse(JSON.stringify(train.preprocessing)), train.preprocessing, 'plain data');
});

test('JPEG decodes within a few levels of the source; grayscale and RGBA PNGs convert to the asked channels', async () => {
  const dir = newFolder();
  const jpgs = [gradient(16, 12, 0), gradient(16, 12, 1)];
  jpgs.forEach((img, i) => writeJpeg(path.join(dir, 'train', 'a', `p${i}.JPG`), img));
  writeJpeg(path.join(dir, 'test', 'a', 'q.jpeg'), jpgs[0]);
  const {train} = await imageFolder(dir);
  assert.equal(train.size, 2);
  for (const pixels of samples(train)) {
    const errors = jpgs.map((img) => pixels.reduce((a, v, i) => a + Math.abs(v - img.data[i]), 0) / pixels.length);
    assert.ok(Math.min(...errors) < 2.5, `mean abs error ${Math.min(...errors)} levels`);
    const best = jpgs[errors.indexOf(Math.min(...errors))];
    assert.ok(pixels.every((v, i) => Math.abs(v - best.data[i]) <= 12), 'every pixel within 12 levels');
  }

  // gray PNG -> 1 channel exact, -> 3 channels repeated; RGBA PNG -> RGB exact (alpha dropped), -> luma
  const gdir = newFolder();
  const gray = noise(6, 5, 1, 7, 3);
  const rgba = noise(6, 5, 4, 8, 9);
  writePng(path.join(gdir, 'g', 'gray.png'), gray);
  writePng(path.join(gdir, 'r', 'rgba.png'), rgba);
  const one = await imageFolder(gdir, {channels: 1, split: 0});
  const three = await imageFolder(gdir, {channels: 3, split: 0});
  assert.deepEqual(one.train.shape, [5, 6, 1]);
  assert.equal(one.test.size, 0);
  const byClass = (ds: ImageDataset, label: number) => samples(ds)[Array.from(ds.labels).indexOf(label)];
  assert.deepEqual(byClass(one.train, 0), gray.data);
  assert.deepEqual(byClass(three.train, 0), Uint8Array.from({length: 90}, (_, i) => gray.data[Math.floor(i / 3)]));
  assert.deepEqual(byClass(three.train, 1), Uint8Array.from({length: 90}, (_, i) => rgba.data[Math.floor(i / 3) * 4 + (i % 3)]));
  // luma against tfjs's rgbToGrayscale weights (0.2989, 0.5870, 0.1140): within one level
  const rgb = byClass(three.train, 1);
  const ref = Array.from({length: 30}, (_, p) => 0.2989 * rgb[3 * p] + 0.587 * rgb[3 * p + 1] + 0.114 * rgb[3 * p + 2]);
  byClass(one.train, 1).forEach((v, i) => assert.ok(Math.abs(v - ref[i]) <= 1, `pixel ${i}: ${v} vs ${ref[i]}`));
});

test('resize: bilinear with half-pixel centres, as tf.image.resizeBilinear on the cpu backend; default size is the first image\'s', async () => {
  const dir = newFolder();
  const big = noise(12, 10, 3, 21, 1);
  const small = noise(4, 3, 3, 22, 2);
  writePng(path.join(dir, 'a', 'first.png'), noise(8, 6, 3, 23, 3)); // class a, first file: sets the default size [6, 8]
  writePng(path.join(dir, 'a', 'second.png'), big);
  writePng(path.join(dir, 'b', 'x.png'), small);
  const before = tf.memory().numTensors;
  const {train} = await imageFolder(dir, {split: 0});
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(train.shape, [6, 8, 3]);
  assert.equal(train.preprocessing?.resized, 2);
  const {train: sized} = await imageFolder(dir, {split: 0, size: [5, 7]});
  assert.deepEqual(sized.shape, [5, 7, 3]);
  assert.equal(sized.preprocessing?.resized, 3);
  await tf.setBackend('cpu');
  const reference = (img: Img, size: [number, number]) => tf.tidy(() =>
    tf.image.resizeBilinear(tf.tensor3d(img.data, [img.height, img.width, 3], 'float32'), size, false, true).dataSync());
  const sizes: [number, number][] = [[6, 8], [5, 7]];
  const refs = sizes.map((size) => [reference(big, size), reference(small, size)]);
  await tf.setBackend('wasm');
  [train, sized].forEach((ds, d) => {
    const all = samples(ds);
    // each resized image is the sample nearest its reference: at most 0.5 off (rounded to 0..255)
    const nearest = (ref: Float32Array | Int32Array | Uint8Array) => Math.min(...all.map((px) => px.reduce((a, v, i) => Math.max(a, Math.abs(v - ref[i])), 0)));
    assert.ok(nearest(refs[d][0]) <= 0.5 + 1e-4, `big image resized to [${sizes[d]}], max error ${nearest(refs[d][0])}`);
    assert.ok(nearest(refs[d][1]) <= 0.5 + 1e-4, `small image resized to [${sizes[d]}], max error ${nearest(refs[d][1])}`);
  });
});

test('range [-1, 1] and mean/std (on [0, 1] values) scale the batches; preprocessing records them', async () => {
  const dir = newFolder();
  for (let i = 0; i < 4; i++) writePng(path.join(dir, i % 2 ? 'b' : 'a', `${i}.png`), noise(3, 3, 3, 40 + i, i));
  const signed = await imageFolder(dir, {range: [-1, 1], split: 0});
  const xs = batchValues(signed.train);
  signed.train.images.forEach((v, i) => assert.ok(Math.abs(xs[i] - (v / 127.5 - 1)) < 1e-5));
  assert.deepEqual(signed.train.preprocessing?.range, [-1, 1]);
  const mean = [0.4, 0.5, 0.6];
  const std = [0.2, 0.25, 0.3];
  const normed = await imageFolder(dir, {mean, std, split: 0});
  const ys = batchValues(normed.train);
  normed.train.images.forEach((v, i) => assert.ok(Math.abs(ys[i] - (v / 255 - mean[i % 3]) / std[i % 3]) < 1e-5));
  assert.deepEqual(normed.train.preprocessing?.mean, mean);
  assert.deepEqual(normed.train.preprocessing?.std, std);
  assert.equal(normed.train.preprocessing?.range, undefined);
});

test('DIR/<class>/*: seeded split, stratified per class, reproducible; every image in exactly one split', async () => {
  const dir = newFolder();
  const counts = {a: 10, b: 5, c: 7};
  Object.entries(counts).forEach(([c, n], k) => {
    for (let i = 0; i < n; i++) writePng(path.join(dir, c, `${String(i).padStart(2, '0')}.png`), noise(2, 2, 3, 1000 * k + i, 16 * k + i));
  });
  const tags = (ds: ImageDataset) => samples(ds).map((px) => px[0]);
  const a = await imageFolder(dir, {split: 0.3, seed: 5});
  const b = await imageFolder(dir, {split: 0.3, seed: 5});
  const c = await imageFolder(dir, {split: 0.3, seed: 6});
  assert.deepEqual(tags(a.train), tags(b.train));
  assert.deepEqual(tags(a.test), tags(b.test));
  assert.notDeepEqual([tags(a.train), tags(a.test)], [tags(c.train), tags(c.test)]);
  for (const {train, test: testSet} of [a, c]) {
    Object.values(counts).forEach((n, k) => {
      assert.equal(Array.from(testSet.labels).filter((l) => l === k).length, Math.round(0.3 * n), `class ${k} test count`);
      assert.equal(Array.from(train.labels).filter((l) => l === k).length, n - Math.round(0.3 * n));
    });
    const all = [...tags(train), ...tags(testSet)].sort((x, y) => x - y);
    const expected = Object.values(counts).flatMap((n, k) => Array.from({length: n}, (_, i) => 16 * k + i));
    assert.deepEqual(all, expected);
    // label of every sample is the class its tag came from
    for (const ds of [train, testSet]) tags(ds).forEach((t, i) => assert.equal(ds.labels[i], Math.floor(t / 16)));
  }
  // the first samples mix the classes (seeded order, not class by class)
  assert.ok(new Set(Array.from(a.train.labels.subarray(0, 8))).size > 1);
  assert.equal(a.train.preprocessing?.layout, 'split');
  assert.equal(a.train.preprocessing?.split, 0.3);
  assert.equal(a.train.preprocessing?.seed, 5);
  // default split 0.2
  const d = await imageFolder(dir);
  assert.equal(d.test.size, Math.round(0.2 * 10) + Math.round(0.2 * 5) + Math.round(0.2 * 7));
});

test('errors name the folder, file or option and what would be valid', async () => {
  await assert.rejects(imageFolder(path.join(tmp, 'no-such-folder')), /imageFolder: cannot list .*no-such-folder.*DIR\/train\/<class>/);
  const emptyClass = newFolder();
  writePng(path.join(emptyClass, 'a', 'x.png'), noise(2, 2, 3, 1));
  fs.mkdirSync(path.join(emptyClass, 'b'));
  fs.writeFileSync(path.join(emptyClass, 'b', 'readme.txt'), 'x');
  await assert.rejects(imageFolder(emptyClass), /class folder .*b has no image \(\.png, \.jpg, \.jpeg\) files, only readme\.txt/);
  const noClasses = newFolder();
  fs.writeFileSync(path.join(noClasses, 'x.png'), 'x');
  await assert.rejects(imageFolder(noClasses), /has no class folders/);
  const mismatch = newFolder();
  for (const [split, c] of [['train', 'a'], ['train', 'b'], ['test', 'a'], ['test', 'c']]) writePng(path.join(mismatch, split, c, 'x.png'), noise(2, 2, 3, 1));
  await assert.rejects(imageFolder(mismatch), /must hold the same class folders; only in train: b; only in test: c/);
  await assert.rejects(imageFolder(mismatch, {split: 0.5}), /split applies to the DIR\/<class>\/\* layout/);
  const broken = newFolder();
  writePng(path.join(broken, 'a', 'good.png'), noise(2, 2, 3, 1));
  writePng(path.join(broken, 'a', 'good2.png'), noise(2, 2, 3, 2));
  fs.writeFileSync(path.join(broken, 'a', 'bad.png'), 'this is text');
  await assert.rejects(imageFolder(broken, {split: 0}), /bad\.png is neither PNG nor JPEG data/);
  fs.writeFileSync(path.join(broken, 'a', 'bad.png'), Buffer.concat([PNG.sync.write(Object.assign(new PNG({width: 2, height: 2}), {data: Buffer.alloc(16)})).subarray(0, 30)]));
  await assert.rejects(imageFolder(broken, {split: 0}), /bad\.png is not a decodable PNG or JPEG/);
  const ok = newFolder();
  writePng(path.join(ok, 'a', 'x.png'), noise(2, 2, 3, 1));
  await assert.rejects(imageFolder(ok, {range: [0, 2] as unknown as [0, 1]}), /range must be \[0, 1\] or \[-1, 1\], got \[0, 2\]/);
  await assert.rejects(imageFolder(ok, {mean: [0.5, 0.5, 0.5]}), /mean and std go together/);
  await assert.rejects(imageFolder(ok, {mean: [0.5], std: [0.2]}), /mean and std need 3 numbers each/);
  await assert.rejects(imageFolder(ok, {range: [-1, 1], mean: [0, 0, 0], std: [1, 1, 1]}), /range or mean\/std, not both/);
  await assert.rejects(imageFolder(ok, {channels: 2 as 1}), /channels must be 1 or 3, got 2/);
  await assert.rejects(imageFolder(ok, {split: 1}), /split \(the test fraction\) must be in \[0, 1\)/);
  await assert.rejects(imageFolder(ok, {size: [0, 4]}), /size must be \[H, W\] positive integers/);
  await assert.rejects(imageFolder(ok), /split 0\.2 of the 1 images .* leaves no test image/);
});
