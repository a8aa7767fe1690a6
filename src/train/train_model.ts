/** The whole training job behind `gfp train`: data, model, loop, per-epoch evaluation, checkpoints, resume, report. */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'fs';
import { BatchOptions, ImageDataset, loadDataset } from '../data';
import { byName, zooNames } from '../models';
import { loadCheckpoint, loadModel, saveCheckpoint, saveModel, writeFilesAtomic } from './checkpoint';
import { BatchSource, evaluate, fit, NonFiniteLossError } from './loop';
import { Optimizer, OptimizerName } from './optimizer';
import { claimOut } from './out_dir';
import { OutputKind, outputRule } from './output';
import { progress, Progress, ProgressKind } from './progress';
import { learningRate, ScheduleName } from './schedule';

/** Classification datasets trainModel loads by name (through the dataset registry). */
export type DatasetName = 'fashion-mnist' | 'cifar10' | 'image-folder';

/** Per-optimizer defaults of the learning rate and weight decay. */
const optimizerDefaults: Record<OptimizerName, { lr: number; weightDecay: number }> = {
  sgd: { lr: 0.05, weightDecay: 5e-4 },
  adam: { lr: 1e-3, weightDecay: 0 },
};

/** Options of trainModel (the flags of `gfp train`). */
export interface TrainModelOptions {
  /** A zoo name (resnet20, ...), a model directory or model.json path, or a model object (trained in place). */
  model: string | tf.LayersModel;
  /** A dataset name of the registry (data/registry.ts; read with dataDir and limit), or your own splits. */
  dataset: DatasetName | { name: string; train: BatchSource; test: BatchSource; augment?: BatchOptions['augment']; preprocessing?: object };
  epochs: number;
  /**
   * Folder for model.json + weights.bin (the model after the last epoch), report.json and the checkpoint
   * (checkpoint.json, ckpt-N/). Locked while training; refused when it holds files, unless `resume` or `overwrite`.
   */
  out: string;
  /** Continue from out's checkpoint (same options required; epochs may grow). Refused when out holds no checkpoint. */
  resume?: boolean;
  /** Train afresh into an `out` that holds an earlier run (its checkpoint is removed first). */
  overwrite?: boolean;
  /** Default 64. */
  batchSize?: number;
  /** Peak learning rate. Default 0.05 for sgd, 1e-3 for adam. */
  lr?: number;
  /** Default 'sgd' (momentum 0.9). */
  optimizer?: OptimizerName;
  momentum?: number;
  /** Kernels only. Default 5e-4 for sgd (L2), 0 for adam (decoupled). */
  weightDecay?: number;
  /** Default 'cosine'. */
  schedule?: ScheduleName;
  /** Linear warm-up, in epochs. Default 0. */
  warmupEpochs?: number;
  /** Seeds model initialisation; epoch e (0-based) is shuffled with seed + e. Default 0. */
  seed?: number;
  /** Use only the first N samples of each split. */
  limit?: number;
  /** Dataset folder (required for cifar10 and image-folder; fashion-mnist defaults to the shipped copy). */
  dataDir?: string;
  /**
   * What the model outputs: by default the loss follows its output activation (softmax: cross-entropy of the
   * probabilities; sigmoid: binary cross-entropy; linear: logits); 'logits' / 'probabilities' state it instead.
   */
  output?: OutputKind;
  /** Default 'auto' (a bar on a terminal, lines otherwise). */
  progress?: Progress | ProgressKind;
  /** After each epoch's evaluation and checkpoint. */
  onEpoch?: (row: HistoryRow) => void;
  /** Stops after the current step; the last checkpoint stays the one of the last complete epoch. */
  signal?: AbortSignal;
}

/** One epoch of report.json. */
export interface HistoryRow {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  testLoss: number;
  testAcc: number;
  /** Training time of the epoch (evaluation and checkpoint excluded). */
  seconds: number;
}

/** The options a checkpoint must share with a run that resumes it. */
interface RunConfig {
  model: string;
  dataset: string;
  trainSamples: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: ScheduleName;
  warmupEpochs: number;
  seed: number;
  /** Only when given (older checkpoints have none). */
  output?: OutputKind;
}

