/** Fisher (docs/method.md §1-2): the masked forward, one Fisher step on tensors, and the same step on a PruneState. */
import * as tf from '@tensorflow/tfjs';
import {CallMaps, execute, Grouping, InputHook} from '../graph';
import type {OutputHook} from '../graph/model_graph';
import {logitsHook, outputLoss, OutputRule} from '../train';
import {checkBatch, gradsOf, lossBlame} from '../train/loop';
import {KeptView, maskOf} from './masks';
import {accumulate, PruneSetup, PruneState} from './prune_state';

/** Consumer calls: the ones that read their input through a mask. */
export const consumerCalls = (g: Grouping): CallMaps[] => g.calls.filter((c) => c.handler.consumes);

/** Multiply a consumer input x by a gate [b, c] (b = 1 for a mask shared by all samples). */
function applyGate(x: tf.Tensor, gate: tf.Tensor2D, spatial: number): tf.Tensor {
  const [b, c] = gate.shape;
  if (spatial > 1) {
    // flattened [b, p*c] with channels inner: feature (p, c) uses gate[:, c]
    return x.mul(gate.reshape([b, 1, c]).tile([1, spatial, 1]).reshape([b, spatial * c]));
  }
  return x.mul(gate.reshape([b, ...new Array(x.rank - 2).fill(1), c]));
}

/** Input hook that applies the given gate to each consumer call (keyed by layer#call). */
export function gateHook(g: Grouping, gates: Map<string, tf.Tensor2D>): InputHook {
  const spatial = new Map(consumerCalls(g).map((c) => [`${c.call.layer.name}#${c.call.call}`, c.inputs[0].spatial]));
  return (call, xs) => {
    const key = `${call.layer.name}#${call.call}`;
    const gate = gates.get(key);
    return gate ? [applyGate(xs[0], gate, spatial.get(key) ?? 1), ...xs.slice(1)] : xs;
  };
}

/** Masks [1, c] of every consumer call for the current kept units; the caller disposes them. */
export function maskTensors(g: Grouping, kept: KeptView): Map<string, tf.Tensor2D> {
  return new Map(consumerCalls(g).map((c) => {
    const m = maskOf(g, kept, c.inputs[0]);
    return [`${c.call.layer.name}#${c.call.call}`, tf.tensor2d(m, [1, m.length])];
  }));
}

/**
 * Forward pass of the masked model: consumer inputs times their masks (docs/method.md §1); `output` may return
 * other values for the model output (e.g. logitsHook(rule): the values before an output softmax). `O` is the
 * model output's type (tf.Tensor2D for a classifier, tf.Tensor3D for a detector): the caller states it.
 * @example const logits = tf.tidy(() => maskedForward<tf.Tensor2D>(g, masks, xs, false));
 */
export function maskedForward<O extends tf.Tensor = tf.Tensor>(g: Grouping, masks: Map<string, tf.Tensor2D>, xs: tf.Tensor, training: boolean, output?: OutputHook): O {
  return execute(g.graph, [xs], {training, hook: gateHook(g, masks), dropout: training, output})[0] as O;
}

/**
 * The masked model's forward at `kept` (masks built per call), checking each batch against the model input.
 * @example const probs = maskedModel<tf.Tensor2D>(g, kept)(xs, false);
 */
export function maskedModel<O extends tf.Tensor = tf.Tensor>(g: Grouping, kept: KeptView, output?: OutputHook): (xs: tf.Tensor4D, training: boolean) => O {
  return (xs, training) => {
    checkBatch(g.graph.model, {xs}, 'forward');
    const masks = maskTensors(g, kept);
    try {
      return maskedForward<O>(g, masks, xs, training, output);
    } finally {
      tf.dispose([...masks.values()]);
    }
  };
}

/** Result of one Fisher step: the loss and, per space, sum_n (sum_k g[n,k,unit])^2 and sum_n |sum_k g[n,k,unit]| [units]. */
export interface FisherStep { loss: number; fisher: tf.Tensor1D[]; taylor: tf.Tensor1D[]; grads: tf.NamedTensorMap }

/**
 * One forward/backward pass that gives the weight gradients and the Fisher of every unit.
 * Gates [B, c] = mask on each consumer input; dL/dgate[n, c] = sum_hw A * dL/dÃ = g[n,k,c]
 * (docs/method.md §2). Per space the gates' gradients are summed over members, calls and the
 * channels of each unit BEFORE squaring (eq. 4), then squared and summed over samples (Fisher),
 * or their absolute values summed over samples (first-order Taylor).
 * `lossOf` maps the model output (or what `output` returns instead, e.g. the logits before an output
 * softmax) to the batch-mean loss; `weights` are differentiated too (pass [] to skip); the caller
 * disposes fisher and grads.
 */
