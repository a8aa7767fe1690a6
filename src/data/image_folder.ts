import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'fs';
import * as jpeg from 'jpeg-js';
import * as path from 'path';
import { PNG } from 'pngjs';
import { ChannelStats, ImageDataset } from './dataset';
import { mulberry32, permutation } from './prng';

/** Options of imageFolder(). */
export interface ImageFolderOptions {
  /** [H, W] the images are resized to (bilinear). Default: the size of the first image (classes and files sorted by name). */
  size?: [number, number];
  /** 3 (RGB; grayscale is repeated) or 1 (ITU-R 601 luma of RGB, as PIL's convert('L')). Alpha is dropped. Default 3. */
  channels?: 1 | 3;
  /** Pixel range of the batches: [0, 1] (x / 255, the default) or [-1, 1] (x / 127.5 - 1). Not with mean/std. */
  range?: [0, 1] | [-1, 1];
  /** Per-channel mean and std on [0, 1] pixel values: batches hold (x / 255 - mean) / std (divide 0..255 statistics by 255). */
  mean?: number[];
  std?: number[];
  /** Test fraction of each class for the DIR/<class>/* layout (stratified). Default 0.2; 0 keeps every image for training. */
  split?: number;
  /** Seeds the split and the order of the samples. Default 0. */
  seed?: number;
}

/** How an image folder was read and scaled: plain data, saved in report.json. */
export interface ImagePreprocessing {
  dir: string;
  /** 'train-test': DIR/train/<class>, DIR/test/<class>; 'split': DIR/<class> split by `split`, `seed`. */
  layout: 'train-test' | 'split';
  classNames: string[];
  /** [H, W] stored; images of another size were resized bilinearly (half-pixel centres) and rounded to 0..255. */
  size: [number, number];
  channels: 1 | 3;
  /** Batch values: range [lo, hi], or (x / 255 - mean) / std per channel. */
  range?: [number, number];
  mean?: number[];
  std?: number[];
  split?: number;
  seed: number;
  /** Images resized because their size differed from `size`. */
  resized: number;
}

const EXTENSIONS = ['.png', '.jpg', '.jpeg'];
const LAYOUTS = 'DIR/train/<class>/* and DIR/test/<class>/*, or DIR/<class>/*';
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

/** One image file and its class index. */
interface Entry { file: string; label: number }

/** Decoded pixels: [H, W, 4] RGBA, 8 bits. */
interface Rgba { width: number; height: number; data: Uint8Array }

const startsWith = (bytes: Uint8Array, magic: number[]): boolean => magic.every((b, i) => bytes[i] === b);

/** Decodes a PNG or JPEG file's bytes (chosen by their magic number) to RGBA; errors name the file. */
function decode(bytes: Uint8Array, file: string): Rgba {
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  try {
    if (startsWith(bytes, PNG_MAGIC)) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)); // 16-bit rescaled to 8, palette and gray expanded
      return { width: png.width, height: png.height, data: png.data };
    }
    if (startsWith(bytes, JPEG_MAGIC)) return jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  } catch (e) {
    throw new Error(`imageFolder: ${file} is not a decodable PNG or JPEG (${(e as Error).message}); fix or remove the file`);
  }
  throw new Error(`imageFolder: ${file} is neither PNG nor JPEG data (it starts with ${head || 'nothing'}); convert it or remove it`);
}

/** RGBA [H, W, 4] -> [H, W, channels]: RGB, or luma round(0.299 R + 0.587 G + 0.114 B). */
function toChannels(img: Rgba, channels: 1 | 3): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n * channels);
  const d = img.data;
  for (let p = 0; p < n; p++) {
    if (channels === 3) { out[3 * p] = d[4 * p]; out[3 * p + 1] = d[4 * p + 1]; out[3 * p + 2] = d[4 * p + 2]; }
    else out[p] = Math.round(0.299 * d[4 * p] + 0.587 * d[4 * p + 1] + 0.114 * d[4 * p + 2]);
  }
  return out;
}

/** [h, w, c] uint8 -> [H, W, c] with tf.image.resizeBilinear (half-pixel centres, as Keras' image_dataset_from_directory), rounded. */
function resize(pixels: Uint8Array, from: [number, number], to: [number, number], c: number): Uint8Array {
  const resized = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(Float32Array.from(pixels), [from[0], from[1], c]), to, false, true));
  try {
    return Uint8Array.from(resized.dataSync(), (v) => Math.round(v)); // bilinear weights are convex: v stays in 0..255
  } finally {
    resized.dispose();
  }
}

