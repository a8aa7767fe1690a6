/**
 * Detection data: images with boxes [x1, y1, x2, y2] in pixels and class ids, and a seeded
 * generator of scenes made of Fashion-MNIST items pasted on a canvas with clutter and noise.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageDataset } from './dataset';
import { mulberry32, permutation } from './prng';

/** One batch of detection data; the caller disposes `xs`. */
export interface DetectionBatch {
  xs: tf.Tensor4D;        // [B, H, W, C] float32, pixels / 255
  boxes: Float32Array[];  // per image [k * 4]: x1, y1, x2, y2 in pixels (x right, y down)
  labels: Int32Array[];   // per image [k] class ids in 0..classes-1
  indices: Int32Array;    // [B] sample indices in the dataset
}

/** What a DetectionDataset is built from. */
export interface DetectionDatasetInit {
  name: string;
  images: Uint8Array;               // [N, H, W, C] row-major, 0..255
  shape: [number, number, number];  // [H, W, C]
  boxes: Float32Array[];            // [N] of [k * 4] x1, y1, x2, y2 pixels
  labels: Int32Array[];             // [N] of [k]
  classes: number;
  classNames?: string[];
}

/** Images with boxes and class ids, held as uint8; yields float batches on demand.
 * @example const ds = new DetectionDataset({name: 'one', images: new Uint8Array(16), shape: [4, 4, 1], boxes: [Float32Array.of(0, 0, 2, 2)], labels: [Int32Array.of(0)], classes: 1});
 */
export class DetectionDataset {
  readonly name: string;
  readonly size: number;
  readonly shape: [number, number, number];
  readonly classes: number;
  readonly classNames?: string[];
  readonly images: Uint8Array;
  readonly boxes: Float32Array[];
  readonly labels: Int32Array[];

  constructor(init: DetectionDatasetInit) {
    const { name, images, shape, boxes, labels, classes, classNames } = init;
    const fail = (what: string): never => { throw new Error(`DetectionDataset '${name}': ${what}`); };
    const [h, w, c] = shape;
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) fail(`shape must be [H, W, C] positive integers, got [${shape.join(', ')}]`);
    if (boxes.length !== labels.length || images.length !== boxes.length * h * w * c) {
      fail(`expected images of N * H * W * C bytes with N = boxes.length = labels.length; got ${images.length} bytes, ${boxes.length} box lists, ${labels.length} label lists`);
    }
    if (!Number.isInteger(classes) || classes < 1) fail(`classes must be a positive integer, got ${classes}`);
    if (classNames !== undefined && classNames.length !== classes) fail(`classNames has ${classNames.length} names, expected ${classes}`);
    boxes.forEach((b, i) => {
      if (b.length !== 4 * labels[i].length) fail(`image ${i} has ${b.length / 4} boxes but ${labels[i].length} labels`);
      labels[i].forEach((l, k) => {
        const [x1, y1, x2, y2] = b.subarray(4 * k, 4 * k + 4);
        if (!(l >= 0 && l < classes)) fail(`image ${i} box ${k} has class ${l}, expected 0..${classes - 1}`);
        if (!(x1 >= 0 && y1 >= 0 && x2 <= w && y2 <= h && x1 < x2 && y1 < y2)) fail(`image ${i} box ${k} [${x1}, ${y1}, ${x2}, ${y2}] is empty or outside the ${w}x${h} image`);
      });
    });
    this.name = name;
    this.size = boxes.length;
    this.shape = [h, w, c];
    this.classes = classes;
    this.classNames = classNames;
    this.images = images;
    this.boxes = boxes;
    this.labels = labels;
  }

  /** One pass over the data; each yielded xs belongs to the caller.
   * @example for (const b of scenes.batches(16, {shuffle: true, seed: epoch})) { step(b); b.xs.dispose(); }
   */
  *batches(batchSize: number, opts: { shuffle?: boolean; seed?: number; dropLast?: boolean } = {}): Generator<DetectionBatch> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`DetectionDataset '${this.name}': batchSize must be a positive integer, got ${batchSize}`);
    const order = opts.shuffle ? permutation(this.size, mulberry32(opts.seed ?? 0)) : null;
    const end = opts.dropLast ? this.size - (this.size % batchSize) : this.size;
    const pixels = this.shape[0] * this.shape[1] * this.shape[2];
    for (let start = 0; start < end; start += batchSize) {
      const n = Math.min(batchSize, end - start);
      const indices = Int32Array.from({ length: n }, (_, i) => (order ? order[start + i] : start + i));
      const xs = new Float32Array(n * pixels);
      indices.forEach((k, i) => { for (let p = 0; p < pixels; p++) xs[i * pixels + p] = this.images[k * pixels + p] / 255; });
      yield {
        xs: tf.tensor4d(xs, [n, ...this.shape]),
        boxes: Array.from(indices, (k) => this.boxes[k]),
        labels: Array.from(indices, (k) => this.labels[k]),
        indices,
      };
    }
  }

  /** The samples at `indices`, in that order (images copied).
   * @example const val = scenes.subset([0, 1, 2]);
   */
  subset(indices: ArrayLike<number>): DetectionDataset {
    const pixels = this.shape[0] * this.shape[1] * this.shape[2];
    const images = new Uint8Array(indices.length * pixels);
    const picked = Array.from(indices, (k, i) => {
      if (!Number.isInteger(k) || k < 0 || k >= this.size) throw new Error(`DetectionDataset '${this.name}': subset index ${k} (position ${i}) is not an integer in 0..${this.size - 1}`);
      images.set(this.images.subarray(k * pixels, (k + 1) * pixels), i * pixels);
      return k;
    });
    const { name, shape, classes, classNames } = this;
    return new DetectionDataset({ name, shape, classes, classNames, images, boxes: picked.map((k) => this.boxes[k]), labels: picked.map((k) => this.labels[k]) });
  }
}

