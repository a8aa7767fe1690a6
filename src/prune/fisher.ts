import * as tf from '@tensorflow/tfjs';
import {CallMaps, execute, Grouping, InputHook} from '../graph';
import type {OutputHook} from '../graph/model_graph';
import {gradsOf} from '../train/loop';
import {Kept, maskOf} from './masks';

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
export function maskTensors(g: Grouping, kept: Kept): Map<string, tf.Tensor2D> {
  return new Map(consumerCalls(g).map((c) => {
    const m = maskOf(g, kept, c.inputs[0]);
    return [`${c.call.layer.name}#${c.call.call}`, tf.tensor2d(m, [1, m.length])];
  }));
}

/**
 * Forward pass of the masked model: consumer inputs times their masks (METHOD.md §1); `output` may return
 * other values for the model output (e.g. logitsHook(rule): the values before an output softmax).
 * @example const logits = tf.tidy(() => maskedForward(g, masks, xs, false));
 */
export function maskedForward(g: Grouping, masks: Map<string, tf.Tensor2D>, xs: tf.Tensor, training: boolean, output?: OutputHook): tf.Tensor {
  return execute(g.graph, [xs], {training, hook: gateHook(g, masks), dropout: training, output})[0];
}

/** Result of one Fisher step: the loss and, per space, sum_n (sum_k g[n,k,unit])^2 and sum_n |sum_k g[n,k,unit]| [units]. */
export interface FisherStep { loss: number; fisher: tf.Tensor1D[]; taylor: tf.Tensor1D[]; grads: tf.NamedTensorMap }

/**
 * One forward/backward pass that gives the weight gradients and the Fisher of every unit.
 * Gates [B, c] = mask on each consumer input; dL/dgate[n, c] = sum_hw A * dL/dÃ = g[n,k,c]
 * (METHOD.md §2). Per space the gates' gradients are summed over members, calls and the
 * channels of each unit BEFORE squaring (eq. 4), then squared and summed over samples (Fisher),
 * or their absolute values summed over samples (first-order Taylor).
 * `lossOf` maps the model output (or what `output` returns instead, e.g. the logits before an output
 * softmax) to the batch-mean loss; `weights` are differentiated too (pass [] to skip); the caller
 * disposes fisher and grads.
 */
export async function fisherStep(g: Grouping, kept: Kept, xs: tf.Tensor, lossOf: (outputs: tf.Tensor) => tf.Scalar, weights: tf.Variable[],
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
    result = gradsOf(() => lossOf(execute(g.graph, [xs], {training: true, hook, dropout: false, output})[0]), [...weights, ...gates.values()]);
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
