/**
 * Importance criteria: a space's units in, one score per unit out (higher: more important). Fisher and Taylor are
 * accumulated by score(); the others read the weights now (synchronously: not on webgpu in Node).
 */
import * as tf from '@tensorflow/tfjs';
import type {Grouping} from '../graph';

/** How units are scored before the cost normalizer divides. */
export type Criterion = 'fisher' | 'l1' | 'l2' | 'bn' | 'taylor' | 'random';

/** What a criterion may read: the grouping, the accumulated Fisher and Taylor sums, a random source. */
export interface CriterionInput { g: Grouping; fisher: number[][]; taylor: number[][]; random: () => number; eligible: boolean[] }

/** A producer's kernel as [fan-in, output channels]: the filters whose norms l1 / l2 take. */
const kernels: Record<string, (weights: tf.Tensor[]) => tf.Tensor2D> = {
  Conv2D: ([k]) => k.reshape([-1, k.shape[3]!]),                 // [kh, kw, in, out]
  GroupConv2D: ([k]) => k.reshape([-1, k.shape[3]!]),            // [kh, kw, in / groups, out]
  Conv2DTranspose: ([k]) => k.transpose([0, 1, 3, 2]).reshape([-1, k.shape[2]!]), // [kh, kw, out, in]
  DepthwiseConv2D: ([k]) => k.reshape([k.shape[0]! * k.shape[1]!, -1]), // [kh, kw, in, mult]: channel in * mult + j
  SeparableConv2D: ([, p]) => p.reshape([-1, p.shape[3]!]),      // pointwise [1, 1, in * mult, out]
  Dense: ([k]) => k as tf.Tensor2D,                              // [in, out]
};

/** Per space and unit, the sum over the space's members of f(the unit's channels of that member), f from per-channel values. */
function perUnit(g: Grouping, valuesOf: (member: number) => Float32Array | undefined, f: (channels: Float32Array) => number): number[][] {
  const scores = g.spaces.map((s) => new Array<number>(s.units).fill(0));
  g.members.forEach((_, m) => {
    const values = valuesOf(m);
    if (!values) return;
    const s = g.spaceOf[m];
    const width = values.length / g.spaces[s].units; // unit k: channels [k * width, (k + 1) * width)
    for (let k = 0; k < g.spaces[s].units; k++) scores[s][k] += f(values.subarray(k * width, (k + 1) * width));
  });
  return scores;
}

const layerOf = (g: Grouping, name: string): tf.layers.Layer => g.graph.model.getLayer(name);

/** Filter norms: per output channel of each producer, the p-norm of its filter; summed over the producers of a space. */
function filterNorm(p: 1 | 2): (c: CriterionInput) => number[][] {
  return ({g}) => perUnit(g, (m) => {
    const layer = layerOf(g, g.members[m].layer);
    const kernel = kernels[layer.getClassName()];
    if (!kernel) return undefined;
    // per channel: sum |w| (p = 1) or sum w^2 (p = 2, rooted per unit below)
    return tf.tidy(() => (p === 1 ? kernel(layer.getWeights()).abs() : kernel(layer.getWeights()).square()).sum(0).dataSync() as Float32Array);
  }, p === 1 ? (c) => c.reduce((a, b) => a + b, 0) : (c) => Math.sqrt(c.reduce((a, b) => a + b, 0)));
}

/** |gamma| of every BatchNormalization with a scale, on the channels of the spaces it normalizes. */
function bnScale({g, eligible}: CriterionInput): number[][] {
  const scores = g.spaces.map((s) => new Array<number>(s.units).fill(0));
  const seen = new Set<string>();
  const found = new Set<number>();
  for (const c of g.calls) {
    const layer = c.call.layer;
    if (layer.getClassName() !== 'BatchNormalization' || seen.has(layer.name) || layer.getConfig().scale === false) continue;
    seen.add(layer.name);
    const gamma = tf.tidy(() => layer.getWeights()[0].abs().dataSync() as Float32Array); // [c]
    let offset = 0;
    for (const m of c.inputs[0].segments) {
      const [s, ch] = [g.spaceOf[m], g.members[m].channels];
      const width = ch / g.spaces[s].units;
      for (let k = 0; k < g.spaces[s].units; k++) for (let j = 0; j < width; j++) scores[s][k] += gamma[offset + k * width + j];
      found.add(s);
      offset += ch;
    }
  }
  const missing = g.spaces.filter((s, i) => eligible[i] && !found.has(i));
  if (missing.length) {
    throw new Error(`criterion 'bn' needs a BatchNormalization with a scale on every pruned space; ${missing.slice(0, 3).map((s) => `space ${s.id} (${s.producers.join(', ')})`).join(', ')} ` +
      `${missing.length > 1 ? 'have' : 'has'} none: use another criterion or pruner(model, {grouping}) choices that leave them out`);
  }
  return scores;
}

/**
 * Each criterion's unit scores.
 * fisher: sum_n (sum_k g[n,k,unit])^2 (docs/method.md §3, eq. 4); taylor: sum_n |sum_k g[n,k,unit]|, g the gate gradients
 * (the first-order change of the loss when the unit is removed); l1 / l2: sum over producers of the unit's filter
 * norm; bn: sum over BatchNormalization layers of |gamma|; random: uniform in [0, 1).
 */
export const criteria: Record<Criterion, (c: CriterionInput) => number[][]> = {
  fisher: (c) => c.fisher,
  taylor: (c) => c.taylor,
  l1: filterNorm(1),
  l2: filterNorm(2),
  bn: bnScale,
  random: ({g, random}) => g.spaces.map((s) => Array.from({length: s.units}, () => random())),
};

/**
 * The criteria's names, for option checks and CLI choices.
 * @example criterionNames.includes('l1') // true
 */
export const criterionNames = Object.keys(criteria) as Criterion[];

/** Criteria that read what score() accumulates. */
export const scored: Record<Criterion, boolean> = {fisher: true, taylor: true, l1: false, l2: false, bn: false, random: false};