/** Options of {@link detectionScenes}; every field has a default. */
export interface SceneOptions {
  count?: number;                 // scenes (default 256)
  seed?: number;                  // default 0
  size?: number;                  // square canvas side in pixels (default 64)
  items?: [number, number];       // min, max items per scene (default [1, 4])
  scale?: [number, number];       // min, max item scale of the 28x28 source (default [0.5, 2])
  maxOverlap?: number;            // placements whose IoU with a placed item exceeds this are redrawn (default 0.3)
  clutter?: number;               // item fragments (unlabelled, 4-9 px, half intensity) per scene (default 2)
  noise?: number;                 // uniform additive noise amplitude as a fraction of 255 (default 0.08)
}

const iou = (a: number[], b: number[]): number => {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
};

/** Bilinear resize of one single-channel image [h, w] to [oh, ow] (pixel centres aligned). */
function resize(src: Uint8Array, h: number, w: number, oh: number, ow: number): Float32Array {
  const out = new Float32Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const sy = Math.min(Math.max((y + 0.5) * (h / oh) - 0.5, 0), h - 1);
    const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, h - 1), fy = sy - y0;
    for (let x = 0; x < ow; x++) {
      const sx = Math.min(Math.max((x + 0.5) * (w / ow) - 0.5, 0), w - 1);
      const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, w - 1), fx = sx - x0;
      const top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx;
      const bottom = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
      out[y * ow + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/** Tight box [x1, y1, x2, y2] of the pixels above `threshold` in a [h, w] patch, or null when none. */
function tightBox(patch: Float32Array, h: number, w: number, threshold: number): number[] | null {
  let [x1, y1, x2, y2] = [w, h, 0, 0];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (patch[y * w + x] <= threshold) continue;
      x1 = Math.min(x1, x); y1 = Math.min(y1, y); x2 = Math.max(x2, x + 1); y2 = Math.max(y2, y + 1);
    }
  }
  return x1 < x2 ? [x1, y1, x2, y2] : null;
}

/**
 * Seeded detection scenes: 1-4 items of a single-channel source (Fashion-MNIST), each scaled
 * 0.5x-2x and pasted (max blend) at a random place on a black canvas, plus unlabelled item
 * fragments and uniform noise. Boxes are the tight boxes of the pasted items (pixels > 25).
 * @example const {train} = await fashionMnist(); const scenes = detectionScenes(train, {count: 256, seed: 1});
 */
