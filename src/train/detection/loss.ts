/**
 * The detection loss: alpha-balanced BCE of the class logits + GIoU of the boxes + centerness BCE.
 * Outputs [B, L, K + 5] = K class logits, 4 box logits u (distance to the left, top, right, bottom box
 * side = exp(u) * stride), 1 centerness logit.
 */
import * as tf from '@tensorflow/tfjs';
import type { DetectionTargets } from './targets';

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

