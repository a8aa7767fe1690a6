/**
 * Pruner: a thin convenience over the plain-data core (prune_state, fisher, ranking, prune_schedule). It holds one
 * model's PruneSetup and its current PruneState, and wraps each step; snapshot() / restore() give the state as a value.
 */
import * as tf from '@tensorflow/tfjs';
import {group, Grouping, Space} from '../graph';
import {BatchSource, evaluate, fit, FitResult, logitsHook, Optimizer, OptimizerOptions, OutputKind, outputRule, OutputRule, Progress,
  progress as makeProgress} from '../train';
import {checkWeights} from '../train/loop';
import {checkNumber, checkOptions} from '../train/validate';
import {Criterion} from './criteria';
import {LatencyModel, Normalizer} from './costs';
import {maskedModel, scoreBatch, ScoreBatch, ScoreStepOptions} from './fisher';
import {profileLatency, ProfileOptions} from './latency';
import {KeptView} from './masks';
import {checkState, checkTarget, initialState, minFlopsRatio, prune, PrunedUnit, PrunerState, PruneSetup, pruneSetup, PruneState, summary} from './prune_state';
import {disposeBatch, RunCheckpoint, RunRow, runSchedule} from './prune_schedule';
import {normalize, Ranked} from './ranking';
import {exportPruned} from './surgery';

/** Options of pruner(); `O` and `B` are the model output and batch types a custom loss reads. */
export interface PrunerOptions<O extends tf.Tensor = tf.Tensor, B extends ScoreBatch = ScoreBatch> {
  /** Checked against the model's input shape [h, w, c]. */
  inputShape?: number[];
  /** false: the "-I" ablation, only spaces with one producer and nothing coupled are pruned. */
  grouping?: boolean;
  /**
   * Batch-mean loss of the model output for a batch (e.g. a detector's); it wins over `output`. Default: the
   * output rule's classification loss against batch.ys.
   */
  loss?: (outputs: O, batch: B) => tf.Scalar;
  /**
   * What the model outputs. Default: the loss follows the output activation (softmax: cross-entropy of its
   * probabilities, from the values before it; sigmoid: binary cross-entropy; linear: logits). 'logits': softmax
   * cross-entropy of the outputs as they are; 'probabilities': they are softmax probabilities.
   */
  output?: OutputKind;
  /** A latency model from an earlier profileLatency() (e.g. a resumed run), for the 'latency' normalizer. */
  latency?: LatencyModel;
  /** Keep every pruned space's channel count (of its first member) a multiple of this, or its full width. Default 1. */
  roundTo?: number;
}

export type {ScoreBatch} from './fisher';
export type {RunCheckpoint, RunRow} from './prune_schedule';
export type {PrunedUnit, PrunerState} from './prune_state';
export type {Ranked, RankedUnit} from './ranking';

/** Fisher accumulated by score(): one number per unit of every space. */
export interface ScoreReport { steps: number; loss: number; spaces: {id: number; producers: string[]; consumers: string[]; fisher: number[]}[] }

/** Options of run(): the whole schedule of docs/method.md §5. */
export interface RunOptions<B extends ScoreBatch = ScoreBatch> extends TrainSettings {
  /** Training data; fine-tuning (finetuneEpochs) needs classification batches. */
  data: {size: number; batches(batchSize: number, opts?: {shuffle?: boolean; seed?: number}): Iterable<B>};
  /** Stop when remaining MACs / baseline MACs <= targetFlops (e.g. 0.5). */
  targetFlops: number;
  /** Training steps between two prunings (paper: 25 for classification). Default 25. */
  interval?: number;
  /** Units removed at each pruning (paper: 1). Default 1. */
  unitsPerPrune?: number;
  /** Default 'memory'. */
  normalize?: Normalizer;
  /** How units are scored before the normalizer divides (see normalize()). Default 'fisher'. */
  criterion?: Criterion;
  /** Epochs of fine-tuning after the target is reached. Default 0. */
  finetuneEpochs?: number;
  /** Overrides pruner()'s roundTo from this run on. */
  roundTo?: number;
  /** Called after each pruning with its row. */
  onPrune?: (row: RunRow) => void;
  /** Called after every `checkpointEvery` prunings (Fisher is empty then) with what resume needs. */
  onCheckpoint?: (c: RunCheckpoint) => Promise<void>;
  /** Prunings between checkpoints. Default 10. */
  checkpointEvery?: number;
  /** Continue from a checkpoint (weights and optimizer state already restored by the caller). */
  resume?: RunCheckpoint;
}