export function detectionScenes(source: ImageDataset, opts: SceneOptions = {}): DetectionDataset {
  const { count = 256, seed = 0, size = 64, items = [1, 4], scale = [0.5, 2], maxOverlap = 0.3, clutter = 2, noise = 0.08 } = opts;
  const [sh, sw, sc] = source.shape;
  const where = `detectionScenes(${source.name})`;
  if (sc !== 1) throw new Error(`${where}: the source must have 1 channel, got ${sc}`);
  if (!Number.isInteger(count) || count < 1) throw new Error(`${where}: count must be a positive integer, got ${count}`);
  if (!(items[0] >= 1 && items[1] >= items[0])) throw new Error(`${where}: items must be [min, max] with 1 <= min <= max, got [${items}]`);
  if (!(scale[0] > 0 && scale[1] >= scale[0] && Math.round(sh * scale[1]) <= size)) {
    throw new Error(`${where}: scale must be [min, max] with 0 < min <= max and ${sh} * max <= size ${size}, got [${scale}]`);
  }
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1)); // lo..hi inclusive
  const images = new Uint8Array(count * size * size);
  const boxes: Float32Array[] = [];
  const labels: Int32Array[] = [];
  const itemPixels = (k: number) => source.images.subarray(k * sh * sw, (k + 1) * sh * sw);
  for (let n = 0; n < count; n++) {
    const canvas = new Float32Array(size * size); // [size, size]
    const paste = (patch: Float32Array, ph: number, pw: number, oy: number, ox: number, gain: number) => {
      for (let y = 0; y < ph; y++) {
        for (let x = 0; x < pw; x++) {
          const at = (oy + y) * size + ox + x;
          canvas[at] = Math.max(canvas[at], patch[y * pw + x] * gain);
        }
      }
    };
    const placed: number[][] = [];
    const classes: number[] = [];
    const wanted = int(items[0], items[1]);
    for (let i = 0; i < wanted; i++) {
      const k = int(0, source.size - 1);
      const s = scale[0] + rand() * (scale[1] - scale[0]);
      const [ph, pw] = [Math.max(2, Math.round(sh * s)), Math.max(2, Math.round(sw * s))];
      const patch = resize(itemPixels(k), sh, sw, ph, pw);
      const tight = tightBox(patch, ph, pw, 25);
      if (tight === null) continue;
      for (let attempt = 0; attempt < 20; attempt++) {
        const [oy, ox] = [int(0, size - ph), int(0, size - pw)];
        const box = [tight[0] + ox, tight[1] + oy, tight[2] + ox, tight[3] + oy];
        if (placed.some((b) => iou(b, box) > maxOverlap)) continue;
        paste(patch, ph, pw, oy, ox, 1);
        placed.push(box);
        classes.push(source.labels[k]);
        break;
      }
    }
    for (let i = 0; i < clutter; i++) {
      const [fh, fw] = [int(4, 9), int(4, 9)];
      const src = itemPixels(int(0, source.size - 1));
      const [sy, sx] = [int(0, sh - fh), int(0, sw - fw)];
      const frag = Float32Array.from({ length: fh * fw }, (_, p) => src[(sy + Math.floor(p / fw)) * sw + sx + (p % fw)]);
      paste(frag, fh, fw, int(0, size - fh), int(0, size - fw), 0.5);
    }
    for (let p = 0; p < size * size; p++) {
      const v = canvas[p] + (rand() * 2 - 1) * noise * 255;
      images[n * size * size + p] = Math.min(255, Math.max(0, Math.round(v)));
    }
    boxes.push(Float32Array.from(placed.flat()));
    labels.push(Int32Array.from(classes));
  }
  return new DetectionDataset({
    name: `scenes(${source.name}, seed ${seed})`, images, shape: [size, size, 1], boxes, labels,
    classes: source.classes, classNames: source.classNames,
  });
}
