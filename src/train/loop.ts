/**
 * The training loop: one step, a fit over epochs or a step budget, and evaluation.
 *
 * BatchNorm: tfjs-layers' BatchNormalization.call with {training: true} normalises with the
 * batch statistics AND updates moving_mean / moving_variance in place (momentum 0.99 by
 * default, biased batch variance), also inside tf.variableGrads; the tests check it. So the
 * loop does not update them itself. Evaluation calls the forward with training = false,
 * which normalises with the moving statistics.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch, BatchOptions } from '../data';
import { execute, readModel } from '../graph/model_graph';
import { Optimizer, OptimizerOptions } from './optimizer';
import { logitsHook, logitsRule, OutputKind, outputLoss, outputRule, OutputRule, predictedClasses, targetsFit } from './output';
import { Progress, progress as makeProgress } from './progress';
import { checkNumber, checkOptions } from './validate';
import { layerWeights } from './weights_check';

/**
 * What the loss reads, [B, classes], of images [B, H, W, C]: logits, or the values an output rule names;
 * `training` selects batch statistics and dropout.
 */
export type Forward = (xs: tf.Tensor4D, training: boolean) => tf.Tensor2D;

/** What the loop needs of a dataset (ImageDataset has it). */
export interface BatchSource {
  readonly size: number;
  batches(batchSize: number, opts?: BatchOptions): Iterable<Batch>;
}

/**
 * Thrown when a step's loss is NaN or infinite; the step's update is not applied.
 * @example try { await fit(model, train); } catch (e) { if (e instanceof NonFiniteLossError) console.log(e.epoch, e.step); }
 */
export class NonFiniteLossError extends Error {
  constructor(
    readonly loss: number,
    /** 1-based optimizer step (over the whole run) whose loss was not finite. */
    readonly step: number,
    /** 1-based epoch, when known. */
    readonly epoch?: number,
    /** What made it so, when known (see lossBlame). */
    blame?: string,
  ) {
    super(`loss is ${loss} at ${epoch === undefined ? '' : `epoch ${epoch}, `}step ${step}; training stopped before applying this step${blame ? `: ${blame}` : ''}`);
    this.name = 'NonFiniteLossError';
  }
}

/**
 * The model's forward pass as a Forward (training mode passes {training: true} to every layer). With an
 * output rule that names a head layer, it returns that layer's values before its softmax / sigmoid.
 * @example const f = forwardOf(model, outputRule(model)); const logits = f(xs, false);
 */
export function forwardOf(model: tf.LayersModel, output?: OutputRule): Forward {
  const hook = output && logitsHook(output);
  if (!hook) return (xs, training) => model.apply(xs, { training }) as tf.Tensor2D;
  const graph = readModel(model);
  return (xs, training) => execute(graph, [xs], { training, dropout: training, output: hook })[0] as tf.Tensor2D;
}

/**
 * The rule the loop's loss follows and the forward that gives its values: an explicit rule as given, else the
 * model's own (or what the `output` kind states). A custom forward returns the model's outputs: when the rule
 * wants a head's logits, the loss reads the probabilities instead.
 */
function ruleAndForward(model: tf.LayersModel | undefined, forward: Forward | undefined, output?: OutputKind | OutputRule): { rule: OutputRule; forward: Forward } {
  let rule = typeof output === 'object' ? output : outputRule(model, output);
  if (typeof output !== 'object' && forward && rule.head) rule = { loss: rule.loss, from: 'probabilities' };
  return { rule, forward: forward ?? forwardOf(model as tf.LayersModel, rule) };
}

/**
 * Batch-mean softmax cross-entropy of logits [B, K] against one-hot ys [B, K].
 * @example const loss = crossEntropy(logits, ys); // scalar
 */
export function crossEntropy(logits: tf.Tensor2D, ys: tf.Tensor2D): tf.Scalar {
  return outputLoss(logits, ys, logitsRule);
}