/** What run() did. */
export interface RunReport { steps: number; rows: RunRow[]; baseline: {macs: number; memory: number}; final: PrunerState }

/** Optimiser settings of the training done while scoring or fine-tuning. */
export interface TrainSettings { optimizer?: Optimizer | OptimizerOptions; lr?: number; batchSize?: number; seed?: number; progress?: Progress }


/** A positive integer option (its default when undefined), or a clear error naming it. */
const positiveInteger = (name: string, v: number | undefined, fallback: number): number => checkNumber(name, v ?? fallback, 'count');

/** Check the optimiser settings of `where` (lr may be 0: a step that changes nothing). */
const checkTrainSettings = (where: string | ((key: string) => string), o: TrainSettings): void => checkOptions(where, o, {lr: 'nonNegative', batchSize: 'count', seed: 'finite'});

/** A deep copy of a state (plain data). */
const copyState = (s: PruneState): PruneState => JSON.parse(JSON.stringify(s));

/**
 * Group Fisher Pruning of one functional model, driven step by step (group, score, normalize, prune, finetune).
 * Each step is one of the core's functions on the pruner's state; normalize() and prune() rank by what they are
 * given ('memory' and 'fisher' when not), nothing is remembered between them.
 * @example const p = pruner(model); p.group(); await p.score(train.batches(64), {steps: 25}); p.prune({units: 1, normalize: 'memory'});
 */
export class Pruner<O extends tf.Tensor = tf.Tensor, B extends ScoreBatch = ScoreBatch> {
  readonly grouping: Grouping;
  /** The loss's output rule (from the output activation, or options.output), used unless options.loss is given. */
  readonly outputRule: OutputRule;
  private setup: PruneSetup;
  private current: PruneState;
  private disposed = false;

  constructor(readonly model: tf.LayersModel, readonly options: PrunerOptions<O, B> = {}) {
    const shape = model.inputs[0]?.shape.slice(1);
    if (options.inputShape && (shape?.length !== options.inputShape.length || shape.some((d, i) => d !== null && d !== options.inputShape![i]))) {
      throw new Error(`inputShape [${options.inputShape}] does not match model "${model.name}" input [${shape}]`);
    }
    this.outputRule = outputRule(model, options.output);
    this.grouping = group(model);
    this.setup = pruneSetup(this.grouping, {grouping: options.grouping, roundTo: options.roundTo, latency: options.latency});
    this.current = initialState(this.setup);
  }

  /** The current state (not a copy: the core's functions do not change it), once usable. */
  private live(): PruneState {
    this.usable();
    return this.current;
  }

  /** Throws once dispose() was called. */
  private usable(): void {
    if (this.disposed) throw new Error(`this pruner of model "${this.model.name}" was disposed: make a new one with pruner(model)`);
  }

  /**
   * Which units of each space are kept (kept[space][unit]): a frozen copy; change it with restore().
   * @example p.kept[3].filter(Boolean).length; p.restore(core.setKept(p.snapshot(), [{space: 3, unit: 5}], false));
   */
  get kept(): KeptView {
    return Object.freeze(this.current.kept.map((k) => Object.freeze([...k])));
  }

