/**
 * The output rule: a classifier's loss follows its output activation. A softmax output gets the
 * cross-entropy of its probabilities, computed from the values before the softmax where the graph
 * has them (never a second softmax); a sigmoid output gets binary cross-entropy; a linear output is
 * taken as logits. The `output` option overrides what the outputs are.
 */
import * as tf from '@tensorflow/tfjs';
import type {Call, OutputHook} from '../graph/model_graph';

/** What a model's outputs are, as the `output` option states it: logits, or softmax probabilities. */
export type OutputKind = 'logits' | 'probabilities';

/**
 * The values of the `output` option.
 * @example outputKinds.includes(flag as OutputKind); // check a --output value
 */
export const outputKinds: OutputKind[] = ['logits', 'probabilities'];

/** Activations whose loss the rule takes over. */
export type OutputActivation = 'softmax' | 'sigmoid';

/**
 * How a classifier's outputs become its loss. Plain data.
 * @example outputRule(model); // {loss: 'softmax', from: 'logits', head: 'predictions'} for a Dense(softmax) output
 */
export interface OutputRule {
  /** 'softmax': cross-entropy over the last axis; 'sigmoid': binary cross-entropy of every output. */
  loss: OutputActivation;
  /** What the loss reads: values before the activation ('logits'), or after it ('probabilities', by a clipped log). */
  from: 'logits' | 'probabilities';
  /** The output layer whose values before its activation are the logits (absent: the outputs are what the loss reads). */
  head?: string;
}

/**
 * The rule of plain logits: softmax cross-entropy of the outputs as they are (a linear output's rule).
 * @example outputLoss(logits, ys, logitsRule); // tf.losses.softmaxCrossEntropy(ys, logits)
 */
export const logitsRule: OutputRule = {loss: 'softmax', from: 'logits'};

/** log() clips probabilities to [eps, 1 - eps] (Keras' epsilon). */
const eps = 1e-7;

/** An output layer class whose last step is an activation the loss can take over. */
interface Head {
  /** The activation applied last, when it is one of OutputActivation. */
  activation(layer: tf.layers.Layer): string | undefined;
  /** The layer's value before that activation. */
  before(layer: tf.layers.Layer, inputs: tf.Tensor[], kwargs: {training: boolean}): tf.Tensor;
}

// the activation object a tfjs layer calls last: its getClassName() picks a fused kernel, apply() runs it
const linear = {getClassName: () => 'linear', apply: (x: tf.Tensor) => x};

/** Layers with an `activation` of their own (Dense, convs): applied once with it linear. */
const ownActivation: Head = {
  activation: (layer) => layer.getConfig().activation as string | undefined,
  before: (layer, inputs, kwargs) => {
    const own = layer as unknown as {activation: unknown};
    const saved = own.activation;
    own.activation = linear;
    try {
      return layer.apply(inputs.length === 1 ? inputs[0] : inputs, kwargs) as tf.Tensor;
    } finally {
      own.activation = saved;
    }
  },
};

/** Layers that are only the activation: the value before it is their input. */
const inputIsBefore = (activation: Head['activation']): Head => ({activation, before: (_, inputs) => inputs[0]});

/** Softmax layers act on the channel axis only when their axis is the last one (tfjs' default axis 1 is, for [B, K]). */
const softmaxOverLast = (layer: tf.layers.Layer): string | undefined => {
  const axis = layer.getConfig().axis as number | number[] | undefined;
  const rank = (layer.outputShape as (number | null)[]).length;
  const a = Array.isArray(axis) && axis.length === 1 ? axis[0] : axis ?? 1;
  return a === -1 || a === rank - 1 ? 'softmax' : undefined;
};

/** Output heads keyed by getClassName(). */
const heads: Record<string, Head> = {
  Dense: ownActivation,
  Conv1D: ownActivation,
  Conv2D: ownActivation,
  Conv3D: ownActivation,
  Conv2DTranspose: ownActivation,
  SeparableConv2D: ownActivation,
  DepthwiseConv2D: ownActivation,
  Activation: inputIsBefore((layer) => layer.getConfig().activation as string),
  Softmax: inputIsBefore(softmaxOverLast),
};

/** Layers that only rearrange values: a softmax before them still gives the outputs' probabilities. */
const rearranging = ['Flatten', 'Reshape'];

const isOutputActivation = (a: string | undefined): a is OutputActivation => a === 'softmax' || a === 'sigmoid';

// tfjs-layers internals: how a layer call is connected (public fields without types in the d.ts)
interface Node { inboundLayers: tf.layers.Layer[]; nodeIndices: number[] }
const nodeOf = (layer: tf.layers.Layer, index: number): Node | undefined => (layer as unknown as {inboundNodes: Node[]}).inboundNodes[index];

/** The activation ending the first output of the model: the layer applying it, and whether its input values are reachable. */
function outputActivation(model: tf.LayersModel): {activation: OutputActivation; layer: string; reachable: boolean} | undefined {
  const out = model.outputs[0];
  let [layer, index, reachable] = [out.sourceLayer as tf.layers.Layer, out.nodeIndex, true];
  // values behind Flatten / Reshape are the outputs' values, but the pre-activation of a layer behind them is not returned
  while (rearranging.includes(layer.getClassName())) {
    const node = nodeOf(layer, index);
    if (!node || node.inboundLayers.length !== 1) return undefined;
    [layer, index, reachable] = [node.inboundLayers[0], node.nodeIndices[0], false];
  }
  const head = heads[layer.getClassName()];
  const activation = head ? head.activation(layer) : (layer.getConfig().activation as string | undefined);
  if (!isOutputActivation(activation)) return undefined;
  return {activation, layer: layer.name, reachable: reachable && head !== undefined};
}