/**
 * tf.variableGrads that leaves no tensor behind when `f` throws (e.g. targets of the wrong shape): tfjs keeps the
 * tensors saved for the backward pass until a backward pass runs, so a failed forward ends in a zero loss's backward.
 * @example const {value, grads} = gradsOf(() => loss(model.apply(xs)), variables);
 */
export function gradsOf(f: () => tf.Scalar, variables: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  let failure: { error: unknown } | undefined;
  const r = tf.variableGrads(() => {
    try {
      return f();
    } catch (error) {
      failure = { error };
      return tf.mul(tf.addN(variables.map((v) => tf.sum(v))), 0) as tf.Scalar;
    }
  }, variables);
  if (failure) {
    tf.dispose([r.value, ...Object.values(r.grads)]);
    throw failure.error;
  }
  return r;
}

/**
 * Throws, before any work, unless a batch fits `model`: xs [B, ...input] and, for a classifier [B, K], ys [B, K] (or what the rule reads).
 * @example checkBatch(model, batch, 'fit'); // fit: batch xs [4,9,9,1] does not fit model "m" input [null,8,8,1]
 */
export function checkBatch(model: tf.LayersModel, batch: { xs: tf.Tensor; ys?: tf.Tensor }, where: string, rule: OutputRule = logitsRule): void {
  const input = model.inputs[0].shape;
  const fits = (t: tf.Tensor, shape: (number | null)[]) => t.rank === shape.length && shape.every((d, i) => d === null || d === t.shape[i]);
  if (!fits(batch.xs, input)) throw new Error(`${where}: batch xs [${batch.xs.shape}] does not fit model "${model.name}" input [${input.map(String)}]`);
  const output = model.outputs[0].shape;
  const ys = [batch.xs.shape[0], ...output.slice(1)];
  const ysFit = ({ shape: [b, k, ...rest] }: tf.Tensor) => rest.length === 0 && b === ys[0] && k !== undefined && (output[1] === null || targetsFit(output[1], k, rule));
  if (batch.ys && output.length === 2 && !ysFit(batch.ys)) {
    throw new Error(`${where}: batch ys [${batch.ys.shape}] does not fit model "${model.name}" output [${output.map(String)}]: expected one-hot targets [${ys.map(String)}]`);
  }
}

/** Weights of one layer that hold NaN or infinite values. */
export interface NonFiniteWeight { layer: string; weight: string; count: number; size: number }

/**
 * The weights of `model` that hold NaN or infinite values, with their layer (read back once).
 * @example (await nonFiniteWeights(model)).map((w) => w.layer); // ['conv1']
 */
export async function nonFiniteWeights(model: tf.LayersModel): Promise<NonFiniteWeight[]> {
  const ws = layerWeights(model).map(({ layer, weight }) => ({ layer, weight: weight.originalName, value: weight.read() }));
  if (ws.length === 0) return [];
  const counts = tf.tidy(() => tf.stack(ws.map((w) => tf.logicalNot(tf.isFinite(w.value)).cast('float32').sum())));
  const data = await counts.data();
  counts.dispose();
  return ws.flatMap((w, i) => (data[i] > 0 ? [{ layer: w.layer, weight: w.weight, count: data[i], size: w.value.size }] : []));
}

/** 'layer "a" (a/kernel: 3 of 72 values)', or 'layers "a" (...), "b" (...) and 2 more' for several. */
function describeWeights(bad: NonFiniteWeight[]): string {
  const layers = [...new Set(bad.map((w) => w.layer))];
  const text = layers.slice(0, 3).map((l) => `"${l}" (${bad.filter((w) => w.layer === l).map((w) => `${w.weight}: ${w.count} of ${w.size} values`).join(', ')})`);
  return `${layers.length > 1 ? 'layers' : 'layer'} ${text.join(', ')}${layers.length > 3 ? ` and ${layers.length - 3} more` : ''}`;
}

/**
 * Throws, naming the layers, when `model` has NaN or infinite weights: `when` 'before' a training phase (they came
 * with the model), or 'after' it (the updates made them: a lower learning rate is the usual cure).
 * @example await checkWeights(model, 'finetune', 'after');
 */