  /**
   * The pruner's state as plain data (kept units, Fisher and Taylor sums since the last prune, ...): a copy that
   * JSON round-trips, for the core's functions or restore().
   * @example const s = p.snapshot(); s.kept[3][5] = false; p.restore(s);
   */
  snapshot(): PruneState {
    return copyState(this.live());
  }

  /**
   * Continue from a state (snapshot() of this pruner or a pruner of the same model, or a core function's result);
   * throws when it does not fit this model's spaces.
   * @example p.restore(JSON.parse(saved));
   */
  restore(state: PruneState): void {
    this.usable();
    checkState(this.setup, state);
    this.current = copyState(state);
  }

  /**
   * The channel spaces (docs/method.md §3) as plain data.
   * @example p.group().filter((s) => s.prunable).map((s) => s.producers);
   */
  group(): Space[] {
    this.usable();
    const eligible = this.setup.eligible;
    return this.grouping.spaces.map((s, i) => ({...s, members: s.members.map((m) => ({...m})), producers: [...s.producers], consumers: [...s.consumers],
      prunable: eligible[i], reason: s.reason ?? (eligible[i] ? undefined : 'coupled: not pruned without grouping')}));
  }

  /** The Fisher step's loss and weights for this pruner's options. */
  private stepOptions(weights: tf.Variable[], update?: (grads: tf.NamedTensorMap) => void): Omit<ScoreStepOptions<O, B>, 'where'> {
    return {outputRule: this.outputRule, loss: this.options.loss, weights, update};
  }

  /**
   * Accumulate Fisher over `steps` batches (all of them by default); with `train`, weights are updated too.
   * Without it, weights and BatchNorm moving statistics are left as they were.
   * @example await p.score(train.batches(64), {steps: 25});
   */
  async score<BB extends B>(batches: Iterable<BB>, opts: {steps?: number; train?: TrainSettings} = {}): Promise<ScoreReport> {
    this.usable();
    if (opts.steps !== undefined) positiveInteger('score({steps})', opts.steps, 1);
    if (opts.train) checkTrainSettings((k) => `score({train: {${k}}})`, opts.train);
    await checkWeights(this.model, 'score', 'before');
    const weights = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const frozen = opts.train ? [] : this.model.nonTrainableWeights.map((w) => [w.read() as tf.Variable, tf.clone(w.read())] as const);
    const optimizer = opts.train?.optimizer instanceof Optimizer ? opts.train.optimizer : opts.train ? new Optimizer(opts.train.optimizer ?? {name: 'sgd', momentum: 0.9}) : null;
    const step = this.stepOptions(optimizer ? weights : [], (grads) => optimizer!.apply(weights, weights.map((w) => grads[w.name]), opts.train?.lr ?? 0.01));
    let steps = 0;
    try {
      for (const batch of batches) {
        try {
          this.current = await scoreBatch(this.setup, this.current, batch, {...step, where: 'score'});
        } finally {
          disposeBatch(batch);
        }
        steps++;
        if (opts.steps !== undefined && steps >= opts.steps) break;
        await tf.nextFrame();
      }
    } finally {
      for (const [v, saved] of frozen) { v.assign(saved); saved.dispose(); }
      if (optimizer && !(opts.train?.optimizer instanceof Optimizer)) optimizer.dispose();
    }
    if (opts.train) await checkWeights(this.model, 'score({train})', 'after');
    const {fisher, loss} = this.current;
    return {steps, loss: loss ?? NaN, spaces: this.grouping.spaces.map((s, i) => ({id: s.id, producers: s.producers, consumers: s.consumers, fisher: [...fisher[i]]}))};
  }

  /**
   * Time every layer of the model at a few widths on the active backend; the 'latency' normalizer then
   * ranks units by Fisher / predicted time freed.
   * @example const lat = await p.profileLatency({batchSize: 64}); p.normalize('latency');
   */
  async profileLatency(opts: Omit<ProfileOptions, 'eligible'> = {}): Promise<LatencyModel> {
    this.usable();
    const latency = await profileLatency(this.grouping, {...opts, eligible: this.setup.eligible});
    this.setup = {...this.setup, latency};
    return latency;
  }

