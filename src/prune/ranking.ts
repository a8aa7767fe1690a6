import type {Grouping} from '../graph';
import {costsAt, freed, LatencyModel, Normalizer, unitCounts} from './costs';
import type {Kept} from './masks';

/** One unit with its Fisher, the cost it frees and their ratio (the ranking score). */
export interface RankedUnit { space: number; unit: number; fisher: number; cost: number; score: number }

/**
 * The kept units ranked as normalize() ranks them, kept up to date as units are removed one at a time: the
 * same choices as re-ranking everything after each removal (METHOD.md §4-5), at the cost of the spaces a
 * removal touches. A unit's score is fisher / cost freed, the cost is one number per space, so within a space
 * the order is the Fisher order; removing a unit of space s changes the costs of the spaces that share a
 * layer call with s only (a call's MACs and outputs depend on the spaces its input and output carry).
 * @example const r = new Ranking(g, kept, fisher, eligible, 'memory'); const u = r.next(); if (u) r.remove(u);
 */
export class Ranking {
  private readonly counts: number[];
  /** Per space, its kept units by Fisher, lowest first (ties: lower unit first). */
  private readonly order: number[][];
  /** Per space, the cost one unit frees at the current counts; 0: not ranked (not eligible, one unit left, frees nothing). */
  private readonly cost: number[];
  /** Per space, the grouping restricted to the calls whose costs depend on it (its latency fits with them). */
  private readonly local: {g: Grouping; latency?: LatencyModel}[];
  /** Per space, the spaces whose costs change when it loses a unit (itself included). */
  private readonly touched: number[][];
  /** Per space, its candidate at the current cost and kept units. */
  private readonly best: (RankedUnit | undefined)[];

  constructor(private readonly g: Grouping, private readonly kept: Kept, private readonly fisher: number[][],
    private readonly eligible: boolean[], private readonly normalizer: Normalizer, private readonly latency?: LatencyModel) {
    if (normalizer === 'latency' && !latency) throw new Error("the 'latency' normalizer needs a latency model: run profileLatency() on the backend to prune for");
    this.counts = unitCounts(kept);
    // spaces read or written by each call (every input, not only the first: a superset is safe)
    const spacesOf = g.calls.map((c) => [...new Set([...c.inputs, c.output].flatMap((m) => m.segments.map((k) => g.spaceOf[k])))]);
    const callsOf: number[][] = g.spaces.map(() => []);
    spacesOf.forEach((spaces, i) => spaces.forEach((s) => callsOf[s].push(i)));
    this.local = callsOf.map((calls) => {
      const sub = {...g, calls: calls.map((i) => g.calls[i])};
      const keys = new Set(sub.calls.map((c) => `${c.call.layer.name}#${c.call.call}`));
      return {g: sub, latency: latency && {...latency, calls: latency.calls.filter((c) => keys.has(`${c.layer}#${c.call}`))}};
    });
    this.touched = callsOf.map((calls, s) => [...new Set([s, ...calls.flatMap((i) => spacesOf[i])])].filter((t) => eligible[t]));
    this.order = kept.map((units, s) => units.flatMap((on, k) => (on ? [k] : [])).sort((a, b) => fisher[s][a] - fisher[s][b] || a - b));
    this.cost = g.spaces.map((_, s) => this.costOf(s));
    this.best = g.spaces.map((_, s) => this.candidate(s));
  }

  /** Cost freed by one unit of space s at the current counts, from the calls that depend on s only. */
  private costOf(s: number): number {
    const n = this.counts[s];
    if (!this.eligible[s] || n < 2) return 0;
    const {g, latency} = this.local[s];
    const model = this.normalizer === 'latency' ? latency : undefined;
    const fewer = this.counts.slice();
    fewer[s] = n - 1;
    return freed[this.normalizer](costsAt(g, this.counts, model), costsAt(g, fewer, model));
  }

  /** Space s's lowest-scored unit (ties: the lower unit, as a stable sort of normalize() puts it first). */
  private candidate(s: number): RankedUnit | undefined {
    const [cost, list, f] = [this.cost[s], this.order[s], this.fisher[s]];
    if (!(cost > 0) || list.length === 0) return undefined;
    const score = f[list[0]] / cost;
    let unit = list[0];
    for (let i = 1; i < list.length && f[list[i]] / cost === score; i++) unit = Math.min(unit, list[i]);
    return {space: s, unit, fisher: f[unit], cost, score};
  }

  /**
   * The unit normalize() would rank first now: the lowest score, ties to the lower space, then the lower unit.
   * @example const u = ranking.next(); // undefined when nothing is left to prune
   */
  next(): RankedUnit | undefined {
    let best: RankedUnit | undefined;
    for (const c of this.best) if (c && (!best || c.score < best.score)) best = c;
    return best && {...best};
  }

  /**
   * Remove a unit (its kept flag goes false) and update the costs it changes.
   * @example ranking.remove(ranking.next()!);
   */
  remove(u: {space: number; unit: number}): void {
    const list = this.order[u.space];
    const at = list.indexOf(u.unit);
    if (at < 0) throw new Error(`unit ${u.unit} of space ${u.space} is not kept`);
    list.splice(at, 1);
    this.kept[u.space][u.unit] = false;
    this.counts[u.space]--;
    for (const t of this.touched[u.space]) this.cost[t] = this.costOf(t);
    for (const t of this.touched[u.space]) this.best[t] = this.candidate(t);
    this.best[u.space] = this.candidate(u.space);
  }
}