export async function checkWeights(model: tf.LayersModel, where: string, when: 'before' | 'after'): Promise<void> {
  const bad = await nonFiniteWeights(model);
  if (bad.length === 0) return;
  throw new Error(when === 'before'
    ? `${where}: weights of ${describeWeights(bad)} are NaN or infinite before training: the model was built or loaded with them; reload or re-initialise it`
    : `${where}: weights of ${describeWeights(bad)} became NaN or infinite during training: lower the learning rate`);
}

/**
 * Why a step's loss was not finite: the weights (naming their layers) when they already were, else the batch.
 * @example throw new Error(`loss is NaN; ${await lossBlame(model)}`);
 */
export async function lossBlame(model: tf.LayersModel): Promise<string> {
  const bad = await nonFiniteWeights(model);
  return bad.length ? `weights of ${describeWeights(bad)} were already NaN or infinite before this step (made so by earlier updates: lower the learning rate)`
    : 'the weights are finite: check the batch inputs for NaN or infinite values';
}

/** Number of rows whose predicted class (arg-max) equals the label. */
async function countCorrect(values: tf.Tensor2D, labels: Int32Array, rule: OutputRule): Promise<number> {
  const arg = predictedClasses(values, rule);
  const predicted = await arg.data();
  arg.dispose();
  return labels.reduce((n, label, i) => n + (predicted[i] === label ? 1 : 0), 0);
}

/** What one training step needs. */
export interface StepContext {
  forward: Forward;
  /** What `forward` returns and how it becomes the loss (the output rule). Default: logits, softmax cross-entropy. */
  output?: OutputRule;
  /** The variables to update, always in the same order (the optimizer's slots follow it). */
  variables: tf.Variable[];
  optimizer: Optimizer;
  lr: number;
}

/**
 * One optimizer step on a batch (forward in training mode, batch-mean loss of the output rule, update);
 * returns the loss before the update and the number of correct predictions. Throws
 * NonFiniteLossError, without updating, when the loss is NaN or infinite.
 * Values are read back asynchronously (webgpu in Node cannot read synchronously).
 * @example const {loss} = await trainStep({forward: forwardOf(model), variables, optimizer, lr: 0.1}, batch);
 */
export async function trainStep(ctx: StepContext, batch: Batch): Promise<{ loss: number; correct: number }> {
  let logits: tf.Tensor2D | undefined;
  const { value, grads } = gradsOf(() => {
    const z = ctx.forward(batch.xs, true);
    const loss = outputLoss(z, batch.ys, ctx.output ?? logitsRule);
    logits = tf.keep(z);
    return loss;
  }, ctx.variables);
  try {
    const loss = (await value.data())[0];
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(loss, ctx.optimizer.step + 1);
    const correct = await countCorrect(logits as tf.Tensor2D, batch.labels, ctx.output ?? logitsRule);
    // variableGrads names gradients by variable name; none for a variable not connected to the loss
    ctx.optimizer.apply(ctx.variables, ctx.variables.map((v) => grads[v.name]), ctx.lr);
    return { loss, correct };
  } finally {
    tf.dispose([value, logits as tf.Tensor2D, ...Object.values(grads)]);
  }
}

/** Figures of one epoch, or of the part of it run before the step budget or the signal stopped fit. */
export interface EpochStats {
  /** 1-based epoch. */
  epoch: number;
  loss: number;
  acc: number;
  steps: number;
  samples: number;
  seconds: number;
}