  /**
   * Rank kept units by criterion / cost freed (docs/method.md §4), lowest first; see the core's normalize(). Criterion
   * (default 'fisher'): 'fisher' and 'taylor' need score() since the last prune; 'l1', 'l2', 'bn' read the weights;
   * 'random'. Nothing is remembered: prune() ranks by its own options.
   * @example const ranked = p.normalize('memory'); ranked.units[0]; p.normalize('flops', {criterion: 'l1'});
   */
  normalize(by: Normalizer = 'memory', opts: {criterion?: Criterion} = {}): Ranked {
    return normalize(this.setup, this.live(), {normalizer: by, criterion: opts.criterion ?? 'fisher'});
  }

  /**
   * Zero the masks of the `units` (default 1) lowest-ranked units by `normalize` (default 'memory') and `criterion`
   * (default 'fisher'), one at a time, as normalize() would rank them after the removals before (see the core's
   * prune(), roundTo included). Then Fisher is reset: the next prune() needs a new score().
   * @example p.prune({units: 1, normalize: 'flops'});
   */
  prune(opts: {units?: number; normalize?: Normalizer; criterion?: Criterion} = {}): PrunedUnit[] {
    const units = positiveInteger('prune({units})', opts.units, 1);
    const r = prune(this.setup, this.live(), {units, normalizer: opts.normalize ?? 'memory', criterion: opts.criterion ?? 'fisher'});
    this.current = r.state;
    return r.removed;
  }

  /**
   * The smallest FLOPs ratio pruning can reach: every eligible space at one unit.
   * @example p.minFlopsRatio(); // e.g. 0.04 for resnet20, 0.96 for resnext without grouping
   */
  minFlopsRatio(): number {
    return minFlopsRatio(this.setup, this.live().kept);
  }

  /**
   * Throw a clear error when a FLOPs ratio cannot be reached by pruning every eligible space to one unit.
   * @example p.checkTarget(0.5);
   */
  checkTarget(targetFlops: number): void {
    checkTarget(this.setup, this.current.kept, targetFlops);
  }

  /**
   * The whole loop (docs/method.md §5, the core's runSchedule()): train with masks, prune every `interval` steps, stop at
   * the target, fine-tune.
   * @example await p.run({data: train, targetFlops: 0.5, interval: 25, normalize: 'memory'});
   */
  async run(o: RunOptions<B>): Promise<RunReport> {
    this.usable();
    const interval = positiveInteger('run({interval})', o.interval, 25);
    const unitsPerPrune = positiveInteger('run({unitsPerPrune})', o.unitsPerPrune, 1);
    const checkpointEvery = positiveInteger('run({checkpointEvery})', o.checkpointEvery, 10);
    checkOptions('run', o, {finetuneEpochs: 'countOrZero', roundTo: 'count'});
    if (o.roundTo) this.setup = {...this.setup, roundTo: o.roundTo};
    checkTrainSettings('run', o);
    this.checkTarget(o.targetFlops);
    await checkWeights(this.model, 'run', 'before');
    if (o.normalize === 'latency' && !this.setup.latency) await this.profileLatency({batchSize: o.batchSize});
    const batchSize = o.batchSize ?? 64;
    const weights = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = o.optimizer instanceof Optimizer ? o.optimizer : new Optimizer(o.optimizer ?? {name: 'sgd', momentum: 0.9, weightDecay: 5e-4});
    const update = (grads: tf.NamedTensorMap): void => optimizer.apply(weights, weights.map((w) => grads[w.name]), o.lr ?? 0.01);
    try {
      const r = await runSchedule(this.setup, this.current, {data: o.data, targetFlops: o.targetFlops, interval, unitsPerPrune, normalizer: o.normalize ?? 'memory',
        criterion: o.criterion ?? 'fisher', batchSize, seed: o.seed ?? 0, step: this.stepOptions(weights, update), checkpointEvery, onPrune: o.onPrune,
        onCheckpoint: o.onCheckpoint, resume: o.resume, progress: o.progress, onState: (s) => { this.current = s; }});
      await checkWeights(this.model, 'run, pruning phase', 'after');
      // finetune trains on classification batches (RunOptions.data says so)
      if (o.finetuneEpochs) await this.finetune(o.data as unknown as BatchSource, {...o, optimizer, epochs: o.finetuneEpochs});
      return {steps: r.steps, rows: r.rows, baseline: this.setup.baseline, final: this.state()};
    } finally {
      if (!(o.optimizer instanceof Optimizer)) optimizer.dispose();
    }
  }

