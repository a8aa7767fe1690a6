import * as tf from '@tensorflow/tfjs';
import type { ImagePreprocessing } from './image_folder';
import { mulberry32, permutation } from './prng';

/** One batch; the caller owns (and disposes) `xs` and `ys`. */
export interface Batch {
  xs: tf.Tensor4D;      // [B, H, W, C] float32: pixels / 255, then (x - mean) / std per channel if normalised
  ys: tf.Tensor2D;      // [B, classes] one-hot float32
  labels: Int32Array;   // [B] class indices, same order as xs
}

/** Options of one pass over a dataset. */
export interface BatchOptions {
  shuffle?: boolean;    // seeded permutation of the samples (default false: file order)
  seed?: number;        // seeds shuffle and augmentation (default 0); pass a new seed each epoch
  dropLast?: boolean;   // skip a final batch smaller than batchSize
  augment?: { flip?: boolean; padCrop?: number }; // random horizontal flip; zero-pad by padCrop px then random crop
}

/** Per-channel statistics in [0, 1] pixel units. */
export interface ChannelStats { mean: number[]; std: number[] }

/** What an ImageDataset is built from. */
export interface ImageDatasetInit {
  name: string;
  images: Uint8Array;                    // [N, H, W, C] row-major, 0..255
  labels: Int32Array | Uint8Array;       // [N] class indices in 0..classes-1
  shape: [number, number, number];       // [H, W, C]
  classes: number;
  classNames?: string[];
  normalization?: ChannelStats;
  /** How the images were read (image folders), for reports. */
  preprocessing?: ImagePreprocessing;
}

/** Labelled images held compactly as uint8; yields float batches on demand.
 * @example const ds = new ImageDataset({name: 'toy', images: new Uint8Array(2 * 4), labels: new Int32Array([0, 1]), shape: [2, 2, 1], classes: 2});
 */
export class ImageDataset {
  readonly name: string;
  readonly size: number;
  readonly shape: [number, number, number];
  readonly classes: number;
  readonly classNames?: string[];
  readonly normalization?: ChannelStats;
  readonly preprocessing?: ImagePreprocessing;
  readonly images: Uint8Array;   // [N, H, W, C]
  readonly labels: Int32Array;   // [N]

