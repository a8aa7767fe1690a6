/** Ranking (docs/method.md §4): unit scores by criterion, divided by the cost a unit frees; normalize() and the incremental Ranking prune() uses. */
import type {Grouping} from '../graph';
import {mulberry32} from '../data/prng';
import {costsAt, latencyStep, deltaCosts, freed, LatencyModel, Normalizer, normalizers, unitCounts} from './costs';
import {Criterion, criteria, criterionNames, scored} from './criteria';
import type {Kept} from './masks';
import type {PruneSetup, PruneState} from './prune_state';

/** One unit with its Fisher, the cost it frees and their ratio (the ranking score). */
export interface RankedUnit { space: number; unit: number; fisher: number; cost: number; score: number }

/** normalize()'s result: the prunable kept units, lowest score first (`fisher` of a unit holds the criterion's value). */
export interface Ranked { normalizer: Normalizer; criterion?: Criterion; units: RankedUnit[] }

/**
 * Throw a clear error for an unknown normalizer or criterion, a 'latency' normalizer without a latency model, or a
 * criterion that reads Fisher when the state has none since the last prune (ranking zeros would prune arbitrary units).
 * @example checkRanking(setup, state, {normalizer: 'memory', criterion: 'fisher'}, 'prune()');
 */
export function checkRanking(setup: PruneSetup, state: PruneState, o: {normalizer: Normalizer; criterion: Criterion}, step: string): void {
  if (!normalizers.includes(o.normalizer)) throw new Error(`unknown normalizer "${o.normalizer}": use one of ${normalizers.map((n) => `'${n}'`).join(', ')}`);
  if (o.normalizer === 'latency' && !setup.latency) throw new Error("normalize('latency') needs a latency model: await p.profileLatency() first (or pass options.latency)");
  if (!criterionNames.includes(o.criterion)) throw new Error(`unknown criterion "${o.criterion}": use one of ${criterionNames.map((n) => `'${n}'`).join(', ')}`);
  if (scored[o.criterion] && state.fisherSteps === 0) {
    throw new Error(`${step} needs Fisher, and none was accumulated since ${state.pruned ? 'the last prune()' : 'the pruner was made'}: run p.score(batches) first`);
  }
}

/**
 * Every unit's score by a criterion, per space, and how many numbers the 'random' source drew for it (those
 * continue from state.randomDraws, so the same state gives the same scores).
 * @example const {scores} = unitScores(setup, state, 'l1');
 */
export function unitScores(setup: PruneSetup, state: PruneState, criterion: Criterion): {scores: number[][]; draws: number} {
  const random = mulberry32(0);
  for (let i = 0; i < state.randomDraws; i++) random();
  let draws = 0;
  const counted = () => { draws++; return random(); };
  const scores = criteria[criterion]({g: setup.grouping, fisher: state.fisher, taylor: state.taylor, random: counted, eligible: setup.eligible});
  return {scores, draws};
}

/**
 * Rank the state's kept units by criterion / cost freed (docs/method.md §4), lowest first. 'fisher' and 'taylor' need
 * Fisher steps since the last prune; 'l1', 'l2' (filter norms summed over the space's producers), 'bn' (|gamma| summed
 * over its BatchNormalization layers) read the weights; 'random' draws from the state's seeded source. The costs are
 * those of one unit: with roundTo > 1, prune() ranks whole chunks instead.
 * @example normalize(setup, state, {normalizer: 'memory', criterion: 'fisher'}).units[0];
 */
export function normalize(setup: PruneSetup, state: PruneState, o: {normalizer: Normalizer; criterion: Criterion}): Ranked {
  checkRanking(setup, state, o, 'normalize()');
  const {scores} = unitScores(setup, state, o.criterion);
  const cost = deltaCosts(setup.grouping, state.kept, o.normalizer, setup.latency);
  const units: RankedUnit[] = [];
  state.kept.forEach((kept, i) => {
    if (!setup.eligible[i] || cost[i] <= 0) return;
    kept.forEach((on, k) => { if (on) units.push({space: i, unit: k, fisher: scores[i][k], cost: cost[i], score: scores[i][k] / cost[i]}); });
  });
  return {normalizer: o.normalizer, criterion: o.criterion, units: units.sort((a, b) => a.score - b.score)};
}