/** Subfolders of `dir`, sorted by name (code-point order, as Python's sorted()); dot-folders are skipped. */
async function subfolders(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    throw new Error(`imageFolder: cannot list ${dir} (${(e as Error).message}); expected an image folder: ${LAYOUTS}`);
  }
  const isDir = await Promise.all(names.map(async (n) => !n.startsWith('.') && (await fs.stat(path.join(dir, n))).isDirectory()));
  return names.filter((_, i) => isDir[i]).sort();
}

/** The PNG/JPEG files of one class folder, sorted; other files (.txt, .DS_Store, ...) are skipped. */
async function imageFiles(dir: string): Promise<string[]> {
  const names = (await fs.readdir(dir)).sort();
  const files = names.filter((n) => EXTENSIONS.includes(path.extname(n).toLowerCase()));
  if (files.length === 0) {
    throw new Error(`imageFolder: class folder ${dir} has no image (${EXTENSIONS.join(', ')}) files` +
      `${names.length ? `, only ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}` : ''}; add images or remove the folder`);
  }
  return files.map((n) => path.join(dir, n));
}

/** Per-class file lists of a folder whose subfolders are the classes. */
async function classFiles(dir: string): Promise<{ classNames: string[]; files: string[][] }> {
  const classNames = await subfolders(dir);
  if (classNames.length === 0) throw new Error(`imageFolder: ${dir} has no class folders; expected ${LAYOUTS}`);
  return { classNames, files: await Promise.all(classNames.map((c) => imageFiles(path.join(dir, c)))) };
}

/** Batch scaling of the options, as (x / 255 - mean) / std per channel; undefined for [0, 1]. Errors start with `where`.
 * @example pixelScaling({range: [-1, 1]}, 3) // {mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
 */
export function pixelScaling(o: Pick<ImageFolderOptions, 'range' | 'mean' | 'std'>, channels: number, where = 'imageFolder'): ChannelStats | undefined {
  const { range, mean, std } = o;
  const fail = (what: string): never => { throw new Error(`${where}: ${what}`); };
  if (range !== undefined && (mean !== undefined || std !== undefined)) fail(`give range or mean/std, not both`);
  if ((mean === undefined) !== (std === undefined)) fail(`mean and std go together; got only ${mean === undefined ? 'std' : 'mean'}`);
  if (mean !== undefined && std !== undefined) {
    if (mean.length !== channels || std.length !== channels || !mean.every(Number.isFinite) || !std.every((s) => Number.isFinite(s) && s > 0)) {
      fail(`mean and std need ${channels} numbers each (std > 0, on [0, 1] pixel values) for ${channels} channel(s); got mean [${mean.join(', ')}], std [${std.join(', ')}]`);
    }
    return { mean: [...mean], std: [...std] };
  }
  if (range === undefined || (range[0] === 0 && range[1] === 1)) return undefined;
  if (range[0] === -1 && range[1] === 1) return { mean: new Array(channels).fill(0.5), std: new Array(channels).fill(0.5) };
  return fail(`range must be [0, 1] or [-1, 1], got [${range.join(', ')}]`);
}

function checkOptions(o: ImageFolderOptions): void {
  const fail = (what: string): never => { throw new Error(`imageFolder: ${what}`); };
  if (o.size !== undefined && (o.size.length !== 2 || !o.size.every((d) => Number.isInteger(d) && d > 0))) fail(`size must be [H, W] positive integers, got [${o.size.join(', ')}]`);
  if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3) fail(`channels must be 1 or 3, got ${o.channels}`);
  if (o.split !== undefined && !(o.split >= 0 && o.split < 1)) fail(`split (the test fraction) must be in [0, 1), got ${o.split}`);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) fail(`seed must be an integer, got ${o.seed}`);
}

/** [H, W] of an image file. */
async function sizeOf(file: string): Promise<[number, number]> {
  const { height, width } = decode(await fs.readFile(file), file);
  return [height, width];
}

/** Decodes `entries` into one [N, H, W, C] uint8 array, in order; returns it and how many images were resized. */
async function decodeAll(entries: Entry[], size: [number, number], channels: 1 | 3): Promise<{ images: Uint8Array; resized: number }> {
  const pixels = size[0] * size[1] * channels;
  const images = new Uint8Array(entries.length * pixels);
  let resized = 0;
  for (const [i, { file }] of entries.entries()) {
    const img = decode(await fs.readFile(file), file);
    let data = toChannels(img, channels);
    if (img.height !== size[0] || img.width !== size[1]) { data = resize(data, [img.height, img.width], size, channels); resized++; }
    images.set(data, i * pixels);
  }
  return { images, resized };
}

