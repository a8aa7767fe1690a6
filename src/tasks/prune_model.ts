/** The whole pruning job behind `gfp prune`: data, model, run to the FLOPs target, fine-tuning, export, report, checkpoints, resume. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import {DataOptions, dataOptionsOf} from '../data';
import {compareLatency, countCosts, LatencyMeasurement} from '../measure';
import {Criterion, LatencyModel, Normalizer, pruner, RunCheckpoint, RunRow} from '../prune';
import {hasCheckpoint, loadCheckpoint, Optimizer, OutputKind, progress, Progress, ProgressKind, saveCheckpoint, saveModel} from '../train';
import {writeFilesAtomic} from '../train/checkpoint';
import {claimOut} from '../train/out_dir';
import {inputOf, isZooName, resolveModel} from './model_data';
import {pruneTask} from './prune_task';

/** Options of {@link pruneModel} (the flags of `gfp prune`); the data options name and read the dataset. */
export interface PruneModelOptions extends DataOptions {
  /** A zoo name (resnet20, fpn-detector, ...) or a model directory / model.json. */
  model: string;
  /** Folder for model.json + weights.bin (the pruned model), report.json and, while running, checkpoint/. */
  out: string;
  /** Continue an interrupted run from out/checkpoint (same options required). */
  resume?: boolean;
  /** Write into an `out` that holds an earlier run (its checkpoint is removed first). */
  overwrite?: boolean;
  /** Input shape of a zoo model for an image folder (default: the images'). */
  inputShape?: [number, number, number];
  /** What the model outputs (default: read from its output activation). */
  output?: OutputKind;
  /** Remaining FLOPs / baseline FLOPs. Default 0.5. */
  targetFlops?: number;
  /** Default 'memory'. */
  normalize?: Normalizer;
  /** Default 'fisher'. */
  criterion?: Criterion;
  /** Batch size the 'latency' normalizer profiles the layers at. Default 64. */
  latencyBatch?: number;
  /** false: the "-I" ablation, prune only uncoupled spaces. Default true. */
  grouping?: boolean;
  /** Training steps between prunings. Default 25. */
  interval?: number;
  /** Units removed at each pruning. Default 1. */
  unitsPerPrune?: number;
  /** Keep every pruned layer's channel count a multiple of k (or its full width). Default 1. */
  roundTo?: number;
  /** Fine-tuning epochs after the target is reached. Default 0. */
  finetuneEpochs?: number;
  /** Default 64. */
  batchSize?: number;
  /** Learning rate while pruning and fine-tuning. Default: the task's (0.01 with SGD; detection 1e-3 with Adam). */
  lr?: number;
  /** Timed runs per latency measurement. Default 10. */
  runs?: number;
  /** Seed of the data order. Default 0. */
  seed?: number;
  /** Default 'auto' (a bar on a terminal, lines otherwise). */
  progress?: Progress | ProgressKind;
}

/** Quality figures (accuracy, or ap and ap50), macs, params, memory, memoryAll; latency at batch 1 and batchSize. */
export type PruneFigures = Record<string, number> & {latency: LatencyMeasurement[]};

/** out/report.json of a pruning run: its options, baseline and pruned figures, speed-up, one row per pruning step. */
export interface PruneReport {
  model: string;
  dataset: string;
  limit: number | null;
  targetFlops: number;
  normalize: Normalizer;
  backend: string;
  finetuneEpochs: number;
  steps: number;
  baseline: PruneFigures;
  pruned: PruneFigures;
  /** Baseline median / pruned median, keyed b1, b<batchSize>. */
  speedup: Record<string, number>;
  rows: Pick<RunRow, 'step' | 'loss' | 'space' | 'unit' | 'producers' | 'score' | 'macs' | 'memory' | 'macsRatio'>[];
  date: string;
  /** The other options, and `<metric>Drop` (baseline - pruned) for each quality figure. */
  [key: string]: unknown;
}

/** What a resumed run needs besides the weights and the optimizer. */
interface PruneCheckpoint { config: Record<string, unknown>; baseline: Record<string, number>; run: RunCheckpoint; latency?: LatencyModel }

/**
 * Prune a model to a FLOPs target with Group Fisher Pruning, fine-tune, and write the pruned model and report.json
 * to `out`, checkpointing as it goes (`resume` continues an interrupted run).
 * @example const r = await pruneModel({model: 'datasets/pretrained/resnet20', dataset: 'fashion-mnist', targetFlops: 0.5, out: 'runs/p'});
 */
