/**
 * FCOS-style detection training: target assignment, loss (alpha-balanced BCE + GIoU + centerness), one
 * optimizer step, and decoding with per-class NMS. Output layout: see models/fpn_detector.ts,
 * [B, L, K + 5] = K class logits, 4 box logits u (distance to the left, top, right, bottom box
 * side = exp(u) * stride), 1 centerness logit; locations level after level, row-major.
 */
import * as tf from '@tensorflow/tfjs';
import type { DetectionBatch, DetectionDataset } from '../data/detection';
import type { FpnLevel } from '../models/fpn_detector';
import { ApResult, averagePrecision, boxIou } from '../measure/ap';
import { Optimizer, OptimizerOptions } from './optimizer';
import { learningRate, ScheduleName } from './schedule';
import type { Progress } from './progress';

/** Plain-data targets of one batch (JS arrays; the loss makes the tensors). */
export interface DetectionTargets {
  batch: number;
  locations: number;
  classes: number;
  cls: Float32Array;        // [B, L, K] 1 at the assigned class of a positive location, else 0
  ltrb: Float32Array;       // [B, L, 4] target distances / stride at positives, 1 elsewhere
  centerness: Float32Array; // [B, L] FCOS centerness target at positives, 0 elsewhere
  positive: Float32Array;   // [B, L] 1 at positive locations
  positives: number;        // sum of `positive`
}

/** Options of {@link assignTargets}. */
export interface AssignOptions {
  /** Per level [lo, hi): a location is assigned to a box only when max(l, t, r, b) lies in it. Default [0, 20), [20, 40), [40, inf) for 64x64 images (about 1.6% of the scenes' boxes get no location), scaled with the image side. */
  ranges?: [number, number][];
  /** Centre sampling: the location must lie within radius * stride of the box centre. Default 1.5. */
  radius?: number;
}

/** Centres (x, y) in pixels and strides of every location, in output order.
 * @example locationsOf(fpnLevels([64, 64, 1])).x.length // 84
 */
export function locationsOf(levels: FpnLevel[]): { x: Float32Array; y: Float32Array; stride: Float32Array } {
  const total = levels.reduce((s, l) => s + l.height * l.width, 0);
  const [x, y, stride] = [new Float32Array(total), new Float32Array(total), new Float32Array(total)];
  let k = 0;
  for (const l of levels) {
    for (let i = 0; i < l.height; i++) {
      for (let j = 0; j < l.width; j++, k++) [x[k], y[k], stride[k]] = [(j + 0.5) * l.stride, (i + 0.5) * l.stride, l.stride];
    }
  }
  return { x, y, stride };
}

/**
 * FCOS target assignment: location p is positive for box g when p lies inside g, within
 * radius * stride of g's centre, and max(l, t, r, b) falls in its level's range; among several
 * such boxes the smallest wins.
 * @example const t = assignTargets(batch.boxes, batch.labels, fpnLevels([64, 64, 1]), 10);
 */
export function assignTargets(boxes: Float32Array[], labels: Int32Array[], levels: FpnLevel[], classes: number, opts: AssignOptions = {}): DetectionTargets {
  const k = Math.sqrt(levels[0].height * levels[0].width) * levels[0].stride / 64; // image side / 64
  const ranges = opts.ranges ?? [[0, 20 * k], [20 * k, 40 * k], [40 * k, Infinity]];
  const radius = opts.radius ?? 1.5;
  if (ranges.length !== levels.length) throw new Error(`assignTargets: ranges has ${ranges.length} entries, expected one per level (${levels.length})`);
  const loc = locationsOf(levels);
  const levelOf = levels.flatMap((l, i) => new Array<number>(l.height * l.width).fill(i));
  const [B, L, K] = [boxes.length, loc.x.length, classes];
  const t: DetectionTargets = {
    batch: B, locations: L, classes: K, cls: new Float32Array(B * L * K), ltrb: new Float32Array(B * L * 4).fill(1),
    centerness: new Float32Array(B * L), positive: new Float32Array(B * L), positives: 0,
  };
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < L; p++) {
      const [px, py, s] = [loc.x[p], loc.y[p], loc.stride[p]];
      const [lo, hi] = ranges[levelOf[p]];
      let best = -1;
      let bestArea = Infinity;
      let d = [0, 0, 0, 0];
      for (let g = 0; g < labels[b].length; g++) {
        const [x1, y1, x2, y2] = boxes[b].subarray(4 * g, 4 * g + 4);
        const dist = [px - x1, py - y1, x2 - px, y2 - py]; // l, t, r, b
        const far = Math.max(...dist);
        const near = Math.abs(px - (x1 + x2) / 2) < radius * s && Math.abs(py - (y1 + y2) / 2) < radius * s;
        const area = (x2 - x1) * (y2 - y1);
        if (Math.min(...dist) > 0 && near && far >= lo && far < hi && area < bestArea) [best, bestArea, d] = [g, area, dist];
      }
      if (best < 0) continue;
      const at = b * L + p;
      t.positive[at] = 1;
      t.positives++;
      t.cls[at * K + labels[b][best]] = 1;
      d.forEach((v, i) => { t.ltrb[at * 4 + i] = v / s; });
      // centerness = sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)) (FCOS eq. 3)
      t.centerness[at] = Math.sqrt((Math.min(d[0], d[2]) / Math.max(d[0], d[2])) * (Math.min(d[1], d[3]) / Math.max(d[1], d[3])));
    }
  }
  return t;
}