  constructor(init: ImageDatasetInit) {
    const { name, images, labels, shape, classes, classNames, normalization, preprocessing } = init;
    const fail = (what: string): never => { throw new Error(`ImageDataset '${name}': ${what}`); };
    const [h, w, c] = shape;
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) fail(`shape must be [H, W, C] positive integers, got [${shape.join(', ')}]`);
    const pixels = h * w * c;
    if (images.length % pixels !== 0 || images.length / pixels !== labels.length) {
      fail(`images hold ${images.length} bytes, expected labels.length * H * W * C = ${labels.length} * ${pixels} = ${labels.length * pixels}`);
    }
    if (!Number.isInteger(classes) || classes < 1) fail(`classes must be a positive integer, got ${classes}`);
    const bad = labels.findIndex((l) => l < 0 || l >= classes);
    if (bad >= 0) fail(`sample ${bad} has label ${labels[bad]}, expected an integer in 0..${classes - 1}`);
    if (classNames !== undefined && classNames.length !== classes) fail(`classNames has ${classNames.length} names, expected ${classes}`);
    if (normalization !== undefined) {
      const { mean, std } = normalization;
      if (mean.length !== c || std.length !== c || !std.every((s) => s > 0)) {
        fail(`normalization needs ${c} means and ${c} positive stds, got mean [${mean.join(', ')}], std [${std.join(', ')}]`);
      }
    }
    this.name = name;
    this.size = labels.length;
    this.shape = [h, w, c];
    this.classes = classes;
    this.classNames = classNames;
    this.normalization = normalization;
    this.preprocessing = preprocessing;
    this.images = images;
    this.labels = labels instanceof Int32Array ? labels : Int32Array.from(labels);
  }

  /** One pass over the data in batches; each yielded xs/ys belongs to the caller.
   * @example for (const {xs, ys} of ds.batches(64, {shuffle: true, seed: epoch})) { train(xs, ys); xs.dispose(); ys.dispose(); }
   */
  *batches(batchSize: number, opts: BatchOptions = {}): Generator<Batch> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`ImageDataset '${this.name}': batchSize must be a positive integer, got ${batchSize}`);
    const { shuffle = false, seed = 0, dropLast = false, augment = {} } = opts;
    const padCrop = augment.padCrop ?? 0;
    if (!Number.isInteger(padCrop) || padCrop < 0) throw new Error(`ImageDataset '${this.name}': augment.padCrop must be a non-negative integer, got ${padCrop}`);
    const order = shuffle ? permutation(this.size, mulberry32(seed)) : null;
    const augRand = mulberry32((seed ^ 0x5bd1e995) >>> 0); // own stream: augmentation does not change the order
    const end = dropLast ? this.size - (this.size % batchSize) : this.size;
    for (let start = 0; start < end; start += batchSize) {
      const n = Math.min(batchSize, end - start);
      const indices = new Int32Array(n);
      for (let i = 0; i < n; i++) indices[i] = order ? order[start + i] : start + i;
      yield this.makeBatch(indices, augment.flip ?? false, padCrop, augRand);
    }
  }

  /** The first n samples in file order.
   * @example const small = train.take(1000);
   */
  take(n: number): ImageDataset {
    if (!Number.isInteger(n) || n < 0 || n > this.size) throw new Error(`ImageDataset '${this.name}': take(n) needs an integer n in 0..${this.size}, got ${n}`);
    const pixels = this.shape[0] * this.shape[1] * this.shape[2];
    return this.derive(this.images.subarray(0, n * pixels), this.labels.subarray(0, n), this.normalization);
  }

  /** The samples at `indices`, in that order (copied).
   * @example const firstTwoOfClass3 = ds.subset(ds.labels.reduce((a, l, i) => (l === 3 ? [...a, i] : a), [] as number[]).slice(0, 2));
   */
  subset(indices: ArrayLike<number>): ImageDataset {
    const pixels = this.shape[0] * this.shape[1] * this.shape[2];
    const images = new Uint8Array(indices.length * pixels);
    const labels = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i];
      if (!Number.isInteger(k) || k < 0 || k >= this.size) throw new Error(`ImageDataset '${this.name}': subset index ${k} (position ${i}) is not an integer in 0..${this.size - 1}`);
      images.set(this.images.subarray(k * pixels, (k + 1) * pixels), i * pixels);
      labels[i] = this.labels[k];
    }
    return this.derive(images, labels, this.normalization);
  }

  /** Per-channel mean and standard deviation of the pixels in [0, 1] units.
   * @example const {mean, std} = train.channelStats(); // Fashion-MNIST train: mean ≈ [0.286], std ≈ [0.353]
   */
  channelStats(): ChannelStats {
    const c = this.shape[2];
    const sum = new Float64Array(c);
    const sq = new Float64Array(c);
    for (let i = 0; i < this.images.length; i++) { const v = this.images[i]; sum[i % c] += v; sq[i % c] += v * v; }
    const count = this.images.length / c;
    const mean = Array.from(sum, (s) => s / count / 255);
    const std = Array.from(sq, (s, k) => Math.sqrt(Math.max(s / count / 65025 - mean[k] * mean[k], 0)));
    return { mean, std };
  }

  /** The same samples, batched as (x - mean) / std per channel; default stats are this dataset's own.
   * @example const trainN = train.normalized(); const testN = test.normalized(trainN.normalization);
   */
  normalized(stats: ChannelStats = this.channelStats()): ImageDataset {
    return this.derive(this.images, this.labels, { mean: [...stats.mean], std: [...stats.std] });
  }

  private derive(images: Uint8Array, labels: Int32Array, normalization: ChannelStats | undefined): ImageDataset {
    const { name, shape, classes, classNames, preprocessing } = this;
    return new ImageDataset({ name, images, labels, shape, classes, classNames, normalization, preprocessing });
  }

  // Random crop of the zero-padded image, then flip: out(y, x) = in(y + dy, x' + dx), x' = flipped ? W-1-x : x,
  // dy, dx uniform in -p..p, zero outside the image; xs [n, H, W, C].
  private makeBatch(indices: Int32Array, flip: boolean, p: number, rand: () => number): Batch {
    const [h, w, c] = this.shape;
    const pixels = h * w * c;
    const n = indices.length;
    const scale = new Float32Array(c);
    const shift = new Float32Array(c);
    for (let k = 0; k < c; k++) {
      const mean = this.normalization?.mean[k] ?? 0;
      const std = this.normalization?.std[k] ?? 1;
      scale[k] = 1 / (255 * std);
      shift[k] = -mean / std;
    }
    const xs = new Float32Array(n * pixels);
    const ys = new Float32Array(n * this.classes);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const src = indices[i] * pixels;
      const flipped = flip && rand() < 0.5;
      const dy = p > 0 ? Math.floor(rand() * (2 * p + 1)) - p : 0;
      const dx = p > 0 ? Math.floor(rand() * (2 * p + 1)) - p : 0;
      for (let y = 0; y < h; y++) {
        const sy = y + dy;
        for (let x = 0; x < w; x++) {
          const sx = (flipped ? w - 1 - x : x) + dx;
          const out = ((i * h + y) * w + x) * c;
          const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
          const from = src + (sy * w + sx) * c;
          for (let k = 0; k < c; k++) xs[out + k] = (inside ? this.images[from + k] : 0) * scale[k] + shift[k];
        }
      }
      labels[i] = this.labels[indices[i]];
      ys[i * this.classes + labels[i]] = 1;
    }
    return { xs: tf.tensor4d(xs, [n, h, w, c]), ys: tf.tensor2d(ys, [n, this.classes]), labels };
  }
}

/** Sample limits per split; omitted means all. */
export interface SplitLimit { train?: number; test?: number }

/** The first `limit` samples of `ds` (all when undefined); errors name `option` and the valid range.
 * @example const small = limitSplit(train, 1000, 'fashionMnist: limit.train');
 */
export function limitSplit(ds: ImageDataset, limit: number | undefined, option: string): ImageDataset {
  if (limit === undefined) return ds;
  if (!Number.isInteger(limit) || limit < 0 || limit > ds.size) throw new Error(`${option} must be an integer in 0..${ds.size}, got ${limit}`);
  return ds.take(limit);
}
