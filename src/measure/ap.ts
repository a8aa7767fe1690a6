/**
 * COCO-style average precision of box detections (the protocol of pycocotools' COCOeval for
 * bbox, without crowd regions or area ranges): per class and IoU threshold, detections are
 * matched greedily in decreasing score to the unmatched ground truth of best IoU >= threshold
 * in the same image; AP is the mean of the precision envelope at 101 recall points 0:0.01:1.
 */

import {mulberry32} from '../data/prng';

/** Detections of one image: boxes [k * 4] x1, y1, x2, y2 in pixels. */
export interface ImageDetections { boxes: ArrayLike<number>; scores: ArrayLike<number>; classes: ArrayLike<number> }

/** Ground truth of one image: boxes [k * 4] x1, y1, x2, y2 and class ids [k]. */
export interface ImageTruth { boxes: ArrayLike<number>; labels: ArrayLike<number> }

/** Options of {@link averagePrecision}. */
export interface ApOptions {
  /** Number of classes (default: 1 + the largest class id seen). */
  classes?: number;
  /** Default 0.5:0.05:0.95. */
  iouThresholds?: number[];
  /** Highest-scoring detections kept per image and class (COCO maxDets). Default 100. */
  maxDetections?: number;
}

/** AP figures; per-class values are NaN for a class without ground truth (left out of the means). */
export interface ApResult {
  /** Mean over IoU thresholds and classes. */
  ap: number;
  ap50: number;
  ap75: number;
  /** [class] AP averaged over the IoU thresholds. */
  perClass: number[];
  /** [threshold] AP averaged over the classes. */
  perThreshold: number[];
  iouThresholds: number[];
}

const COCO_THRESHOLDS = Array.from({length: 10}, (_, i) => Math.round((0.5 + 0.05 * i) * 100) / 100);

/**
 * IoU of box i of `a` and box j of `b` (both [k * 4] x1, y1, x2, y2).
 * @example boxIou([0, 0, 10, 10], 0, [0, 0, 10, 5], 0) // 0.5
 */
export function boxIou(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  const iw = Math.max(0, Math.min(a[4 * i + 2], b[4 * j + 2]) - Math.max(a[4 * i], b[4 * j]));
  const ih = Math.max(0, Math.min(a[4 * i + 3], b[4 * j + 3]) - Math.max(a[4 * i + 1], b[4 * j + 1]));
  const inter = iw * ih;
  if (inter <= 0) return 0;
  const area = (x: ArrayLike<number>, k: number) => (x[4 * k + 2] - x[4 * k]) * (x[4 * k + 3] - x[4 * k + 1]);
  return inter / (area(a, i) + area(b, j) - inter);
}

/**
 * 101-point interpolated AP from detections in decreasing score (true/false positive each) and
 * the number of ground-truth boxes: mean over r in 0:0.01:1 of max precision at recall >= r.
 * @example interpolatedAp([false, true], 1) // 0.5: the envelope is 1/2 at every recall point
 */
export function interpolatedAp(tp: boolean[], truths: number): number {
  if (truths === 0) return NaN;
  const recall: number[] = [];
  const precision: number[] = [];
  let hits = 0;
  tp.forEach((t, i) => {
    hits += t ? 1 : 0;
    recall.push(hits / truths);
    precision.push(hits / (i + 1));
  });
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i], precision[i + 1]); // envelope
  let sum = 0;
  let at = 0;
  for (let r = 0; r <= 100; r++) {
    while (at < recall.length && recall[at] < r / 100) at++; // first index with recall >= r
    sum += at < recall.length ? precision[at] : 0;
  }
  return sum / 101;
}

/** 1 + the largest class id among the detections and the truth (0 when there is none); a loop, not Math.max(...ids), which overflows the stack past ~1e5 ids. */
function classesSeen(detections: ImageDetections[], truth: ImageTruth[]): number {
  let top = -1;
  for (const d of detections) for (let i = 0; i < d.classes.length; i++) top = Math.max(top, d.classes[i]);
  for (const t of truth) for (let i = 0; i < t.labels.length; i++) top = Math.max(top, t.labels[i]);
  return top + 1;
}

/**
 * COCO-style AP (averaged over IoU 0.5:0.05:0.95), AP50, AP75 and per-class AP.
 * @example const {ap, ap50} = averagePrecision(detections, scenes.boxes.map((boxes, i) => ({boxes, labels: scenes.labels[i]})));
 */