/** checkpoint.json's state: completed epochs, global step, shuffling rng, history. */
interface TrainState {
  epoch: number;
  step: number;
  /** The next epoch is shuffled with this seed (seed + epochs done). */
  rng: { seed: number; nextShuffleSeed: number };
  config: RunConfig;
  history: HistoryRow[];
}

/** DIR/report.json. */
export interface TrainReport {
  model: string;
  dataset: string;
  /** Epochs asked for; history holds those done. */
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  weightDecay: number;
  schedule: ScheduleName;
  seed: number;
  history: HistoryRow[];
  /** Test accuracy after the last completed epoch (null when none completed). */
  testAccuracy: number | null;
  /** How the images were read (image folders): size, channels, scaling. */
  data?: object;
  backend: string;
  date: string;
}

async function loadData(o: TrainModelOptions): Promise<{ name: string; train: BatchSource; test: BatchSource; augment?: BatchOptions['augment']; preprocessing?: object }> {
  if (typeof o.dataset === 'string') return loadDataset({ dataset: o.dataset, data: o.dataDir, limit: o.limit });
  const data = o.dataset;
  if (o.limit === undefined) return data;
  const cut = (ds: BatchSource, split: string) => {
    if (!(ds instanceof ImageDataset)) throw new Error(`limit needs ImageDataset splits; the ${split} split of '${data.name}' is not one`);
    return ds.take(Math.min(o.limit as number, ds.size));
  };
  return { ...data, train: cut(data.train, 'train'), test: cut(data.test, 'test') };
}

/** The model to train: a zoo model built for the data, or one loaded from disk. */
async function buildModel(model: string, shape: [number, number, number], classes: number, seed: number): Promise<tf.LayersModel> {
  if ((zooNames() as string[]).includes(model)) return byName(model, { inputShape: shape, classes, seed });
  if (existsSync(model)) return loadModel(model);
  throw new Error(`unknown model '${model}': neither a zoo name (${zooNames().join(', ')}) nor an existing model directory / model.json`);
}

function checkInput(model: tf.LayersModel, shape: [number, number, number], name: string): void {
  const [, ...hwc] = model.inputs[0].shape;
  if (!tf.util.arraysEqual(hwc as number[], shape)) {
    throw new Error(`model '${model.name}' takes inputs [${hwc}], dataset '${name}' has images [${shape}]`);
  }
}

function checkResume(saved: RunConfig, now: RunConfig, dir: string): void {
  const diff = (Object.keys(now) as (keyof RunConfig)[]).filter((k) => saved[k] !== now[k]);
  if (diff.length > 0) {
    const list = diff.map((k) => `${k} is ${now[k]} here but ${saved[k]} in the checkpoint`).join('; ');
    throw new Error(`cannot resume from ${dir}: ${list}. Resume with the checkpoint's options, or train into a new --out`);
  }
}

/**
 * Train a model, evaluating on the test split and checkpointing to `out` every epoch; writes out/report.json.
 * @example const report = await trainModel({model: 'resnet20', dataset: 'fashion-mnist', epochs: 10, out: 'runs/r20'});
 */
export async function trainModel(o: TrainModelOptions): Promise<TrainReport> {
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new Error(`epochs must be a positive integer, got ${o.epochs}`);
  outputRule(undefined, o.output); // an unknown output fails before any data is loaded
  const release = await claimOut(o.out, { resume: o.resume, overwrite: o.overwrite, models: typeof o.model === 'string' ? [o.model] : [] });
  try {
    return await train(o);
  } finally {
    release();
  }
}