/** Options of fit; every field has a default. */
export interface FitOptions {
  /** Train until this many epochs are done (counting initialEpoch); Infinity with `steps` for a step budget only. Default 1. */
  epochs?: number;
  /** Epochs already done (resume): the first epoch run is initialEpoch + 1. Default 0. */
  initialEpoch?: number;
  /** Stop after this many optimizer steps in this call, even mid-epoch. */
  steps?: number;
  batchSize?: number;
  /** An Optimizer (kept and reused by the caller) or options for a new one (disposed at the end). Default sgd, momentum 0.9. */
  optimizer?: Optimizer | OptimizerOptions;
  /** Learning rate, or a function of the 0-based global step (optimizer.step). Default 0.01. */
  lr?: number | ((step: number) => number);
  /** Epoch e (0-based) is shuffled with seed + e, so a resumed run sees the same order. Default 0. */
  seed?: number;
  augment?: BatchOptions['augment'];
  /** Replaces model.apply, e.g. a masked forward of the pruning core; gradients still flow to `variables`. */
  forward?: Forward;
  /**
   * The loss follows the model's output activation (softmax: cross-entropy of its probabilities, from the values
   * before it; sigmoid: binary cross-entropy; linear: logits). 'logits' / 'probabilities' state what the outputs
   * are instead; an OutputRule also says what `forward` returns.
   */
  output?: OutputKind | OutputRule;
  /** Default: the model's trainable weights. */
  variables?: tf.Variable[];
  /** After every step: 1-based global step and its loss. */
  onStep?: (step: number, loss: number) => void;
  /** After every complete epoch (not a partial one); awaited (evaluation, checkpoints). */
  onEpoch?: (stats: EpochStats) => void | Promise<void>;
  /** Default silent. */
  progress?: Progress;
  /** Stops after the current step when aborted. */
  signal?: AbortSignal;
}

/** What fit did. */
export interface FitResult {
  /** Optimizer steps taken in this call. */
  steps: number;
  /** The complete epochs run, then the partial one if fit stopped mid-epoch. */
  epochs: EpochStats[];
  /** True when the step budget or the signal ended it before `epochs`. */
  stopped: boolean;
}

/**
 * Train `model` on `data` with a custom loop (see FitOptions); leaks no tensors.
 * @example await fit(model, train, {epochs: 2, batchSize: 64, lr: 0.05, optimizer: {name: 'sgd', weightDecay: 5e-4}});
 */
export async function fit(model: tf.LayersModel, data: BatchSource, opts: FitOptions = {}, where = 'fit'): Promise<FitResult> {
  checkOptions(where, opts, { batchSize: 'count', steps: 'count', initialEpoch: 'countOrZero', seed: 'finite' });
  if (typeof opts.lr !== 'function') checkOptions(where, opts, { lr: 'nonNegative' });
  if (opts.epochs !== undefined && opts.epochs !== Infinity) checkNumber(`${where}({epochs})`, opts.epochs, 'countOrZero');
  if (opts.epochs === Infinity && opts.steps === undefined) throw new Error(`${where}({epochs: Infinity}) needs a step budget: give steps too`);
  const batchSize = opts.batchSize ?? 64;
  await checkWeights(model, where, 'before');
  const owned = !(opts.optimizer instanceof Optimizer);
  const optimizer = opts.optimizer instanceof Optimizer ? opts.optimizer : new Optimizer(opts.optimizer ?? { name: 'sgd' });
  const lrAt = (step: number): number => checkNumber(`${where}({lr}) at step ${step}`, typeof opts.lr === 'function' ? opts.lr(step) : opts.lr ?? 0.01, 'nonNegative');
  const { rule, forward } = ruleAndForward(model, opts.forward, opts.output);
  const variables = opts.variables ?? model.trainableWeights.map((w) => w.read() as tf.Variable);
  const show = opts.progress ?? makeProgress('silent');
  const epochs = opts.epochs ?? 1;
  const stepsPerEpoch = Math.ceil(data.size / batchSize);
  const result: FitResult = { steps: 0, epochs: [], stopped: false };
  const budgetLeft = () => opts.steps === undefined || result.steps < opts.steps;
  try {
    for (let epoch = (opts.initialEpoch ?? 0) + 1; epoch <= epochs; epoch++) {
      if (!budgetLeft() || opts.signal?.aborted) {
        result.stopped = true;
        break;
      }
      const t0 = Date.now();
      let [lossSum, correct, samples, steps] = [0, 0, 0, 0];
      const label = Number.isFinite(epochs) ? `epoch ${epoch}/${epochs}` : `epoch ${epoch}`;
      show.start(label, Math.min(stepsPerEpoch, (opts.steps ?? Infinity) - result.steps));
      for (const batch of data.batches(batchSize, { shuffle: true, seed: (opts.seed ?? 0) + epoch - 1, augment: opts.augment })) {
        let r: { loss: number; correct: number };
        try {
          checkBatch(model, batch, where, rule);
          r = await trainStep({ forward, output: rule, variables, optimizer, lr: lrAt(optimizer.step) }, batch);
        } catch (e) {
          if (e instanceof NonFiniteLossError) throw new NonFiniteLossError(e.loss, e.step, epoch, await lossBlame(model));
          throw e;
        } finally {
          tf.dispose([batch.xs, batch.ys]);
        }
        const n = batch.labels.length;
        [lossSum, correct, samples, steps] = [lossSum + r.loss * n, correct + r.correct, samples + n, steps + 1];
        result.steps++;
        opts.onStep?.(optimizer.step, r.loss);
        show.update(steps, { loss: lossSum / samples, acc: correct / samples, samples });
        await new Promise((resolve) => setImmediate(resolve)); // let signal handlers and output run
        if (!budgetLeft() || opts.signal?.aborted) break;
      }
      const stats: EpochStats = { epoch, loss: lossSum / samples, acc: correct / samples, steps, samples, seconds: (Date.now() - t0) / 1000 };
      show.stop(`${label}: loss ${stats.loss.toFixed(4)}, acc ${(100 * stats.acc).toFixed(2)}%, ${stats.seconds.toFixed(1)} s`);
      result.epochs.push(stats);
      if (steps < stepsPerEpoch) {
        result.stopped = true;
        break;
      }
      await checkWeights(model, `${where}, epoch ${epoch}`, 'after'); // before onEpoch saves them
      await opts.onEpoch?.(stats);
    }
    await checkWeights(model, where, 'after');
    return result;
  } finally {
    if (owned) optimizer.dispose();
  }
}

