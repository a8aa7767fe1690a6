import type {ChannelMap, Grouping} from '../graph';
import type {KeptView} from './masks';

/** Per-sample totals of the masked model at its current kept units; time (ms per batch) when a latency model is given. */
export interface Costs { macs: number; memory: number; time?: number }

/**
 * How long each layer call takes on one backend as a function of its work (the 'latency' normalizer's model):
 * per call, ms = intercept + slope * work + paddedSlope * padded, with work = MACs for convs and dense layers,
 * output elements otherwise, and padded the same work with channel counts rounded up to a multiple of `pack`
 * (wasm's XNNPACK runs channels in packs of 4 or 8). A model without pack (made before packs were fitted)
 * reads as pack 1, paddedSlope 0: the plain line.
 * Made by profileLatency(); plain data, saved with checkpoints and reports.
 */
export interface LatencyModel {
  backend: string;
  batchSize: number;
  calls: LatencyFit[];
}

/** One call's samples (work, ms, and padded work at its pack) and fit; residualMs: largest |fit - ms| at the samples. */
export interface LatencyFit {
  layer: string; call: number; kind: 'macs' | 'elements'; work: number[]; ms: number[]; slope: number; intercept: number;
  pack?: number; padded?: number[]; paddedSlope?: number; residualMs?: number;
}

const positions = (shape: number[]): number => shape.slice(0, -1).reduce((a, b) => a * b, 1);

/** Kept channels of a map, counted from kept-unit counts per space, rounded up to a multiple of pack. */
const channelsOf = (g: Grouping, counts: number[], map: ChannelMap, pack = 1): number => {
  const c = map.segments.reduce((s, m) => s + (g.members[m].channels / g.spaces[g.spaceOf[m]].units) * counts[g.spaceOf[m]], 0);
  return map.spatial * (pack > 1 ? Math.ceil(c / pack) * pack : c);
};

/**
 * Per call of g.calls: MACs (convs, dense), whether its output counts as memory, and its output elements, per sample;
 * with pack > 1, as if every channel count were rounded up to a multiple of pack.
 */
export function callWork(g: Grouping, counts: number[], pack = 1): {macs?: number; produces: boolean; elements: number}[] {
  return g.calls.map((c) => {
    const cout = channelsOf(g, counts, c.output, pack);
    return {macs: c.handler.macs?.(c.call, channelsOf(g, counts, c.inputs[0], pack), cout), produces: !!c.handler.produces,
      elements: positions(c.call.outputShape) * cout};
  });
}

/**
 * MACs and conv/FC activation memory (elements per sample) when space s keeps counts[s] units;
 * with a latency model also the predicted time of one batch.
 * @example costsAt(g, g.spaces.map((s) => s.units)).macs;
 */
export function costsAt(g: Grouping, counts: number[], latency?: LatencyModel): Costs {
  const work = callWork(g, counts);
  const costs: Costs = {macs: 0, memory: 0};
  for (const w of work) {
    costs.macs += w.macs ?? 0;
    if (w.produces) costs.memory += w.elements;
  }
  if (latency) costs.time = predictTime(g, counts, latency, work);
  return costs;
}

/** A call's work of the given kind. */
const workOf = (kind: LatencyFit['kind'], w: {macs?: number; elements: number}): number => (kind === 'macs' ? w.macs ?? 0 : w.elements);

/** Predicted ms of one batch: the sum of the fitted calls' times at these counts (calls without a fit count 0). */
function predictTime(g: Grouping, counts: number[], latency: LatencyModel, work: ReturnType<typeof callWork>): number {
  const fit = new Map(latency.calls.map((c) => [`${c.layer}#${c.call}`, c]));
  const paddedWork = new Map<number, ReturnType<typeof callWork>>([[1, work]]);
  const padded = (pack: number): ReturnType<typeof callWork> => {
    if (!paddedWork.has(pack)) paddedWork.set(pack, callWork(g, counts, pack));
    return paddedWork.get(pack)!;
  };
  return g.calls.reduce((t, c, i) => {
    const f = fit.get(`${c.call.layer.name}#${c.call.call}`);
    if (!f) return t;
    const extra = f.paddedSlope ? f.paddedSlope * workOf(f.kind, padded(f.pack ?? 1)[i]) : 0;
    return t + f.intercept + f.slope * workOf(f.kind, work[i]) + extra;
  }, 0);
}

