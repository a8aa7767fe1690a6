import * as tf from '@tensorflow/tfjs';
import {group, Grouping, Space} from '../graph';
import {BatchSource, evaluate, fit, FitResult, logitsHook, Optimizer, OptimizerOptions, OutputKind, outputLoss, outputRule, OutputRule, Progress,
  progress as makeProgress} from '../train';
import {checkBatch, checkWeights, lossBlame} from '../train/loop';
import {checkNumber, checkOptions} from '../train/validate';
import {mulberry32} from '../data/prng';
import {Criterion, criteria, criterionNames, scored} from './criteria';
import {assertCosted, costsAt, costsOf, deltaCosts, LatencyModel, Normalizer, normalizers} from './costs';
import {fisherStep, maskedForward, maskTensors} from './fisher';
import {profileLatency, ProfileOptions} from './latency';
import {allKept, Kept, keptChannels} from './masks';
import {nextCount, Ranking, RankedUnit} from './ranking';
import {exportPruned} from './surgery';

export type {RankedUnit} from './ranking';

/** Options of pruner(). */
export interface PrunerOptions {
  /** Checked against the model's input shape [h, w, c]. */
  inputShape?: number[];
  /** false: the "-I" ablation, only spaces with one producer and nothing coupled are pruned. */
  grouping?: boolean;
  /**
   * Batch-mean loss of the model output for a batch (e.g. a detector's); it wins over `output`. Default: the
   * output rule's classification loss against batch.ys.
   */
  loss?: (outputs: tf.Tensor, batch: ScoreBatch) => tf.Scalar;
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

/** What score() and run() read: inputs plus whatever the loss needs (ys for the default loss). */
export interface ScoreBatch { xs: tf.Tensor4D; ys?: tf.Tensor2D }

/** Dispose every tensor a batch holds. */
const disposeBatch = (b: object): void => tf.dispose(Object.values(b).filter((v): v is tf.Tensor => v instanceof tf.Tensor));

/** A positive integer option (its default when undefined), or a clear error naming it. */
const positiveInteger = (name: string, v: number | undefined, fallback: number): number => checkNumber(name, v ?? fallback, 'count');

/** Check the optimiser settings of `where` (lr may be 0: a step that changes nothing). */
const checkTrainSettings = (where: string | ((key: string) => string), o: TrainSettings): void => checkOptions(where, o, {lr: 'nonNegative', batchSize: 'count', seed: 'finite'});

/** Fisher accumulated by score(): one number per unit of every space. */
export interface ScoreReport { steps: number; loss: number; spaces: {id: number; producers: string[]; consumers: string[]; fisher: number[]}[] }

/** normalize()'s result: the prunable kept units, lowest score first (`fisher` of a unit holds the criterion's value). */
export interface Ranked { normalizer: Normalizer; criterion?: Criterion; units: RankedUnit[] }

/** What prune() removed. */
export interface PrunedUnit extends RankedUnit { producers: string[]; macs: number; memory: number; macsRatio: number }

/** Plain-data state: per space the kept unit indices and channel counts. */
export interface PrunerState {
  macs: number; memory: number; macsRatio: number; memoryRatio: number;
  spaces: {id: number; units: number; kept: number[]; channels: number; keptChannels: number; prunable: boolean}[];
}

/** Options of run(): the whole schedule of METHOD.md §5. */
export interface RunOptions extends TrainSettings {
  /** Training data; fine-tuning (finetuneEpochs) needs classification batches. */
  data: {size: number; batches(batchSize: number, opts?: {shuffle?: boolean; seed?: number}): Iterable<ScoreBatch>};
  /** Stop when remaining MACs / baseline MACs <= targetFlops (e.g. 0.5). */
  targetFlops: number;
  /** Training steps between two prunings (paper: 25 for classification). Default 25. */
  interval?: number;
  /** Units removed at each pruning (paper: 1). Default 1. */
  unitsPerPrune?: number;
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

/** Where run() stood right after a pruning: enough to continue with the same result. */
export interface RunCheckpoint { steps: number; epoch: number; batchInEpoch: number; kept: Kept; rows: RunRow[] }

/** One pruning of run(): the step it happened at, the training loss then, and what was removed. */
export interface RunRow extends PrunedUnit { step: number; loss: number }

/** What run() did. */
export interface RunReport { steps: number; rows: RunRow[]; baseline: {macs: number; memory: number}; final: PrunerState }

/** Optimiser settings of the training done while scoring or fine-tuning. */
export interface TrainSettings { optimizer?: Optimizer | OptimizerOptions; lr?: number; batchSize?: number; seed?: number; progress?: Progress }

/**
 * Group Fisher Pruning of one functional model, driven step by step (group, score, normalize, prune, finetune).
 * @example const p = pruner(model); p.group(); await p.score(train.batches(64), {steps: 25}); p.prune({units: 1});
 */
export class Pruner {
  readonly grouping: Grouping;
  /** The loss's output rule (from the output activation, or options.output), used unless options.loss is given. */
  readonly outputRule: OutputRule;
  kept: Kept;
  /** Fisher accumulated since the last prune, per space and unit (read back every step: webgpu in Node cannot read synchronously). */
  private fisher: Float64Array[] | null = null;
  /** First-order Taylor sums, accumulated beside Fisher. */
  private taylor: Float64Array[] | null = null;
  private fisherSteps = 0;
  private criterion: Criterion = 'fisher';
  /** The 'random' criterion's source (seed 0) and its scores since the last prune (normalize and prune agree). */
  private readonly random = mulberry32(0);
  private randomScores: number[][] | null = null;
  private lastLoss = NaN;
  private normalizer: Normalizer = 'memory';
  private readonly baseline: {macs: number; memory: number};
  private latency?: LatencyModel;
  private pruned = false;
  private disposed = false;
  private roundTo: number;