/** Mean loss and accuracy over a dataset. */
export interface EvalResult {
  loss: number;
  accuracy: number;
  samples: number;
}

/**
 * Mean loss (the output rule's: see FitOptions.output) and accuracy over all of `data`, inference mode (BatchNorm
 * moving statistics). A bare Forward gives logits unless `output` says otherwise.
 * @example const {loss, accuracy} = await evaluate(model, test, 256);
 */
export async function evaluate(model: tf.LayersModel | Forward, data: BatchSource, batchSize = 256, show: Progress = makeProgress('silent'),
  output?: OutputKind | OutputRule): Promise<EvalResult> {
  checkNumber('evaluate(batchSize)', batchSize, 'count');
  const { rule, forward } = typeof model === 'function' ? ruleAndForward(undefined, model, output) : ruleAndForward(model, undefined, output);
  let [lossSum, correct, samples, steps] = [0, 0, 0, 0];
  show.start('evaluate', Math.ceil(data.size / batchSize));
  for (const batch of data.batches(batchSize)) {
    let logits: tf.Tensor2D | undefined;
    let ce: tf.Scalar | undefined;
    try {
      const n = batch.labels.length;
      if (typeof model !== 'function') checkBatch(model, batch, 'evaluate', rule);
      logits = tf.tidy(() => forward(batch.xs, false));
      ce = outputLoss(logits, batch.ys, rule);
      const [loss, right] = [(await ce.data())[0], await countCorrect(logits, batch.labels, rule)];
      [lossSum, correct, samples, steps] = [lossSum + loss * n, correct + right, samples + n, steps + 1];
      show.update(steps, { loss: lossSum / samples, acc: correct / samples, samples });
    } finally {
      tf.dispose([batch.xs, batch.ys, ...(logits ? [logits] : []), ...(ce ? [ce] : [])]);
    }
  }
  const result = { loss: lossSum / samples, accuracy: correct / samples, samples };
  show.stop(`evaluate: loss ${result.loss.toFixed(4)}, acc ${(100 * result.accuracy).toFixed(2)}% on ${samples} samples`);
  return result;
}
