import type {ChannelMap, Grouping} from '../graph';
import type {Kept} from './masks';

/** Per-sample totals of the masked model at its current kept units. */
export interface Costs { macs: number; memory: number }

const positions = (shape: number[]): number => shape.slice(0, -1).reduce((a, b) => a * b, 1);

/** Kept channels of a map, counted from kept-unit counts per space. */
const channelsOf = (g: Grouping, counts: number[], map: ChannelMap): number =>
  map.spatial * map.segments.reduce((s, m) => s + (g.members[m].channels / g.spaces[g.spaceOf[m]].units) * counts[g.spaceOf[m]], 0);

/**
 * MACs and conv/FC activation memory (elements per sample) when space s keeps counts[s] units.
 * @example costsAt(g, g.spaces.map((s) => s.units)).macs;
 */
export function costsAt(g: Grouping, counts: number[]): Costs {
  let macs = 0;
  let memory = 0;
  for (const c of g.calls) {
    const cout = channelsOf(g, counts, c.output);
    if (c.handler.macs) macs += c.handler.macs(c.call, channelsOf(g, counts, c.inputs[0]), cout);
    if (c.handler.produces) memory += positions(c.call.outputShape) * cout;
  }
  return {macs, memory};
}

/** Kept-unit counts per space. */
export const unitCounts = (kept: Kept): number[] => kept.map((k) => k.filter(Boolean).length);

/** Costs of the current masks. */
export const costsOf = (g: Grouping, kept: Kept): Costs => costsAt(g, unitCounts(kept));

/** Normalizers of METHOD.md §4: the cost one unit of a space frees. */
export type Normalizer = 'memory' | 'flops' | 'none';

const freed: Record<Normalizer, (before: Costs, after: Costs) => number> = {
  memory: (b, a) => b.memory - a.memory,
  flops: (b, a) => b.macs - a.macs,
  none: () => 1,
};

/**
 * Cost freed by removing one unit of each space at the current counts (0 for a space at one unit).
 * @example deltaCosts(g, kept, 'memory')[3];
 */
export function deltaCosts(g: Grouping, kept: Kept, normalizer: Normalizer): number[] {
  const counts = unitCounts(kept);
  const before = costsAt(g, counts);
  return counts.map((n, s) => {
    if (n < 2) return 0;
    const fewer = counts.slice();
    fewer[s] = n - 1;
    return freed[normalizer](before, costsAt(g, fewer));
  });
}