  constructor(readonly model: tf.LayersModel, readonly options: PrunerOptions = {}) {
    const shape = model.inputs[0]?.shape.slice(1);
    if (options.inputShape && (shape?.length !== options.inputShape.length || shape.some((d, i) => d !== null && d !== options.inputShape![i]))) {
      throw new Error(`inputShape [${options.inputShape}] does not match model "${model.name}" input [${shape}]`);
    }
    this.roundTo = checkNumber('pruner({roundTo})', options.roundTo ?? 1, 'count');
    this.outputRule = outputRule(model, options.output);
    this.grouping = group(model);
    if (!this.grouping.spaces.some((s) => this.eligible(s))) {
      const why = this.grouping.spaces.map((s) => `space ${s.id} (${s.producers.join(', ') || s.members[0].layer}): ${s.reason ?? 'coupled (grouping off)'}`);
      throw new Error(`model "${model.name}" has no prunable channel space:\n  ${why.join('\n  ')}`);
    }
    this.kept = allKept(this.grouping);
    this.baseline = costsOf(this.grouping, this.kept);
    this.latency = options.latency;
  }

  /** Throws once dispose() was called. */
  private usable(): void {
    if (this.disposed) throw new Error(`this pruner of model "${this.model.name}" was disposed: make a new one with pruner(model)`);
  }

  /** Throws when the criterion reads Fisher / Taylor and none was accumulated since the last prune (ranking zeros would prune arbitrary units). */
  private needFisher(step: string): void {
    if (scored[this.criterion] && this.fisherSteps === 0) {
      throw new Error(`${step} needs Fisher, and none was accumulated since ${this.pruned ? 'the last prune()' : 'the pruner was made'}: run p.score(batches) first`);
    }
  }

  /** Check and remember the normalizer prune() ranks by. */
  private setNormalizer(by: Normalizer): void {
    if (!normalizers.includes(by)) throw new Error(`unknown normalizer "${by}": use one of ${normalizers.map((n) => `'${n}'`).join(', ')}`);
    if (by === 'latency' && !this.latency) throw new Error("normalize('latency') needs a latency model: await p.profileLatency() first (or pass options.latency)");
    this.normalizer = by;
  }