  /**
   * The masked model's forward (its outputs), for training and evaluation; masks are built per call. With
   * `{logits: true}` it returns what the output rule's loss reads (the values before an output softmax / sigmoid).
   * `T` is the output's type: tf.Tensor2D for a classifier (the default), e.g. tf.Tensor3D for a detector.
   * @example const probs = p.forward()(xs, false); const boxes = p.forward<tf.Tensor3D>()(xs, true);
   */
  forward<T extends tf.Tensor = tf.Tensor2D>(opts: {logits?: boolean} = {}): (xs: tf.Tensor4D, training: boolean) => T {
    this.usable();
    return maskedModel<T>(this.grouping, this.current.kept, opts.logits ? logitsHook(this.outputRule) : undefined);
  }

  /**
   * Train the masked model (pruned channels stay zero at every consumer) with the output rule's loss.
   * @example await p.finetune(train, {steps: 25, lr: 0.01});
   */
  async finetune(data: BatchSource, opts: TrainSettings & {steps?: number; epochs?: number} = {}): Promise<FitResult> {
    this.usable();
    checkOptions('finetune', opts, {epochs: 'countOrZero'});
    return fit(this.model, data, {forward: this.forward({logits: true}), output: this.outputRule, epochs: opts.epochs ?? (opts.steps ? Infinity : 1), steps: opts.steps,
      batchSize: opts.batchSize, optimizer: opts.optimizer, lr: opts.lr, seed: opts.seed, progress: opts.progress}, 'finetune');
  }

  /**
   * Accuracy and loss (the output rule's) of the masked model.
   * @example (await p.evaluate(test)).accuracy;
   */
  evaluate(data: BatchSource, batchSize = 256): Promise<{loss: number; accuracy: number}> {
    this.usable();
    return evaluate(this.forward({logits: true}), data, batchSize, makeProgress('silent'), this.outputRule);
  }

  /**
   * Costs summary: kept units and channels per space, MACs and memory against the baseline.
   * @example p.state().macsRatio;
   */
  state(): PrunerState {
    return summary(this.setup, this.live());
  }

  /**
   * The physically smaller tf.LayersModel (docs/method.md §6); the pruner's model is unchanged.
   * @example const small = p.export(); await small.save(...);
   */
  export(): tf.LayersModel {
    return exportPruned(this.grouping, this.live().kept);
  }

  /**
   * Release the accumulated Fisher; the pruner cannot be used afterwards (the model is left as it is).
   * @example p.dispose();
   */
  dispose(): void {
    this.current = initialState(this.setup);
    this.disposed = true;
  }
}

/**
 * Start pruning a functional tf.LayersModel.
 * A custom loss types the outputs and batches it reads, e.g. a detector's:
 * `pruner(model, {loss: (outputs: tf.Tensor3D, batch: DetectionBatch) => detectionLoss(outputs, targetsOf(batch))})`.
 * @example const p = pruner(model, {inputShape: [28, 28, 1]});
 */
export function pruner<O extends tf.Tensor = tf.Tensor, B extends ScoreBatch = ScoreBatch>(model: tf.LayersModel, options: PrunerOptions<O, B> = {}): Pruner<O, B> {
  return new Pruner<O, B>(model, options);
}