/**
 * The unit count a space of `n` kept units of `width` channels each goes down to next, its channel count a multiple
 * of `roundTo` (the full width it starts from need not be); 0 when it cannot shrink.
 * @example nextCount(10, 1, 4) // 8: 10 channels -> 8
 */
export function nextCount(n: number, width: number, roundTo: number): number {
  for (let m = n - 1; m >= 1; m--) if ((m * width) % roundTo === 0) return m;
  return 0;
}

/**
 * The kept units ranked as normalize() ranks them, kept up to date as units are removed one at a time: the
 * same choices as re-ranking everything after each removal (docs/method.md §4-5), at the cost of the spaces a
 * removal touches. A unit's score is fisher / cost freed, the cost is one number per space, so within a space
 * the order is the Fisher order; removing a unit of space s changes the costs of the spaces that share a
 * layer call with s only (a call's MACs and outputs depend on the spaces its input and output carry).
 * With `roundTo` > 1 a space loses its lowest units down to the next allowed count at once (a chunk): its score is
 * their summed Fisher over the cost the chunk frees, and next() names the chunk by its first unit.
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
  /** Per space, the units its candidate removes (lowest Fisher first). */
  private readonly chunks: number[][];

  constructor(private readonly g: Grouping, private readonly kept: Kept, private readonly fisher: number[][],
    private readonly eligible: boolean[], private readonly normalizer: Normalizer, private readonly latency?: LatencyModel, private readonly roundTo = 1) {
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
    this.chunks = g.spaces.map(() => []);
    this.cost = g.spaces.map((_, s) => this.costOf(s));
    this.best = g.spaces.map((_, s) => this.candidate(s));
  }

  /** The count space s goes down to next (0: it cannot shrink). */
  private target(s: number): number {
    return nextCount(this.counts[s], this.g.spaces[s].unit, this.roundTo);
  }

  /**
   * Cost freed by space s's next chunk at the current counts, from the calls that depend on s only; a chunk of one
   * unit frees, with 'latency', the time per unit over the next latencyStep() units (as deltaCosts does).
   */
  private costOf(s: number): number {
    const m = this.target(s);
    if (!this.eligible[s] || m < 1) return 0;
    const {g, latency} = this.local[s];
    const model = this.normalizer === 'latency' ? latency : undefined;
    const n = this.counts[s];
    const step = n - m === 1 ? latencyStep(n, this.g.spaces[s].unit, this.normalizer, this.latency) : n - m;
    const fewer = this.counts.slice();
    fewer[s] = n - step;
    return freed[this.normalizer](costsAt(g, this.counts, model), costsAt(g, fewer, model)) / (n - m === 1 ? step : 1);
  }

  /** Space s's lowest-scored unit, or chunk (ties: the lower unit, as a stable sort of normalize() puts it first). */
  private candidate(s: number): RankedUnit | undefined {
    const [cost, list, f] = [this.cost[s], this.order[s], this.fisher[s]];
    if (!(cost > 0) || list.length === 0) return undefined;
    const size = this.counts[s] - this.target(s);
    if (size > 1) {
      this.chunks[s] = list.slice(0, size);
      const fisher = this.chunks[s].reduce((a, k) => a + f[k], 0);
      return {space: s, unit: list[0], fisher, cost, score: fisher / cost};
    }
    const score = f[list[0]] / cost;
    let unit = list[0];
    for (let i = 1; i < list.length && f[list[i]] / cost === score; i++) unit = Math.min(unit, list[i]);
    this.chunks[s] = [unit];
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
   * Remove a unit (its kept flag goes false), or with roundTo the chunk next() named by it, and update the costs it
   * changes; returns the units removed.
   * @example ranking.remove(ranking.next()!);
   */
  remove(u: {space: number; unit: number}): number[] {
    const chunk = this.chunks[u.space][0] === u.unit ? this.chunks[u.space] : [u.unit];
    const list = this.order[u.space];
    for (const unit of chunk) {
      const at = list.indexOf(unit);
      if (at < 0) throw new Error(`unit ${unit} of space ${u.space} is not kept`);
      list.splice(at, 1);
      this.kept[u.space][unit] = false;
    }
    this.counts[u.space] -= chunk.length;
    for (const t of this.touched[u.space]) this.cost[t] = this.costOf(t);
    for (const t of this.touched[u.space]) this.best[t] = this.candidate(t);
    this.best[u.space] = this.candidate(u.space);
    return chunk;
  }
}
