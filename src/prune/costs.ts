import type {ChannelMap, Grouping} from '../graph';
import type {KeptView} from './masks';

/** Per-sample totals of the masked model at its current kept units; time (ms per batch) when a latency model is given. */
export interface Costs { macs: number; memory: number; time?: number }

/**
 * How long each layer call takes on one backend as a function of its work (the 'latency' normalizer's model):
 * per call, ms = intercept + slope * work, with work = MACs for convs and dense layers, output elements otherwise.
 * Made by profileLatency(); plain data, saved with checkpoints and reports.
 */
export interface LatencyModel {
  backend: string;
  batchSize: number;
  calls: {layer: string; call: number; kind: 'macs' | 'elements'; work: number[]; ms: number[]; slope: number; intercept: number}[];
}

const positions = (shape: number[]): number => shape.slice(0, -1).reduce((a, b) => a * b, 1);

/** Kept channels of a map, counted from kept-unit counts per space. */
const channelsOf = (g: Grouping, counts: number[], map: ChannelMap): number =>
  map.spatial * map.segments.reduce((s, m) => s + (g.members[m].channels / g.spaces[g.spaceOf[m]].units) * counts[g.spaceOf[m]], 0);

/** Per call of g.calls: MACs (convs, dense), whether its output counts as memory, and its output elements, per sample. */
export function callWork(g: Grouping, counts: number[]): {macs?: number; produces: boolean; elements: number}[] {
  return g.calls.map((c) => {
    const cout = channelsOf(g, counts, c.output);
    return {macs: c.handler.macs?.(c.call, channelsOf(g, counts, c.inputs[0]), cout), produces: !!c.handler.produces,
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
  if (latency) {
    const fit = new Map(latency.calls.map((c) => [`${c.layer}#${c.call}`, c]));
    costs.time = g.calls.reduce((t, c, i) => {
      const f = fit.get(`${c.call.layer.name}#${c.call.call}`);
      return f ? t + f.intercept + f.slope * (f.kind === 'macs' ? work[i].macs ?? 0 : work[i].elements) : t;
    }, 0);
  }
  return costs;
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
 * Cost freed by removing one unit of each space at the current counts (0 for a space at one unit).
 * 'latency' needs the model made by profileLatency().
 * @example deltaCosts(g, kept, 'memory')[3];
 */
export function deltaCosts(g: Grouping, kept: KeptView, normalizer: Normalizer, latency?: LatencyModel): number[] {
  if (normalizer === 'latency' && !latency) throw new Error("the 'latency' normalizer needs a latency model: run profileLatency() on the backend to prune for");
  const counts = unitCounts(kept);
  const model = normalizer === 'latency' ? latency : undefined;
  const before = costsAt(g, counts, model);
  return counts.map((n, s) => {
    if (n < 2) return 0;
    const fewer = counts.slice();
    fewer[s] = n - 1;
    return freed[normalizer](before, costsAt(g, fewer, model));
  });
}
