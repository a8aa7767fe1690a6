/** From detector outputs [B, L, K + 5] to boxes: decoding, per-class NMS, detection over a batch source. */
import * as tf from '@tensorflow/tfjs';
import type { DetectionBatch } from '../../data/detection';
import type { FpnLevel } from '../../models/fpn_detector';
import { boxIou } from '../../measure/ap';
import { locationsOf } from './targets';

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