  /** Check and remember the criterion normalize() and prune() score by. */
  private setCriterion(c: Criterion): void {
    if (!criterionNames.includes(c)) throw new Error(`unknown criterion "${c}": use one of ${criterionNames.map((n) => `'${n}'`).join(', ')}`);
    this.criterion = c;
  }

  /** The current criterion's score of every unit, per space. */
  private scores(): number[][] {
    if (this.criterion === 'random' && this.randomScores) return this.randomScores;
    const g = this.grouping;
    const scores = criteria[this.criterion]({g, fisher: this.sums(this.fisher), taylor: this.sums(this.taylor), random: this.random, eligible: g.spaces.map((s) => this.eligible(s))});
    if (this.criterion === 'random') this.randomScores = scores;
    return scores;
  }

  private eligible(s: Space): boolean {
    return s.prunable && (this.options.grouping !== false || (s.members.length === 1 && s.producers.length === 1));
  }

  /**
   * The channel spaces (METHOD.md §3) as plain data.
   * @example p.group().filter((s) => s.prunable).map((s) => s.producers);
   */
  group(): Space[] {
    this.usable();
    return this.grouping.spaces.map((s) => ({...s, members: s.members.map((m) => ({...m})), producers: [...s.producers], consumers: [...s.consumers],
      prunable: this.eligible(s), reason: s.reason ?? (this.eligible(s) ? undefined : 'coupled: not pruned without grouping')}));
  }