export function averagePrecision(detections: ImageDetections[], truth: ImageTruth[], opts: ApOptions = {}): ApResult {
  if (detections.length !== truth.length) throw new Error(`averagePrecision: ${detections.length} detection lists for ${truth.length} images; expected one per image`);
  const thresholds = opts.iouThresholds ?? COCO_THRESHOLDS;
  const maxDetections = opts.maxDetections ?? 100;
  const classes = opts.classes ?? classesSeen(detections, truth);
  // per class: ap[t] for every threshold
  const table: number[][] = [];
  for (let c = 0; c < classes; c++) {
    const matched: {score: number; tp: boolean[]}[] = []; // tp per threshold
    let truths = 0;
    detections.forEach((d, img) => {
      const gt = Array.from(truth[img].labels).flatMap((l, j) => (l === c ? [j] : []));
      truths += gt.length;
      const mine = Array.from(d.classes).flatMap((k, i) => (k === c ? [i] : []))
        .sort((a, b) => d.scores[b] - d.scores[a]) // stable: ties keep input order
        .slice(0, maxDetections);
      const ious = mine.map((i) => gt.map((j) => boxIou(d.boxes, i, truth[img].boxes, j)));
      const taken = thresholds.map(() => new Array<boolean>(gt.length).fill(false));
      for (const [row, i] of mine.entries()) {
        const tp = thresholds.map((t, ti) => {
          let best = -1;
          let bestIou = t;
          gt.forEach((_, g) => { if (!taken[ti][g] && ious[row][g] >= bestIou) [best, bestIou] = [g, ious[row][g]]; });
          if (best >= 0) taken[ti][best] = true;
          return best >= 0;
        });
        matched.push({score: d.scores[i], tp});
      }
    });
    matched.sort((a, b) => b.score - a.score);
    table.push(thresholds.map((_, ti) => interpolatedAp(matched.map((m) => m.tp[ti]), truths)));
  }
  const valid = table.filter((row) => !Number.isNaN(row[0]));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const perThreshold = thresholds.map((_, ti) => mean(valid.map((row) => row[ti])));
  const at = (t: number) => { const i = thresholds.findIndex((x) => Math.abs(x - t) < 1e-9); return i < 0 ? NaN : perThreshold[i]; };
  return {ap: mean(perThreshold), ap50: at(0.5), ap75: at(0.75), perClass: table.map(mean), perThreshold, iouThresholds: thresholds};
}

/** Options of {@link apDifference}. */
export interface ApDifferenceOptions {
  /** Number of classes (default: 1 + the largest class id seen). */
  classes?: number;
  /** Default 0.5 (AP50). */
  iouThreshold?: number;
  /** Bootstrap resamples. Default 200. */
  rounds?: number;
  /** Seed of the resampling. Default 1. */
  seed?: number;
}

/** AP of two detectors on the same images, their difference b - a and its standard error. */
export interface ApDifference { a: number; b: number; diff: number; se: number }

/**
 * AP at one IoU threshold of detectors `a` and `b` on the same images, and the standard error of
 * b - a from a paired bootstrap: the images are resampled with replacement, the same draw for both,
 * so that what the two share (hard images) cancels. Tells a drop after pruning from test-set noise.
 * @example const {diff, se} = apDifference(baselineDets, prunedDets, truth, {classes: 10}); // diff -0.019, se 0.003
 */
export function apDifference(a: ImageDetections[], b: ImageDetections[], truth: ImageTruth[], opts: ApDifferenceOptions = {}): ApDifference {
  if (a.length !== truth.length || b.length !== truth.length) {
    throw new Error(`apDifference: ${a.length} and ${b.length} detection lists for ${truth.length} images; expected one per image in both`);
  }
  const {iouThreshold = 0.5, rounds = 200, seed = 1} = opts;
  if (!Number.isInteger(rounds) || rounds < 2) throw new Error(`apDifference: rounds must be an integer >= 2, got ${rounds}`);
  const classes = opts.classes ?? classesSeen([...a, ...b], truth);
  const apOf = (dets: ImageDetections[], idx: number[]) =>
    averagePrecision(idx.map((i) => dets[i]), idx.map((i) => truth[i]), {classes, iouThresholds: [iouThreshold]}).perThreshold[0];
  const all = truth.map((_, i) => i);
  const [apA, apB] = [apOf(a, all), apOf(b, all)];
  const rand = mulberry32(seed);
  const diffs = Array.from({length: rounds}, () => {
    const idx = all.map(() => Math.floor(rand() * all.length));
    return apOf(b, idx) - apOf(a, idx);
  });
  const mean = diffs.reduce((s, d) => s + d, 0) / rounds;
  const se = Math.sqrt(diffs.reduce((s, d) => s + (d - mean) ** 2, 0) / (rounds - 1));
  return {a: apA, b: apB, diff: apB - apA, se};
}