/** Elementwise binary cross-entropy of logits x against targets y: max(x, 0) - x y + log(1 + exp(-|x|)). */
const bceWithLogits = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.relu(x).sub(x.mul(y)).add(tf.softplus(tf.neg(tf.abs(x))));

/**
 * Loss weights and focal parameters; defaults alpha 0.25, gamma 0: alpha-balanced BCE. The focal
 * factor (gamma 2 in the focal-loss paper) is for ~1e5 anchors per image; a 64x64 scene has 84
 * locations, about 1 in 7 positive, and gamma 2 trained to AP50 0.34 where gamma 0 reached 0.48
 * (1000 steps, same seed; gamma 1 with alpha 0.5: 0.43).
 */
export interface LossOptions { alpha?: number; gamma?: number; boxWeight?: number }

/** The parts of the detection loss (numbers), for logging. */
export interface LossParts { total: number; focal: number; giou: number; centerness: number }

/** The three loss terms as scalars; the sum is the detection loss. */
function lossTerms(outputs: tf.Tensor3D, t: DetectionTargets, o: LossOptions): tf.Scalar[] {
  const { batch: B, locations: L, classes: K } = t;
  const [alpha, gamma, boxWeight] = [o.alpha ?? 0.25, o.gamma ?? 0, o.boxWeight ?? 1];
  const [logits, raw, ctrLogit] = tf.split(outputs, [K, 4, 1], 2); // [B, L, K], [B, L, 4], [B, L, 1]
  const norm = Math.max(1, t.positives);
  // focal loss over every location and class, normalised by the positives (focal-loss paper eq. 5)
  const y = tf.tensor3d(t.cls, [B, L, K]);
  const p = tf.sigmoid(logits);
  const pt = p.mul(y).add(tf.sub(1, p).mul(tf.sub(1, y)));
  const alphaT = y.mul(alpha).add(tf.sub(1, y).mul(1 - alpha));
  const modulated = gamma === 0 ? alphaT : alphaT.mul(tf.pow(tf.sub(1, pt), gamma)); // gamma 0: weighted BCE (pow(0, 0) has a NaN gradient)
  const focal = modulated.mul(bceWithLogits(logits, y)).sum().div(norm) as tf.Scalar;
  // GIoU of boxes around the same point, in stride units: pred l, t, r, b = exp(u)
  const pos = tf.tensor2d(t.positive, [B, L]);
  const ctr = tf.tensor2d(t.centerness, [B, L]);
  const target = tf.tensor3d(t.ltrb, [B, L, 4]);
  const pred = tf.exp(tf.clipByValue(raw, -8, 8));
  const area = (d: tf.Tensor) => { const [l, tp, r, b] = tf.split(d, 4, 2); return l.add(r).mul(tp.add(b)); };
  const [pl, ptp, pr, pb] = tf.split(pred, 4, 2);
  const [gl, gt, gr, gb] = tf.split(target, 4, 2);
  const inter = tf.minimum(pl, gl).add(tf.minimum(pr, gr)).mul(tf.minimum(ptp, gt).add(tf.minimum(pb, gb)));
  const union = area(pred).add(area(target)).sub(inter);
  const enclose = tf.maximum(pl, gl).add(tf.maximum(pr, gr)).mul(tf.maximum(ptp, gt).add(tf.maximum(pb, gb)));
  const giou = inter.div(union).sub(enclose.sub(union).div(enclose)).squeeze([2]); // [B, L]
  // weighted by the centerness target (FCOS), so box centres count most
  const weight = pos.mul(ctr);
  const giouLoss = tf.sub(1, giou).mul(weight).sum().div(Math.max(1e-6, t.centerness.reduce((a, v) => a + v, 0))).mul(boxWeight) as tf.Scalar;
  const ctrLoss = bceWithLogits(ctrLogit.squeeze([2]), ctr).mul(pos).sum().div(norm) as tf.Scalar;
  return [focal, giouLoss, ctrLoss];
}