  /**
   * Accumulate Fisher over `steps` batches (all of them by default); with `train`, weights are updated too.
   * Without it, weights and BatchNorm moving statistics are left as they were.
   * @example await p.score(train.batches(64), {steps: 25});
   */
  async score<B extends ScoreBatch>(batches: Iterable<B>, opts: {steps?: number; train?: TrainSettings} = {}): Promise<ScoreReport> {
    this.usable();
    if (opts.steps !== undefined) positiveInteger('score({steps})', opts.steps, 1);
    if (opts.train) checkTrainSettings((k) => `score({train: {${k}}})`, opts.train);
    await checkWeights(this.model, 'score', 'before');
    const weights = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const frozen = opts.train ? [] : this.model.nonTrainableWeights.map((w) => [w.read() as tf.Variable, tf.clone(w.read())] as const);
    const optimizer = opts.train?.optimizer instanceof Optimizer ? opts.train.optimizer : opts.train ? new Optimizer(opts.train.optimizer ?? {name: 'sgd', momentum: 0.9}) : null;
    let steps = 0;
    try {
      for (const batch of batches) {
        try {
          await this.step(batch, optimizer ? weights : [], (grads) => optimizer!.apply(weights, weights.map((w) => grads[w.name]), opts.train?.lr ?? 0.01), 'score');
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
    const fisher = this.sums(this.fisher);
    return {steps, loss: this.lastLoss, spaces: this.grouping.spaces.map((s, i) => ({id: s.id, producers: s.producers, consumers: s.consumers, fisher: fisher[i]}))};
  }

  /** One Fisher step; `update` receives the weight gradients when weights are given. */
  private async step(batch: ScoreBatch, weights: tf.Variable[], update: (grads: tf.NamedTensorMap) => void, where: string): Promise<void> {
    const custom = this.options.loss;
    checkBatch(this.model, custom ? {xs: batch.xs} : batch, where, this.outputRule); // a custom loss reads other targets
    const lossOf = custom ? (outputs: tf.Tensor) => custom(outputs, batch) : (values: tf.Tensor) => {
      if (!batch.ys) throw new Error('the classification loss needs batch.ys (one-hot targets); pass a loss option for other batches');
      return outputLoss(values, batch.ys, this.outputRule);
    };
    // the output rule's loss reads the values before an output softmax / sigmoid where the graph has them
    const r = await fisherStep(this.grouping, this.kept, batch.xs, lossOf, weights, custom ? undefined : logitsHook(this.outputRule));
    try {
      if (!Number.isFinite(r.loss)) {
        throw new Error(`${where}: loss is ${r.loss} after ${this.fisherSteps} Fisher steps; the masks and the weights are unchanged by this step: ${await lossBlame(this.model)}`);
      }
      if (weights.length) update(r.grads);
      const add = async (to: Float64Array[] | null, step: tf.Tensor1D[]) => (await Promise.all(step.map((f) => f.data()))).map((v, i) => {
        const sum = to?.[i] ?? new Float64Array(v.length);
        v.forEach((x, k) => { sum[k] += x; });
        return sum;
      });
      [this.fisher, this.taylor] = [await add(this.fisher, r.fisher), await add(this.taylor, r.taylor)];
      this.fisherSteps++;
      this.lastLoss = r.loss;
    } finally {
      tf.dispose([...r.fisher, ...r.taylor, ...Object.values(r.grads)]);
    }
  }

  /** Accumulated sums (Fisher or Taylor) as arrays; zeros before any step. */
  private sums(acc: Float64Array[] | null): number[][] {
    return this.grouping.spaces.map((s, i) => (acc ? Array.from(acc[i]) : new Array<number>(s.units).fill(0)));
  }

  /**
   * Time every layer of the model at a few widths on the active backend; the 'latency' normalizer then
   * ranks units by Fisher / predicted time freed.
   * @example const lat = await p.profileLatency({batchSize: 64}); p.normalize('latency');
   */
  async profileLatency(opts: Omit<ProfileOptions, 'eligible'> = {}): Promise<LatencyModel> {
    this.usable();
    this.latency = await profileLatency(this.grouping, {...opts, eligible: this.grouping.spaces.map((s) => this.eligible(s))});
    return this.latency;
  }

  /**
   * Rank kept units by criterion / cost freed (METHOD.md §4), lowest first. The criterion (remembered for prune()):
   * 'fisher' (default) and 'taylor' need score() since the last prune; 'l1', 'l2' (filter norms summed over the
   * space's producers), 'bn' (|gamma| summed over its BatchNormalization layers) read the weights; 'random'.
   * The costs are those of one unit: with roundTo > 1, prune() ranks whole chunks instead (see prune()).
   * @example const ranked = p.normalize('memory'); ranked.units[0]; p.normalize('flops', {criterion: 'l1'});
   */
  normalize(by: Normalizer = this.normalizer, opts: {criterion?: Criterion} = {}): Ranked {
    this.usable();
    this.setNormalizer(by);
    this.setCriterion(opts.criterion ?? this.criterion);
    this.needFisher('normalize()');
    const fisher = this.scores();
    const cost = deltaCosts(this.grouping, this.kept, by, this.latency);
    const units: RankedUnit[] = [];
    this.grouping.spaces.forEach((s, i) => {
      if (!this.eligible(s) || cost[i] <= 0) return;
      this.kept[i].forEach((on, k) => { if (on) units.push({space: i, unit: k, fisher: fisher[i][k], cost: cost[i], score: fisher[i][k] / cost[i]}); });
    });
    return {normalizer: by, criterion: this.criterion, units: units.sort((a, b) => a.score - b.score)};
  }

  /**
   * Zero the masks of the `units` lowest-ranked units by the last normalizer and criterion, one at a time: each is the
   * unit normalize() would rank first after the removals before it (the costs follow the counts; Fisher does not
   * change). With roundTo > 1 a space loses whole chunks down to its next allowed width (scored by their summed
   * Fisher over the cost the chunk frees), so the last chunk may take it past `units`.
   * Then Fisher is reset: the next prune() needs a new score().
   * @example p.prune({units: 1});
   */
  prune(opts: {units?: number} = {}): PrunedUnit[] {
    this.usable();
    const units = positiveInteger('prune({units})', opts.units, 1);
    this.setNormalizer(this.normalizer);
    this.needFisher('prune()');
    const eligible = this.grouping.spaces.map((s) => this.eligible(s));
    const ranking = new Ranking(this.grouping, this.kept, this.scores(), eligible, this.normalizer, this.latency, this.roundTo);
    const removed: PrunedUnit[] = [];
    while (removed.length < units) {
      const best = ranking.next();
      if (!best) break;
      const chunk = ranking.remove(best);
      const c = costsOf(this.grouping, this.kept);
      // with roundTo, a chunk of units goes at once: one row each, with the chunk's score
      for (const unit of chunk) {
        removed.push({...best, unit, producers: this.grouping.spaces[best.space].producers, macs: c.macs, memory: c.memory, macsRatio: c.macs / this.baseline.macs});
      }
    }
    [this.fisher, this.taylor, this.randomScores] = [null, null, null];
    this.fisherSteps = 0;
    this.pruned = true;
    return removed;
  }

  /**
   * The smallest FLOPs ratio pruning can reach: every eligible space at one unit.
   * @example p.minFlopsRatio(); // e.g. 0.04 for resnet20, 0.96 for resnext without grouping
   */
  minFlopsRatio(): number {
    this.usable();
    // an eligible space shrinks to its smallest allowed count (nextCount down to the last one)
    const floor = (s: Space, n: number): number => {
      for (let m = n; ; ) { const next = nextCount(m, s.unit, this.roundTo); if (next < 1) return m; m = next; }
    };
    const counts = this.grouping.spaces.map((s, i) => this.kept[i].filter(Boolean).length);
    return costsAt(this.grouping, this.grouping.spaces.map((s, i) => (this.eligible(s) ? floor(s, counts[i]) : counts[i]))).macs / this.baseline.macs;
  }

  /**
   * Throw a clear error when a FLOPs ratio cannot be reached by pruning every eligible space to one unit.
   * @example p.checkTarget(0.5);
   */
  checkTarget(targetFlops: number): void {
    if (!(targetFlops > 0 && targetFlops <= 1)) throw new Error(`targetFlops must be in (0, 1], got ${targetFlops}`);
    assertCosted(this.grouping);
    const floor = this.minFlopsRatio();
    if (targetFlops < floor) {
      throw new Error(`targetFlops ${targetFlops} cannot be reached: pruning every prunable space of "${this.model.name}" to ${this.roundTo > 1 ? `its smallest multiple of ${this.roundTo} channels` : 'one unit'} leaves ${floor.toFixed(4)} of the FLOPs; choose a target >= ${floor.toFixed(4)}`);
    }
  }

  /**
   * The whole loop (METHOD.md §5): train with masks, prune every `interval` steps, stop at the target, fine-tune.
   * @example await p.run({data: train, targetFlops: 0.5, interval: 25, normalize: 'memory'});
   */
  async run(o: RunOptions): Promise<RunReport> {
    this.usable();
    const interval = positiveInteger('run({interval})', o.interval, 25);
    const unitsPerPrune = positiveInteger('run({unitsPerPrune})', o.unitsPerPrune, 1);
    const checkpointEvery = positiveInteger('run({checkpointEvery})', o.checkpointEvery, 10);
    checkOptions('run', o, {finetuneEpochs: 'countOrZero', roundTo: 'count'});
    if (o.roundTo) this.roundTo = o.roundTo;
    checkTrainSettings('run', o);
    this.checkTarget(o.targetFlops);
    await checkWeights(this.model, 'run', 'before');
    if (o.normalize === 'latency' && !this.latency) await this.profileLatency({batchSize: o.batchSize});
    if (o.normalize) this.setNormalizer(o.normalize);
    if (o.criterion) this.setCriterion(o.criterion);
    const batchSize = o.batchSize ?? 64;
    const weights = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = o.optimizer instanceof Optimizer ? o.optimizer : new Optimizer(o.optimizer ?? {name: 'sgd', momentum: 0.9, weightDecay: 5e-4});
    const update = (grads: tf.NamedTensorMap): void => optimizer.apply(weights, weights.map((w) => grads[w.name]), o.lr ?? 0.01);
    const rows: RunRow[] = o.resume ? [...o.resume.rows] : [];
    let steps = o.resume?.steps ?? 0;
    if (o.resume) this.kept = o.resume.kept.map((k) => [...k]);
    let prunings = 0;
    try {
      for (let epoch = o.resume?.epoch ?? 0; this.state().macsRatio > o.targetFlops; epoch++) {
        o.progress?.start(`pruning, epoch ${epoch + 1}`, Math.ceil(o.data.size / batchSize));
        let inEpoch = 0;
        const skip = epoch === o.resume?.epoch ? o.resume.batchInEpoch : 0;
        for (const batch of o.data.batches(batchSize, {shuffle: true, seed: (o.seed ?? 0) + epoch})) {
          try {
            if (inEpoch >= skip) await this.step(batch, weights, update, 'run');
          } finally {
            disposeBatch(batch);
          }
          if (++inEpoch <= skip) continue;
          steps++;
          o.progress?.update(inEpoch, {loss: this.lastLoss, acc: NaN, samples: inEpoch * batchSize});
          if (steps % interval !== 0) continue;
          const loss = this.lastLoss;
          for (const r of this.prune({units: unitsPerPrune})) {
            rows.push({...r, step: steps, loss});
            o.onPrune?.(rows[rows.length - 1]);
          }
          const done = this.state().macsRatio <= o.targetFlops;
          if (o.onCheckpoint && !done && ++prunings % checkpointEvery === 0) {
            await o.onCheckpoint({steps, epoch, batchInEpoch: inEpoch, kept: this.kept.map((k) => [...k]), rows: [...rows]});
          }
          if (done) break;
          await tf.nextFrame();
        }
        o.progress?.stop(`pruned to ${(100 * this.state().macsRatio).toFixed(1)}% of the FLOPs after ${steps} steps`);
      }
      await checkWeights(this.model, 'run, pruning phase', 'after');
      if (o.finetuneEpochs) await this.finetune(o.data as BatchSource, {...o, optimizer, epochs: o.finetuneEpochs});
    } finally {
      if (!(o.optimizer instanceof Optimizer)) optimizer.dispose();
    }
    return {steps, rows, baseline: this.baseline, final: this.state()};
  }

  /**
   * The masked model's forward (its outputs), for training and evaluation; masks are built per call. With
   * `{logits: true}` it returns what the output rule's loss reads (the values before an output softmax / sigmoid).
   * @example const probs = p.forward()(xs, false);
   */
  forward(opts: {logits?: boolean} = {}): (xs: tf.Tensor4D, training: boolean) => tf.Tensor2D {
    this.usable();
    const output = opts.logits ? logitsHook(this.outputRule) : undefined;
    return (xs, training) => {
      checkBatch(this.model, {xs}, 'forward');
      const masks = maskTensors(this.grouping, this.kept);
      try {
        return maskedForward(this.grouping, masks, xs, training, output) as tf.Tensor2D;
      } finally {
        tf.dispose([...masks.values()]);
      }
    };
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
   * Plain-data state: kept units and channels per space, MACs and memory against the baseline.
   * @example p.state().macsRatio;
   */
  state(): PrunerState {
    this.usable();
    const c = costsOf(this.grouping, this.kept);
    return {
      macs: c.macs, memory: c.memory, macsRatio: c.macs / this.baseline.macs, memoryRatio: c.memory / this.baseline.memory,
      spaces: this.grouping.spaces.map((s, i) => {
        const first = this.grouping.spaceOf.indexOf(i);
        return {id: s.id, units: s.units, kept: this.kept[i].flatMap((on, k) => (on ? [k] : [])), channels: s.channels,
          keptChannels: keptChannels(this.grouping, this.kept, first).length, prunable: this.eligible(s)};
      }),
    };
  }

  /**
   * The physically smaller tf.LayersModel (METHOD.md §6); the pruner's model is unchanged.
   * @example const small = p.export(); await small.save(...);
   */
  export(): tf.LayersModel {
    this.usable();
    return exportPruned(this.grouping, this.kept);
  }

  /**
   * Release the accumulated Fisher; the pruner cannot be used afterwards (the model is left as it is).
   * @example p.dispose();
   */
  dispose(): void {
    [this.fisher, this.taylor, this.randomScores] = [null, null, null];
    this.fisherSteps = 0;
    this.disposed = true;
  }
}

/**
 * Start pruning a functional tf.LayersModel.
 * @example const p = pruner(model, {inputShape: [28, 28, 1]});
 */
export function pruner(model: tf.LayersModel, options: PrunerOptions = {}): Pruner {
  return new Pruner(model, options);
}