/**
 * Reads a class-per-subfolder tree of PNG and JPEG images: DIR/train/<class>/* and DIR/test/<class>/*, or DIR/<class>/*
 * split per class by `split` (seeded). Classes are the subfolders sorted by name (as Keras' image_dataset_from_directory);
 * the samples of each split are in a seeded random order, so take(n) holds every class. Images are decoded once and kept as
 * uint8; each dataset carries its classNames and `preprocessing` (plain data for report.json).
 * @example const {train, test} = await imageFolder('flowers', {size: [96, 96], range: [-1, 1], split: 0.2, seed: 1});
 */
export async function imageFolder(dir: string, opts: ImageFolderOptions = {}): Promise<{ train: ImageDataset; test: ImageDataset }> {
  checkOptions(opts);
  const channels = opts.channels ?? 3;
  const seed = opts.seed ?? 0;
  const normalization = pixelScaling(opts, channels);
  const top = await subfolders(dir);
  const layout = top.includes('train') && top.includes('test') ? 'train-test' : 'split';
  const rand = mulberry32(seed);
  let classNames: string[];
  let firstFile: string; // the first file of the first class: it sets the default size
  let splits: { train: Entry[]; test: Entry[] };
  if (layout === 'train-test') {
    if (opts.split !== undefined) throw new Error(`imageFolder: split applies to the DIR/<class>/* layout, but ${dir} has train/ and test/ folders; leave split out`);
    const others = top.filter((n) => n !== 'train' && n !== 'test');
    if (others.length) throw new Error(`imageFolder: ${dir} has train/ and test/ and also ${others.join(', ')}; expected ${LAYOUTS}`);
    const [tr, te] = await Promise.all([classFiles(path.join(dir, 'train')), classFiles(path.join(dir, 'test'))]);
    const onlyTrain = tr.classNames.filter((c) => !te.classNames.includes(c));
    const onlyTest = te.classNames.filter((c) => !tr.classNames.includes(c));
    if (onlyTrain.length || onlyTest.length) {
      throw new Error(`imageFolder: ${dir}/train and ${dir}/test must hold the same class folders; ` +
        [onlyTrain.length ? `only in train: ${onlyTrain.join(', ')}` : '', onlyTest.length ? `only in test: ${onlyTest.join(', ')}` : ''].filter(Boolean).join('; '));
    }
    classNames = tr.classNames;
    firstFile = tr.files[0][0];
    const entries = (files: string[][]) => files.flatMap((list, label) => list.map((file) => ({ file, label })));
    splits = { train: entries(tr.files), test: entries(te.files) };
  } else {
    const split = opts.split ?? 0.2;
    const all = await classFiles(dir);
    classNames = all.classNames;
    firstFile = all.files[0][0];
    splits = { train: [], test: [] };
    // stratified: round(n * split) of each class's files, drawn by a seeded permutation, go to test
    for (const [label, files] of all.files.entries()) {
      const order = permutation(files.length, rand);
      const nTest = Math.min(Math.round(files.length * split), files.length - 1);
      order.forEach((k, i) => (i < nTest ? splits.test : splits.train).push({ file: files[k], label }));
    }
    if (split > 0 && splits.test.length === 0) throw new Error(`imageFolder: split ${split} of the ${splits.train.length} images in ${dir} leaves no test image; add images or raise split`);
  }
  // seeded sample order within each split
  const shuffled = (e: Entry[]) => Array.from(permutation(e.length, rand), (k) => e[k]);
  const train = shuffled(splits.train);
  const test = shuffled(splits.test);
  const size = opts.size ?? (await sizeOf(firstFile));
  const [tr, te] = [await decodeAll(train, size, channels), await decodeAll(test, size, channels)];
  const scaling = normalization ? { mean: normalization.mean, std: normalization.std } : {};
  const preprocessing: ImagePreprocessing = {
    dir, layout, classNames, size: [...size] as [number, number], channels,
    ...(opts.mean ? scaling : { range: opts.range ? [...opts.range] as [number, number] : [0, 1] }),
    ...(layout === 'split' ? { split: opts.split ?? 0.2 } : {}), seed,
    resized: tr.resized + te.resized,
  };
  const base = path.basename(path.resolve(dir));
  const make = (split: 'train' | 'test', images: Uint8Array, entries: Entry[]) => new ImageDataset({
    name: `${base}/${split}`, images, labels: Int32Array.from(entries, (e) => e.label), shape: [size[0], size[1], channels],
    classes: classNames.length, classNames, normalization, preprocessing,
  });
  return { train: make('train', tr.images, train), test: make('test', te.images, test) };
}
