/**
 * What pruning and fine-tuning need to know about the kind of data: classification (ImageDataset,
 * cross-entropy, accuracy) or detection (DetectionDataset, FCOS loss, AP / AP50). The dataset name chooses the kind.
 */
import * as tf from '@tensorflow/tfjs';
import {DataOptions, datasetName, datasetTask, DetectionBatch, InputShape, loadDataset, loadDetectionDataset, TaskKind} from '../data';
import {FpnLevel, fpnLevels} from '../models';
import {Pruner, PrunerOptions, RunOptions, ScoreBatch} from '../prune';
import {assignTargets, detectionLoss, evaluate, evaluateDetector, Optimizer, OptimizerOptions, OutputKind, Progress, trainDetector} from '../train';
import {checkModelData} from './model_data';

/** Settings of the fine-tuning after the FLOPs target is reached. */
export interface FinetuneSettings { epochs: number; batchSize: number; lr: number; seed: number; optimizer: Optimizer; progress: Progress }

/** A dataset with what pruning it needs: loss, quality figures, optimizer defaults, fine-tuning. */
export interface PruneTask {
  kind: TaskKind;
  /** The dataset's name in reports (fashion-mnist, image-folder:DIR, fashion-scenes, ...). */
  dataset: string;
  /** How the pixels were read and scaled (classification sets), for report.json. */
  preprocessing?: Record<string, unknown>;
  train: RunOptions['data'];
  shape: [number, number, number];
  classes: number;
  /** Loss for Fisher and training; undefined: the pruner's cross-entropy. */
  loss?: PrunerOptions['loss'];
  /** Optimizer and learning rate used when the command line names none. */
  optimizer: OptimizerOptions;
  lr: number;
  /** Names of the quality figures, e.g. ['accuracy'] or ['ap', 'ap50']. */
  metrics: string[];
  /** Quality figures of a model on the test split, keyed by `metrics`. */
  quality(model: tf.LayersModel): Promise<Record<string, number>>;
  /** Throws unless the model suits the data (output rank; a classifier's input and classes). */
  check(model: tf.LayersModel): void;
  /** Fine-tuning of the masked model; undefined: run()'s own (classification batches). */
  finetune?(p: Pruner, s: FinetuneSettings): Promise<void>;
}

/**
 * The loss a pruner (Fisher, training) uses for a detector: the detection loss against each batch's own boxes.
 * @example const p = pruner(model, {inputShape: [64, 64, 1], loss: detectorLoss(fpnLevels([64, 64, 1]), 10)});
 */
export function detectorLoss(levels: FpnLevel[], classes: number): NonNullable<PrunerOptions['loss']> {
  return (outputs: tf.Tensor, batch: ScoreBatch) => {
    const b = batch as ScoreBatch & DetectionBatch;
    return detectionLoss(outputs as tf.Tensor3D, assignTargets(b.boxes, b.labels, levels, classes));
  };
}

/** Throws unless the model's output suits the task: [B, classes] logits or [B, locations, classes + 5] detections; `label` names the data. */
function checkOutput(model: tf.LayersModel, kind: TaskKind, label: string): void {
  const rank = model.outputs[0].shape.length;
  const expected: Record<TaskKind, number> = {classification: 2, detection: 3};
  if (rank !== expected[kind]) {
    throw new Error(`model "${model.name}" outputs [${model.outputs[0].shape}], but ${label} is a ${kind} set; ` +
      `use a ${kind === 'detection' ? 'detector (fpn-detector) with it' : 'classifier with it, or a detection set (fashion-scenes, *.json) for a detector'}`);
  }
}

/** What a task is built from: the data flags, the model input an image folder defaults to, the --output override. */
interface TaskSource { data: DataOptions; fit?: InputShape; output?: OutputKind }

const tasks: Record<TaskKind, (source: TaskSource) => Promise<PruneTask>> = {
  classification: async ({data: o, fit, output}) => {
    const data = await loadDataset(o, fit);
    const {train, test} = data;
    return {
      kind: 'classification', dataset: data.name, preprocessing: data.preprocessing, train, shape: train.shape, classes: train.classes,
      optimizer: {name: 'sgd', momentum: 0.9, weightDecay: 5e-4}, lr: 0.01,
      metrics: ['accuracy'],
      quality: async (m) => ({accuracy: (await evaluate(m, test, 256, undefined, output)).accuracy}),
      check: (m) => { checkOutput(m, 'classification', data.label); checkModelData(m, data); },
    };
  },
  detection: async ({data: o}) => {
    const dataset = datasetName(o);
    const extra = Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'dataset' && k !== 'limit').map(([k]) => k);
    if (extra.length) throw new Error(`dataset "${dataset}" is a detection set: ${extra.join(', ')} apply to classification sets only`);
    const {train, test, epochs} = await loadDetectionDataset(dataset, o.limit);
    const levels = fpnLevels(train.shape);
    return {
      kind: 'detection', dataset, train, shape: train.shape, classes: train.classes,
      loss: detectorLoss(levels, train.classes),
      // 1e-3: +0.8 AP50 over 2e-4 after 1024 fine-tuning steps of a pruned detector (the bench uses it)
      optimizer: {name: 'adam', weightDecay: 1e-4}, lr: 1e-3,
      metrics: ['ap', 'ap50'],
      quality: async (m) => {
        const {ap, ap50} = await evaluateDetector((x) => m.predict(x) as tf.Tensor3D, test, levels);
        return {ap, ap50};
      },
      finetune: async (p, s) => {
        const steps = Math.max(1, Math.round(s.epochs * Math.floor(train.size / s.batchSize)));
        const weights = p.model.trainableWeights.map((w) => w.read() as tf.Variable);
        await trainDetector(p.forward<tf.Tensor3D>(), weights, epochs ?? train, levels,
          {steps, batchSize: s.batchSize, lr: s.lr, optimizer: s.optimizer, warmupSteps: 0, seed: s.seed, progress: s.progress});
      },
      check: (m) => checkOutput(m, 'detection', `dataset "${dataset}"`),
    };
  },
};

/**
 * The task of the data flags: detection for detection sets, classification otherwise. `fit` ([h, w, c], a model's
 * input) is the size an image folder is read at unless --image-size / --channels say otherwise.
 * @example const task = await pruneTask({dataset: 'fashion-scenes', limit: 256}); await task.quality(model); // {ap, ap50}
 */
export async function pruneTask(data: DataOptions, fit?: InputShape, output?: OutputKind): Promise<PruneTask> {
  return tasks[datasetTask(datasetName(data))]({data, fit, output});
}