/**
 * Detection loss of outputs [B, L, K + 5] against assigned targets: focal loss (alpha 0.25,
 * gamma 0 by default, see {@link LossOptions}) over all locations + GIoU loss and centerness BCE at the positives.
 * @example const loss = tf.tidy(() => detectionLoss(model.predict(xs) as tf.Tensor3D, targets));
 */
export function detectionLoss(outputs: tf.Tensor3D, targets: DetectionTargets, opts: LossOptions = {}): tf.Scalar {
  const [B, L, C] = outputs.shape;
  if (B !== targets.batch || L !== targets.locations || C !== targets.classes + 5) {
    throw new Error(`detectionLoss: outputs [${outputs.shape}] do not match targets [${targets.batch}, ${targets.locations}, ${targets.classes} + 5]`);
  }
  return tf.tidy(() => tf.addN(lossTerms(outputs, targets, opts)) as tf.Scalar);
}

/**
 * The loss terms as numbers (no gradients), e.g. to log what falls.
 * @example const {focal, giou} = await detectionLossParts(out, targets);
 */
export async function detectionLossParts(outputs: tf.Tensor3D, targets: DetectionTargets, opts: LossOptions = {}): Promise<LossParts> {
  const terms = tf.tidy(() => tf.stack(lossTerms(outputs, targets, opts)));
  const [focal, giou, centerness] = await terms.data();
  terms.dispose();
  return { total: focal + giou + centerness, focal, giou, centerness };
}

/** Outputs [B, L, K + 5] of images [B, H, W, C]; `training` selects BatchNorm batch statistics. */
export type DetectorForward = (xs: tf.Tensor4D, training: boolean) => tf.Tensor3D;

/** What one detection training step needs. */
export interface DetectionStepContext {
  forward: DetectorForward;
  variables: tf.Variable[];
  optimizer: Optimizer;
  lr: number;
  levels: FpnLevel[];
  classes: number;
  assign?: AssignOptions;
  loss?: LossOptions;
}

/**
 * One optimizer step on a detection batch; returns the loss before the update.
 * @example const loss = await detectionStep({forward: (x, t) => model.apply(x, {training: t}) as tf.Tensor3D, variables, optimizer, lr: 1e-3, levels, classes: 10}, batch);
 */
