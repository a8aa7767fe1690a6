/** Training a detector on a detection set (`gfp train` with one): checkpoint every epoch, resume, AP / AP50 on the test split, save. */
import * as tf from '@tensorflow/tfjs';
import {loadDetectionDataset} from '../data';
import {countCosts} from '../measure';
import {fpnLevels} from '../models';
import {evaluateDetector, loadCheckpoint, Optimizer, OptimizerName, progress, saveCheckpoint, saveModel, trainDetector} from '../train';
import {writeFilesAtomic} from '../train/checkpoint';
import type {DetectorProgress} from '../train/detection';
import {claimOut} from '../train/out_dir';
import {resolveModel} from './model_data';

/** Options of {@link trainDetectorModel} (the flags of `gfp train` with a detection set). */
export interface TrainDetectorModelOptions {
  model: string; dataset: string; epochs: number; out: string; batchSize: number; seed: number;
  lr?: number; optimizer?: OptimizerName; weightDecay?: number; limit?: number; resume?: boolean; overwrite?: boolean; json?: boolean;
  /** After each epoch's checkpoint, with the epochs done. */
  onEpoch?: (epoch: number) => void;
  /** Stops at the end of the current epoch (after its checkpoint); the model and report are those of that epoch. */
  signal?: AbortSignal;
}

/** report.json of a detection training run. */
export interface DetectorTrainReport {
  model: string; dataset: string; limit: number | null; epochs: number; steps: number; batchSize: number; lr: number;
  optimizer: OptimizerName; weightDecay: number; seed: number; loss: number; seconds: number;
  ap: number; ap50: number; ap75: number; macs: number; params: number; date: string;
}

/** The options a checkpoint must share with the run that resumes it (epochs may grow). */
interface DetectorRunConfig {
  model: string; dataset: string; limit: number | null; batchSize: number; lr: number; optimizer: OptimizerName; weightDecay: number; seed: number;
}

/** checkpoint.json's state: the run's options, where it stands, training seconds so far. */
interface DetectorState extends DetectorProgress { config: DetectorRunConfig; seconds: number }

/** Peak learning rate and weight decay per optimizer, measured on the Fashion-MNIST scenes (adam: 4e-3 beat 2e-3 by 2.2 AP50 after 1000 steps). */
const defaults: Record<OptimizerName, {lr: number; weightDecay: number}> = {
  adam: {lr: 4e-3, weightDecay: 1e-4},
  sgd: {lr: 0.02, weightDecay: 1e-4},
};

/**
 * Train a detector (fresh named model or a saved one) for `epochs` passes over the train scenes
 * (warm-up, cosine decay; generated sets draw new scenes every epoch after the first), checkpointing
 * to `out` every epoch, then write it and report.json (AP, AP50 on the test scenes) to `out`.
 * With `resume`, goes on from out's checkpoint: the same weights as an uninterrupted run.
 * @example await trainDetectorModel({model: 'fpn-detector', dataset: 'fashion-scenes', epochs: 20, out: 'runs/det', batchSize: 32, seed: 0});
 */
export async function trainDetectorModel(o: TrainDetectorModelOptions): Promise<DetectorTrainReport> {
  const release = await claimOut(o.out, {resume: o.resume, overwrite: o.overwrite, models: [o.model]});
  try {
    return await trainInto(o);
  } finally {
    release();
  }
}

async function trainInto(o: TrainDetectorModelOptions): Promise<DetectorTrainReport> {
  const {train, test, epochs} = await loadDetectionDataset(o.dataset, o.limit);
  const name = o.optimizer ?? 'adam';
  const {lr, weightDecay} = {...defaults[name], ...(o.lr === undefined ? {} : {lr: o.lr}), ...(o.weightDecay === undefined ? {} : {weightDecay: o.weightDecay})};
  const config: DetectorRunConfig = {model: o.model, dataset: o.dataset, limit: o.limit ?? null, batchSize: o.batchSize, lr, optimizer: name, weightDecay, seed: o.seed};
  const optimizer = new Optimizer({name, weightDecay, ...(name === 'sgd' ? {momentum: 0.9} : {})});
  let state: DetectorState = {config, epoch: 0, step: 0, recent: [], seconds: 0};
  let model: tf.LayersModel | undefined;
  try {
    if (o.resume) {
      const ckpt = await loadCheckpoint<DetectorState>(o.out);
      model = ckpt.model;
      try {
        const differ = (Object.keys(config) as (keyof DetectorRunConfig)[]).filter((k) => ckpt.state.config?.[k] !== config[k]);
        if (differ.length) {
          throw new Error(`cannot resume from ${o.out}: ${differ.map((k) => `${k} is ${config[k]} here but ${ckpt.state.config?.[k]} in the checkpoint`).join('; ')}. ` +
            'Resume with the checkpoint\'s options, or train into a new --out');
        }
        optimizer.setState(ckpt.optimizer, model.trainableWeights.map((w) => w.read() as tf.Variable));
      } finally {
        tf.dispose(Object.values(ckpt.optimizer.tensors));
      }
      state = ckpt.state;
    } else {
      model = await resolveModel(o.model, train.shape, train.classes, o.seed);
    }
    const net = model;
    if (net.outputs[0].shape.length !== 3) throw new Error(`gfp train: model "${o.model}" is not a detector (output [${net.outputs[0].shape}]); use fpn-detector with dataset "${o.dataset}"`);
    const levels = fpnLevels(train.shape);
    const steps = Math.max(1, o.epochs * Math.floor(train.size / o.batchSize));
    const weights = net.trainableWeights.map((w) => w.read() as tf.Variable);
    let since = performance.now();
    const r = await trainDetector((x, training) => net.apply(x, {training}) as tf.Tensor3D, weights, epochs ?? train, levels,
      {steps, batchSize: o.batchSize, lr, seed: o.seed, optimizer, progress: progress(o.json ? 'lines' : 'auto'), start: state, signal: o.signal,
        onEpoch: async (p) => {
          const now = performance.now();
          state = {...state, ...p, seconds: state.seconds + (now - since) / 1000};
          await saveCheckpoint(o.out, net, optimizer, state);
          await saveModel(net, o.out);
          since = performance.now();
          o.onEpoch?.(p.epoch);
        }});
    const {ap, ap50, ap75} = await evaluateDetector((x) => net.predict(x) as tf.Tensor3D, test, levels);
    const {macs, params} = countCosts(net);
    const report: DetectorTrainReport = {model: o.model, dataset: o.dataset, limit: o.limit ?? null, epochs: o.epochs, steps: r.steps, batchSize: o.batchSize, lr,
      optimizer: name, weightDecay, seed: o.seed, loss: r.loss, seconds: state.seconds, ap, ap50, ap75, macs, params, date: new Date().toISOString()};
    await saveModel(net, o.out);
    await writeFilesAtomic(o.out, [['report.json', JSON.stringify(report, null, 2)]]);
    return report;
  } finally {
    optimizer.dispose();
    if (model) model.dispose();
  }
}