/**
 * The output rule of a model (its first output), or the one an `output` option states.
 * 'logits': softmax cross-entropy of the outputs as they are; 'probabilities': the outputs are softmax
 * probabilities (cross-entropy from the values before the softmax where the graph has them, else a clipped log).
 * Without a model (a bare forward function) the outputs are logits unless `output` says otherwise.
 * @example const rule = outputRule(model); // sigmoid output: {loss: 'sigmoid', from: 'logits', head: 'out'}
 */
export function outputRule(model: tf.LayersModel | undefined, output?: OutputKind): OutputRule {
  if (output !== undefined && !outputKinds.includes(output)) {
    throw new Error(`unknown output "${output}": use one of ${outputKinds.map((k) => `'${k}'`).join(', ')} (or leave it out to follow the model's output activation)`);
  }
  if (output === 'logits') return {...logitsRule};
  const found = model && outputActivation(model);
  if (output === 'probabilities' && found?.activation !== 'softmax') return {loss: 'softmax', from: 'probabilities'};
  if (!found) return {...logitsRule};
  return found.reachable ? {loss: found.activation, from: 'logits', head: found.layer} : {loss: found.activation, from: 'probabilities'};
}

/**
 * The execute() output hook that returns the head layer's values before its activation (undefined when the rule needs none).
 * @example const [logits] = execute(graph, [xs], {training: false, output: logitsHook(rule)});
 */
export function logitsHook(rule: OutputRule): OutputHook | undefined {
  if (!rule.head) return undefined;
  return (call: Call, inputs: tf.Tensor[], kwargs: {training: boolean}) =>
    (call.layer.name === rule.head ? heads[call.layer.getClassName()]?.before(call.layer, inputs, kwargs) : undefined);
}

/**
 * Whether one-hot targets of `yk` classes fit `k` outputs: the same count, or a single sigmoid output against ys [B, 2].
 * @example targetsFit(1, 2, {loss: 'sigmoid', from: 'logits'}) // true
 */
export const targetsFit = (k: number, yk: number, rule: OutputRule): boolean => k === yk || (rule.loss === 'sigmoid' && k === 1 && yk === 2);

/** The targets for values [B, K]: one-hot ys [B, K], or for a single sigmoid output the positive class of ys [B, 2]. */
function targetsFor(values: tf.Tensor, ys: tf.Tensor, rule: OutputRule): tf.Tensor {
  const [k, yk] = [values.shape[values.rank - 1], ys.shape[ys.rank - 1]];
  if (values.rank === 2 && ys.rank === 2 && values.shape[0] === ys.shape[0] && targetsFit(k, yk, rule)) return k === yk ? ys : ys.slice([0, 1], [-1, 1]);
  throw new Error(`the classification loss needs outputs [batch, classes] matching one-hot targets: outputs [${values.shape}], targets [${ys.shape}]; ` +
    'pass a loss option for other outputs (e.g. a detector)');
}

/**
 * Batch-mean loss of a classifier's values (what the rule says they are) against one-hot ys.
 * @example const loss = outputLoss(logits, batch.ys, {loss: 'softmax', from: 'logits'}); // softmax cross-entropy
 */
export function outputLoss(values: tf.Tensor, ys: tf.Tensor, rule: OutputRule): tf.Scalar {
  return tf.tidy(() => {
    const y = targetsFor(values, ys, rule);
    if (rule.loss === 'softmax') {
      // -1/B sum_n sum_k y[n,k] log p[n,k]; log p = log softmax(z) from logits, a clipped log from probabilities
      const logP = rule.from === 'logits' ? tf.logSoftmax(values) : tf.log(tf.clipByValue(values, eps, 1));
      return tf.neg(tf.mean(tf.sum(tf.mul(y, logP), -1))) as tf.Scalar;
    }
    if (rule.from === 'logits') {
      // -[y log s(z) + (1-y) log(1-s(z))] = max(z, 0) - z y + log(1 + exp(-|z|)), mean over samples and outputs
      return tf.mean(tf.relu(values).sub(values.mul(y)).add(tf.log1p(tf.exp(tf.neg(tf.abs(values)))))) as tf.Scalar;
    }
    const p = tf.clipByValue(values, eps, 1 - eps);
    return tf.neg(tf.mean(y.mul(tf.log(p)).add(tf.sub(1, y).mul(tf.log(tf.sub(1, p)))))) as tf.Scalar;
  });
}

/**
 * Predicted classes [B] of values [B, K]: arg-max; for a single sigmoid output, 1 where it is above one half.
 * @example const predicted = await predictedClasses(logits, rule).data();
 */
export function predictedClasses(values: tf.Tensor, rule: OutputRule): tf.Tensor1D {
  return tf.tidy(() => {
    if (values.shape[values.rank - 1] !== 1) return tf.argMax(values, -1) as tf.Tensor1D;
    return tf.greater(values.reshape([-1]), rule.from === 'logits' ? 0 : 0.5).toInt() as tf.Tensor1D;
  });
}