export async function pruneModel(o: PruneModelOptions): Promise<PruneReport> {
  const ckptDir = path.join(o.out, 'checkpoint');
  const release = await claimOut(o.out, {resume: o.resume, overwrite: o.overwrite, models: [o.model], checkpoint: ckptDir});
  const owned: tf.LayersModel[] = [];
  let optimizer: Optimizer | undefined;
  try {
    const {targetFlops = 0.5, normalize = 'memory', criterion = 'fisher', latencyBatch = 64, grouping = true, interval = 25, unitsPerPrune = 1,
      roundTo = 1, finetuneEpochs = 0, batchSize = 64, runs = 10, seed = 0} = o;
    const resumed = o.resume && (await hasCheckpoint(ckptDir)) ? await loadCheckpoint<PruneCheckpoint>(ckptDir) : undefined;
    if (resumed) owned.push(resumed.model);
    // a model from disk (or the checkpoint) is read first: its input sizes an image folder
    const given = resumed?.model ?? (isZooName(o.model) ? undefined : await resolveModel(o.model, undefined, 0));
    if (given && !resumed) owned.push(given);
    const task = await pruneTask(dataOptionsOf(o), given ? inputOf(given) : o.inputShape, o.output);
    const lr = o.lr ?? task.lr;
    const config = {model: o.model, dataset: task.dataset, limit: o.limit ?? null, ...(task.preprocessing ? {data: task.preprocessing} : {}),
      ...(o.output ? {output: o.output} : {}), targetFlops, normalize, ...(criterion === 'fisher' ? {} : {criterion}), ...(roundTo === 1 ? {} : {roundTo}), grouping,
      interval, unitsPerPrune, batchSize, lr, seed, ...(normalize === 'latency' ? {latencyBatch} : {})};
    const describe = async (m: tf.LayersModel): Promise<Record<string, number>> => {
      const {macs, params, memory, memoryAll} = countCosts(m);
      return {...(await task.quality(m)), macs, params, memory, memoryAll};
    };
    optimizer = new Optimizer(task.optimizer);
    if (resumed) {
      // values compared as JSON: data (the preprocessing) is an object
      const differ = Object.entries(config).filter(([k, v]) => JSON.stringify((resumed.state.config as Record<string, unknown>)[k]) !== JSON.stringify(v)).map(([k]) => k);
      try {
        if (differ.length) throw new Error(`cannot resume from ${ckptDir}: ${differ.join(', ')} differ from the interrupted run; use its options or another --out`);
        optimizer.setState(resumed.optimizer, resumed.model.trainableWeights.map((w) => w.read() as tf.Variable));
      } finally {
        tf.dispose(Object.values(resumed.optimizer.tensors));
      }
    }
    const model = given ?? (await resolveModel(o.model, task.shape, task.classes));
    if (!given) owned.push(model);
    task.check(model);
    const p = pruner(model, {inputShape: task.shape, grouping, latency: resumed?.state.latency, loss: task.loss, output: o.output, roundTo});
    p.checkTarget(targetFlops);
    // profiled once and kept with the checkpoints, so a resumed run ranks by the same timings
    const latencyModel = normalize === 'latency' ? resumed?.state.latency ?? (await p.profileLatency({batchSize: latencyBatch})) : undefined;
    const baseline = resumed?.state.baseline ?? (await describe(model));
    const show = typeof o.progress === 'object' ? o.progress : progress(o.progress ?? 'auto');
    const opt = optimizer;
    const run = await p.run({data: task.train, targetFlops, interval, unitsPerPrune, normalize, criterion,
      finetuneEpochs: task.finetune ? 0 : finetuneEpochs, batchSize, lr, seed, progress: show, optimizer, resume: resumed?.state.run,
      onCheckpoint: (c) => saveCheckpoint<PruneCheckpoint>(ckptDir, model, opt, {config, baseline, run: c, latency: latencyModel})});
    if (task.finetune && finetuneEpochs) await task.finetune(p, {epochs: finetuneEpochs, batchSize, lr, seed, optimizer, progress: show});
    const small = p.export();
    owned.push(small);
    const pruned = await describe(small);
    // both architectures timed in turn, run by run (the weights do not change the time)
    const latency = [];
    for (const b of [1, batchSize]) latency.push(await compareLatency([model, small], b, {runs, warmup: 2}));
    const speedup = Object.fromEntries(latency.map(([base, mine]) => [`b${base.batchSize}`, base.medianMs / mine.medianMs]));
    const report: PruneReport = {...config, backend: tf.getBackend(), finetuneEpochs, steps: run.steps,
      baseline: {...baseline, latency: latency.map(([base]) => base)} as PruneFigures, pruned: {...pruned, latency: latency.map(([, mine]) => mine)} as PruneFigures, speedup,
      ...Object.fromEntries(task.metrics.map((k) => [`${k}Drop`, baseline[k] - pruned[k]])), ...(latencyModel ? {latencyModel} : {}),
      rows: run.rows.map(({step, loss, space, unit, producers, score, macs, memory, macsRatio}) => ({step, loss, space, unit, producers, score, macs, memory, macsRatio})),
      date: new Date().toISOString()};
    await saveModel(small, o.out);
    await writeFilesAtomic(o.out, [['report.json', JSON.stringify(report, null, 2)]]);
    fs.rmSync(ckptDir, {recursive: true, force: true});
    return report;
  } finally {
    optimizer?.dispose();
    for (const m of owned) m.dispose();
    release();
  }
}