async function train(o: TrainModelOptions): Promise<TrainReport> {
  const data = await loadData(o);
  const optName = o.optimizer ?? 'sgd';
  if (!(optName in optimizerDefaults)) throw new Error(`unknown optimizer '${optName}'; valid: ${Object.keys(optimizerDefaults).join(', ')}`);
  const batchSize = o.batchSize ?? 64;
  const config: RunConfig = {
    model: typeof o.model === 'string' ? o.model : o.model.name,
    dataset: data.name,
    trainSamples: data.train.size,
    batchSize,
    optimizer: optName,
    lr: o.lr ?? optimizerDefaults[optName].lr,
    momentum: o.momentum ?? 0.9,
    weightDecay: o.weightDecay ?? optimizerDefaults[optName].weightDecay,
    schedule: o.schedule ?? 'cosine',
    warmupEpochs: o.warmupEpochs ?? 0,
    seed: o.seed ?? 0,
    ...(o.output === undefined ? {} : { output: o.output }),
  };
  const show = typeof o.progress === 'object' ? o.progress : progress(o.progress ?? 'auto');
  const optimizer = new Optimizer({ name: optName, momentum: config.momentum, weightDecay: config.weightDecay });
  let state: TrainState = { epoch: 0, step: 0, rng: { seed: config.seed, nextShuffleSeed: config.seed }, config, history: [] };
  let model: tf.LayersModel | undefined;
  let owned = true;
  try {
    if (o.resume) {
      const ckpt = await loadCheckpoint<TrainState>(o.out);
      model = ckpt.model;
      try {
        checkResume(ckpt.state.config, config, o.out);
        optimizer.setState(ckpt.optimizer, model.trainableWeights.map((w) => w.read() as tf.Variable));
      } finally {
        tf.dispose(Object.values(ckpt.optimizer.tensors));
      }
      state = ckpt.state;
    } else if (typeof o.model === 'string') {
      const first = data.train instanceof ImageDataset ? data.train : undefined;
      if (first === undefined) throw new Error(`a zoo model name needs ImageDataset splits to read the input shape; pass a model object`);
      model = await buildModel(o.model, first.shape, first.classes, config.seed);
    } else {
      [model, owned] = [o.model, false];
    }
    const trained = model;
    if (data.train instanceof ImageDataset) checkInput(trained, data.train.shape, data.name);
    const stepsPerEpoch = Math.ceil(data.train.size / batchSize);
    const schedule = { name: config.schedule, lr: config.lr, totalSteps: o.epochs * stepsPerEpoch, warmupSteps: config.warmupEpochs * stepsPerEpoch };
    await fit(trained, data.train, {
      epochs: o.epochs,
      initialEpoch: state.epoch,
      batchSize,
      optimizer,
      lr: (step) => learningRate(step, schedule),
      seed: config.seed,
      augment: data.augment,
      output: o.output,
      progress: show,
      signal: o.signal,
      onEpoch: async (s) => {
        const ev = await evaluate(trained, data.test, batchSize, show, o.output);
        const row: HistoryRow = { epoch: s.epoch, trainLoss: s.loss, trainAcc: s.acc, testLoss: ev.loss, testAcc: ev.accuracy, seconds: s.seconds };
        const rng = { seed: config.seed, nextShuffleSeed: config.seed + s.epoch };
        state = { ...state, epoch: s.epoch, step: optimizer.step, rng, history: [...state.history, row] };
        await saveCheckpoint(o.out, trained, optimizer, state);
        await saveModel(trained, o.out);
        await writeReport(o.out, report(o.epochs, state, data.preprocessing));
        o.onEpoch?.(row);
      },
    });
  } catch (e) {
    if (!(e instanceof NonFiniteLossError)) throw e;
    const kept = state.epoch > 0 ? `the last good checkpoint in ${o.out} (epoch ${state.epoch}) is kept` : `no checkpoint was written (no epoch completed)`;
    throw new Error(`${e.message}; ${kept}`, { cause: e });
  } finally {
    optimizer.dispose();
    if (owned && model) model.dispose();
  }
  const final = report(o.epochs, state, data.preprocessing);
  await writeReport(o.out, final);
  return final;
}

function report(epochs: number, state: TrainState, data?: object): TrainReport {
  const c = state.config;
  const last = state.history[state.history.length - 1];
  return {
    model: c.model,
    dataset: c.dataset,
    epochs,
    batchSize: c.batchSize,
    optimizer: c.optimizer,
    lr: c.lr,
    weightDecay: c.weightDecay,
    schedule: c.schedule,
    seed: c.seed,
    history: state.history,
    testAccuracy: last ? last.testAcc : null,
    ...(data ? { data } : {}),
    backend: tf.getBackend(),
    date: new Date().toISOString(),
  };
}

async function writeReport(dir: string, r: TrainReport): Promise<void> {
  await writeFilesAtomic(dir, [['report.json', JSON.stringify(r, null, 2)]]);
}