export async function fisherStep<O extends tf.Tensor = tf.Tensor>(g: Grouping, kept: KeptView, xs: tf.Tensor, lossOf: (outputs: O) => tf.Scalar, weights: tf.Variable[],
  output?: OutputHook): Promise<FisherStep> {
  const b = xs.shape[0];
  const calls = consumerCalls(g);
  const gates = new Map<string, tf.Variable>();
  for (const c of calls) {
    const m = maskOf(g, kept, c.inputs[0]);
    const init = tf.tidy(() => tf.tensor2d(m, [1, m.length]).tile([b, 1]));
    gates.set(`${c.call.layer.name}#${c.call.call}`, tf.variable(init, true));
    init.dispose();
  }
  const hook = gateHook(g, gates as unknown as Map<string, tf.Tensor2D>);
  let result: {value: tf.Scalar; grads: tf.NamedTensorMap};
  try {
    result = gradsOf(() => lossOf(execute(g.graph, [xs], {training: true, hook, dropout: false, output})[0] as O), [...weights, ...gates.values()]);
  } catch (e) {
    tf.dispose([...gates.values()]); // a failing loss (e.g. targets of the wrong shape) leaves nothing behind
    throw e;
  }
  const {value, grads} = result;
  const [fisher, taylor] = tf.tidy(() => {
    const perSpace: (tf.Tensor2D | undefined)[] = g.spaces.map(() => undefined);
    for (const c of calls) {
      const grad = grads[gates.get(`${c.call.layer.name}#${c.call.call}`)!.name] as tf.Tensor2D; // [b, c]
      let offset = 0;
      for (const m of c.inputs[0].segments) {
        const s = g.spaceOf[m];
        const ch = g.members[m].channels;
        const units = g.spaces[s].units;
        const part = grad.slice([0, offset], [b, ch]).reshape([b, units, ch / units]).sum(2) as tf.Tensor2D; // [b, units]
        perSpace[s] = perSpace[s] ? (perSpace[s]!.add(part) as tf.Tensor2D) : part;
        offset += ch;
      }
    }
    const over = (f: (x: tf.Tensor2D) => tf.Tensor2D) => g.spaces.map((s, i) => (perSpace[i] ? f(perSpace[i]!).sum(0) : tf.zeros([s.units])) as tf.Tensor1D);
    return [over((x) => x.square()), over((x) => x.abs())];
  });
  for (const v of gates.values()) {
    grads[v.name].dispose();
    delete grads[v.name];
    v.dispose();
  }
  const loss = (await value.data())[0];
  value.dispose();
  return {loss, fisher, taylor, grads};
}

/** What a Fisher step reads: inputs plus whatever the loss needs (ys for the default loss). */
export interface ScoreBatch { xs: tf.Tensor4D; ys?: tf.Tensor2D }

/** How scoreBatch() turns a batch into a loss and what it does with the weight gradients. */
export interface ScoreStepOptions<O extends tf.Tensor, B extends ScoreBatch> {
  /** The output rule's loss against batch.ys (from the values before an output softmax / sigmoid where the graph has them). */
  outputRule: OutputRule;
  /** Batch-mean loss of the model output instead (e.g. a detector's); it wins over the output rule. */
  loss?: (outputs: O, batch: B) => tf.Scalar;
  /** Weights to differentiate; `update` receives their gradients. Default: none. */
  weights?: tf.Variable[];
  update?: (grads: tf.NamedTensorMap) => void;
  /** Names the caller in errors, e.g. 'score'. */
  where: string;
}

/**
 * One Fisher step on a batch: the state with its Fisher and Taylor added (the batch is not disposed). Throws on a
 * non-finite loss before anything is updated, blaming the weights or the inputs.
 * @example state = await scoreBatch(setup, state, batch, {outputRule: outputRule(model), where: 'score'});
 */
export async function scoreBatch<O extends tf.Tensor, B extends ScoreBatch>(setup: PruneSetup, state: PruneState, batch: B, o: ScoreStepOptions<O, B>): Promise<PruneState> {
  const g = setup.grouping;
  const custom = o.loss;
  checkBatch(g.graph.model, custom ? {xs: batch.xs} : batch, o.where, o.outputRule); // a custom loss reads other targets
  const lossOf = custom ? (outputs: O) => custom(outputs, batch) : (values: O) => {
    if (!batch.ys) throw new Error('the classification loss needs batch.ys (one-hot targets); pass a loss option for other batches');
    return outputLoss(values, batch.ys, o.outputRule);
  };
  const weights = o.weights ?? [];
  const r = await fisherStep<O>(g, state.kept, batch.xs, lossOf, weights, custom ? undefined : logitsHook(o.outputRule));
  try {
    if (!Number.isFinite(r.loss)) {
      throw new Error(`${o.where}: loss is ${r.loss} after ${state.fisherSteps} Fisher steps; the masks and the weights are unchanged by this step: ${await lossBlame(g.graph.model)}`);
    }
    if (weights.length) o.update?.(r.grads);
    // read back asynchronously: webgpu in Node cannot read synchronously
    const [fisher, taylor] = await Promise.all([r.fisher, r.taylor].map((ts) => Promise.all(ts.map((t) => t.data()))));
    return accumulate(state, {loss: r.loss, fisher, taylor});
  } finally {
    tf.dispose([...r.fisher, ...r.taylor, ...Object.values(r.grads)]);
  }
}