export async function detectionStep(ctx: DetectionStepContext, batch: DetectionBatch): Promise<number> {
  const targets = assignTargets(batch.boxes, batch.labels, ctx.levels, ctx.classes, ctx.assign);
  const { value, grads } = tf.variableGrads(() => detectionLoss(ctx.forward(batch.xs, true), targets, ctx.loss), ctx.variables);
  try {
    const loss = (await value.data())[0];
    if (!Number.isFinite(loss)) throw new Error(`detectionStep: loss is ${loss} at step ${ctx.optimizer.step + 1}; the update was not applied`);
    ctx.optimizer.apply(ctx.variables, ctx.variables.map((v) => grads[v.name]), ctx.lr);
    return loss;
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}

/** Detections of one image: boxes [k * 4] x1, y1, x2, y2 pixels, by decreasing score. */
export interface Detections { boxes: Float32Array; scores: Float32Array; classes: Int32Array }

/** Options of {@link decode}. */
export interface DecodeOptions { scoreThreshold?: number; iouThreshold?: number; maxDetections?: number; preNms?: number }

/**
 * Greedy NMS within each class: keeps a candidate unless a kept one of its class overlaps it by
 * IoU > iouThreshold. `order` lists candidates by decreasing score; returns the kept ones.
 * @example nms(Float32Array.of(0, 0, 10, 10, 1, 1, 10, 10), Int32Array.of(0, 0), [0, 1], 0.5) // [0]
 */
export function nms(boxes: Float32Array, classes: Int32Array, order: number[], iouThreshold: number, max = Infinity): number[] {
  const kept: number[] = [];
  for (const i of order) {
    if (kept.length >= max) break;
    if (!kept.some((j) => classes[j] === classes[i] && boxIou(boxes, i, boxes, j) > iouThreshold)) kept.push(i);
  }
  return kept;
}

/**
 * Boxes, scores and classes per image from outputs [B, L, K + 5]: score = sqrt(sigmoid(class
 * logit) * sigmoid(centerness)) (FCOS), boxes clipped to the image, per-class NMS.
 * @example const dets = await decode(out, fpnLevels([64, 64, 1]), {scoreThreshold: 0.05}); dets[0].boxes;
 */
export async function decode(outputs: tf.Tensor3D, levels: FpnLevel[], opts: DecodeOptions = {}): Promise<Detections[]> {
  const { scoreThreshold = 0.05, iouThreshold = 0.5, maxDetections = 100, preNms = 1000 } = opts;
  const [B, L, C] = outputs.shape;
  const K = C - 5;
  const loc = locationsOf(levels);
  if (loc.x.length !== L) throw new Error(`decode: outputs have ${L} locations but the levels have ${loc.x.length}`);
  const [imageW, imageH] = [levels[0].width * levels[0].stride, levels[0].height * levels[0].stride];
  const parts = tf.tidy(() => {
    const [logits, box, ctr] = tf.split(outputs, [K, 4, 1], 2);
    return [tf.sqrt(tf.sigmoid(logits).mul(tf.sigmoid(ctr))), tf.exp(tf.clipByValue(box, -8, 8))];
  });
  const [scores, raw] = await Promise.all(parts.map((t) => t.data()));
  tf.dispose(parts);
  const result: Detections[] = [];
  for (let b = 0; b < B; b++) {
    const cand: { score: number; cls: number; p: number }[] = [];
    for (let p = 0; p < L; p++) {
      for (let k = 0; k < K; k++) {
        const s = scores[(b * L + p) * K + k];
        if (s > scoreThreshold) cand.push({ score: s, cls: k, p });
      }
    }
    cand.sort((u, v) => v.score - u.score);
    cand.length = Math.min(cand.length, preNms);
    const boxes = new Float32Array(cand.length * 4);
    cand.forEach(({ p }, i) => {
      const [d, s] = [(b * L + p) * 4, loc.stride[p]];
      boxes[4 * i] = Math.max(0, loc.x[p] - raw[d] * s);
      boxes[4 * i + 1] = Math.max(0, loc.y[p] - raw[d + 1] * s);
      boxes[4 * i + 2] = Math.min(imageW, loc.x[p] + raw[d + 2] * s);
      boxes[4 * i + 3] = Math.min(imageH, loc.y[p] + raw[d + 3] * s);
    });
    const classes = Int32Array.from(cand, (c) => c.cls);
    const kept = nms(boxes, classes, cand.map((_, i) => i), iouThreshold, maxDetections);
    result.push({
      boxes: Float32Array.from(kept.flatMap((i) => Array.from(boxes.subarray(4 * i, 4 * i + 4)))),
      scores: Float32Array.from(kept, (i) => cand[i].score),
      classes: Int32Array.from(kept, (i) => classes[i]),
    });
  }
  return result;
}

/**
 * Detections for every image of a batch source, inference mode.
 * @example const dets = await detect((x) => model.predict(x) as tf.Tensor3D, scenes.batches(64), levels);
 */
export async function detect(forward: (xs: tf.Tensor4D) => tf.Tensor3D, batches: Iterable<DetectionBatch>, levels: FpnLevel[], opts: DecodeOptions = {}): Promise<Detections[]> {
  const all: Detections[] = [];
  for (const batch of batches) {
    try {
      const out = tf.tidy(() => forward(batch.xs));
      all.push(...(await decode(out, levels, opts)));
      out.dispose();
    } finally {
      batch.xs.dispose();
    }
  }
  return all;
}

/** Options of {@link trainDetector}; defaults are the recipe measured on 64x64 scenes. */
export interface TrainDetectorOptions {
  /** Optimizer steps. */
  steps: number;
  /** Default 32. */
  batchSize?: number;
  /** Default Adam (decoupled weight decay 1e-4). */
  optimizer?: Optimizer | OptimizerOptions;
  /** Peak learning rate. Default 4e-3 (2.2 AP50 over 2e-3 after 1000 steps of the fpn-detector with headNorm). */
  lr?: number;
  /** Decay after the warm-up. Default 'cosine'. */
  schedule?: ScheduleName;
  /** Linear warm-up steps. Default min(200, steps / 10). */
  warmupSteps?: number;
  /** Seed of the data order (epoch e shuffles with seed + e). Default 0. */
  seed?: number;
  assign?: AssignOptions;
  loss?: LossOptions;
  progress?: Progress;
  /** Where an interrupted run stopped (saved by onEpoch with the weights and the optimizer): it goes on from there. */
  start?: DetectorProgress;
  /** After each complete epoch, e.g. to checkpoint. */
  onEpoch?: (p: DetectorProgress) => Promise<void> | void;
  /** Stops at the end of the current epoch, after onEpoch. */
  signal?: AbortSignal;
}

/** Epochs and steps done, and the losses of the last 50 steps (the reported loss is their mean). */
export interface DetectorProgress { epoch: number; step: number; recent: number[] }

/** What {@link trainDetector} did: steps, mean loss of the last 50 steps, seconds. */
export interface TrainDetectorResult { steps: number; loss: number; seconds: number }

/** Training data: one fixed set, or the set of each epoch (e.g. freshly generated scenes). */
export type DetectionEpochs = DetectionDataset | ((epoch: number) => DetectionDataset);

/**
 * Trains a detector for `steps` optimizer steps over shuffled epochs of `data` (warm-up + decay).
 * `data` may be a function of the epoch (0, 1, ...), called once at the start of each epoch.
 * @example await trainDetector((x, t) => model.apply(x, {training: t}) as tf.Tensor3D, vars, scenes, levels, {steps: 500});
 */
export async function trainDetector(forward: DetectorForward, variables: tf.Variable[], data: DetectionEpochs, levels: FpnLevel[], opts: TrainDetectorOptions): Promise<TrainDetectorResult> {
  const { steps, batchSize = 32, lr = 4e-3, schedule = 'cosine', seed = 0 } = opts;
  const warmupSteps = opts.warmupSteps ?? Math.min(200, Math.floor(steps / 10));
  const optimizer = opts.optimizer instanceof Optimizer ? opts.optimizer : new Optimizer(opts.optimizer ?? { name: 'adam', weightDecay: 1e-4 });
  const first = typeof data === 'function' ? data(0) : data;
  const ctx: DetectionStepContext = { forward, variables, optimizer, lr, levels, classes: first.classes, assign: opts.assign, loss: opts.loss };
  const recent = [...(opts.start?.recent ?? [])];
  const t0 = performance.now();
  let done = opts.start?.step ?? 0;
  opts.progress?.start(`training the detector, ${steps} steps`, steps);
  try {
    for (let epoch = opts.start?.epoch ?? 0; done < steps && !opts.signal?.aborted; epoch++) {
      const set = epoch === 0 || typeof data !== 'function' ? first : data(epoch);
      if (set.classes !== ctx.classes) throw new Error(`trainDetector: epoch ${epoch} has ${set.classes} classes, epoch 0 had ${ctx.classes}`);
      for (const batch of set.batches(batchSize, { shuffle: true, seed: seed + epoch, dropLast: set.size >= batchSize })) {
        try {
          if (done >= steps) break;
          ctx.lr = learningRate(done, { name: schedule, lr, totalSteps: steps, warmupSteps });
          recent.push(await detectionStep(ctx, batch));
          if (recent.length > 50) recent.shift();
          done++;
        } finally {
          batch.xs.dispose();
        }
        opts.progress?.update(done, { loss: recent[recent.length - 1], acc: NaN, samples: done * batchSize });
        await tf.nextFrame();
      }
      await opts.onEpoch?.({ epoch: epoch + 1, step: done, recent: [...recent] });
    }
  } finally {
    if (!(opts.optimizer instanceof Optimizer)) optimizer.dispose();
  }
  const loss = recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length);
  opts.progress?.stop(`trained ${done} steps, loss ${loss.toFixed(4)}`);
  return { steps: done, loss, seconds: (performance.now() - t0) / 1000 };
}

/**
 * COCO-style AP / AP50 of a detector on a detection dataset (inference mode).
 * @example const {ap, ap50} = await evaluateDetector((x) => model.predict(x) as tf.Tensor3D, testScenes, levels);
 */
export async function evaluateDetector(forward: (xs: tf.Tensor4D) => tf.Tensor3D, data: DetectionDataset, levels: FpnLevel[], opts: DecodeOptions & { batchSize?: number } = {}): Promise<ApResult> {
  const dets = await detect(forward, data.batches(opts.batchSize ?? 64), levels, opts);
  return averagePrecision(dets, data.boxes.map((boxes, i) => ({ boxes, labels: data.labels[i] })), { classes: data.classes });
}
