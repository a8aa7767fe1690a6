/** Training a detector: one optimizer step on a batch, and the loop over epochs (warm-up, decay, resume). */
import * as tf from '@tensorflow/tfjs';
import type { DetectionBatch, DetectionDataset } from '../../data/detection';
import type { FpnLevel } from '../../models/fpn_detector';
import { Optimizer, OptimizerOptions } from '../optimizer';
import { learningRate, ScheduleName } from '../schedule';
import type { Progress } from '../progress';
import { detectionLoss, LossOptions } from './loss';
import { AssignOptions, assignTargets } from './targets';

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