/**
 * Throw when layers with weights have no cost rule (Grouping.uncosted): a FLOPs target or ratio
 * would leave their MACs out. Names the layers and what to do.
 * @example assertCosted(p.grouping); // before running to a FLOPs target
 */
export function assertCosted(g: Grouping): void {
  if (!g.uncosted.length) return;
  const layers = g.uncosted.map((u) => `"${u.layer}" (${u.className})`).join(', ');
  const classes = [...new Set(g.uncosted.map((u) => u.className))].join(', ');
  throw new Error(`a FLOPs target needs the MACs of every layer, and ${layers} ${g.uncosted.length > 1 ? 'have' : 'has'} weights but no ` +
    `cost rule: register a handler with macs for ${classes} (registerHandler(className, {group, macs: (call, cin, cout) => ...})), ` +
    'or prune a number of units (prune({units})) instead of a FLOPs target');
}

/** Kept-unit counts per space. */
export const unitCounts = (kept: KeptView): number[] => kept.map((k) => k.filter(Boolean).length);

/** Costs of the current masks. */
export const costsOf = (g: Grouping, kept: KeptView): Costs => costsAt(g, unitCounts(kept));

/** Normalizers of docs/method.md §4 (plus 'latency': predicted time freed on the profiled backend). */
export type Normalizer = 'memory' | 'flops' | 'none' | 'latency';
export const normalizers: Normalizer[] = ['memory', 'flops', 'none', 'latency'];

/** Cost freed between two costings, per normalizer. */
export const freed: Record<Normalizer, (before: Costs, after: Costs) => number> = {
  memory: (b, a) => b.memory - a.memory,
  flops: (b, a) => b.macs - a.macs,
  none: () => 1,
  latency: (b, a) => b.time! - a.time!,
};

/**
 * Units of a space of n units (`width` channels each) whose removal the 'latency' normalizer averages the freed time
 * over: enough for the widest channel pack the model fitted, at most n - 1. Inside a pack one unit may free no
 * time at all, and a space whose next unit frees nothing would never be pruned; 1 for the other normalizers.
 * @example latencyStep(16, 1, 'latency', lat) // 8 where some call runs in packs of 8
 */
export function latencyStep(n: number, width: number, normalizer: Normalizer, latency?: LatencyModel): number {
  if (normalizer !== 'latency' || !latency) return 1;
  const pack = latency.calls.reduce((p, c) => Math.max(p, c.pack ?? 1), 1);
  return Math.max(1, Math.min(n - 1, Math.ceil(pack / width)));
}

/**
 * Cost freed by removing one unit of each space at the current counts (0 for a space at one unit); for 'latency',
 * the time freed per unit over the next latencyStep() units. 'latency' needs the model made by profileLatency().
 * @example deltaCosts(g, kept, 'memory')[3];
 */
export function deltaCosts(g: Grouping, kept: KeptView, normalizer: Normalizer, latency?: LatencyModel): number[] {
  if (normalizer === 'latency' && !latency) throw new Error("the 'latency' normalizer needs a latency model: run profileLatency() on the backend to prune for");
  const counts = unitCounts(kept);
  const model = normalizer === 'latency' ? latency : undefined;
  const before = costsAt(g, counts, model);
  return counts.map((n, s) => {
    if (n < 2) return 0;
    const step = latencyStep(n, g.spaces[s].unit, normalizer, model);
    const fewer = counts.slice();
    fewer[s] = n - step;
    return freed[normalizer](before, costsAt(g, fewer, model)) / step;
  });
}
