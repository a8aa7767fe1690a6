/**
 * The pruning core as plain data: a PruneSetup (what stays fixed for one model) and a PruneState (what the steps
 * change). Each step takes a state and returns a new one; the state passed in is never changed.
 */
import type {Grouping, Space} from '../graph';
import {checkNumber} from '../train/validate';
import {Criterion} from './criteria';
import {assertCosted, costsAt, costsOf, LatencyModel, Normalizer} from './costs';
import {allKept, Kept, keptChannels} from './masks';
import {checkRanking, nextCount, Ranking, RankedUnit, unitScores} from './ranking';

/** What stays fixed while one model is pruned: its grouping, the spaces that may lose units, the costs to compare with. */
export interface PruneSetup {
  grouping: Grouping;
  /** Per space: prunable, and with grouping off also one producer and nothing coupled. */
  eligible: boolean[];
  /** MACs and memory of the unpruned model. */
  baseline: {macs: number; memory: number};
  /** Keep every pruned space's channel count a multiple of this, or its full width. */
  roundTo: number;
  /** For the 'latency' normalizer (profileLatency()). */
  latency?: LatencyModel;
}

/** What the steps change, as plain data (JSON round-trips). */
export interface PruneState {
  /** kept[space][unit]. */
  kept: Kept;
  /** Fisher summed over the steps since the last prune, per space and unit (zeros before any). */
  fisher: number[][];
  /** First-order Taylor sums, accumulated beside Fisher. */
  taylor: number[][];
  /** Fisher steps since the last prune. */
  fisherSteps: number;
  /** Loss of the last Fisher step (absent before any). */
  loss?: number;
  /** Numbers the 'random' criterion's seeded source (seed 0) has drawn: it draws once per prune that ranks by it. */
  randomDraws: number;
  /** Whether a prune happened (error messages say since when Fisher is missing). */
  pruned: boolean;
}

/** One step's Fisher and Taylor per space and unit, and its loss (fisherStep's, read back). */
export interface StepScores { loss: number; fisher: ArrayLike<number>[]; taylor: ArrayLike<number>[] }

/** What prune() removed. */
export interface PrunedUnit extends RankedUnit { producers: string[]; macs: number; memory: number; macsRatio: number }

/** Costs summary of a state: per space the kept unit indices and channel counts, MACs and memory against the baseline. */
export interface PrunerState {
  macs: number; memory: number; macsRatio: number; memoryRatio: number;
  spaces: {id: number; units: number; kept: number[]; channels: number; keptChannels: number; prunable: boolean}[];
}

const eligibleSpace = (s: Space, grouping: boolean): boolean => s.prunable && (grouping || (s.members.length === 1 && s.producers.length === 1));

/**
 * The fixed part of pruning a grouped model; throws when no space may be pruned, saying why for each.
 * @example const setup = pruneSetup(group(model), {grouping: false});
 */
export function pruneSetup(g: Grouping, opts: {grouping?: boolean; roundTo?: number; latency?: LatencyModel} = {}): PruneSetup {
  const roundTo = checkNumber('pruner({roundTo})', opts.roundTo ?? 1, 'count');
  const eligible = g.spaces.map((s) => eligibleSpace(s, opts.grouping !== false));
  if (!eligible.some(Boolean)) {
    const why = g.spaces.map((s) => `space ${s.id} (${s.producers.join(', ') || s.members[0].layer}): ${s.reason ?? 'coupled (grouping off)'}`);
    throw new Error(`model "${g.graph.model.name}" has no prunable channel space:\n  ${why.join('\n  ')}`);
  }
  return {grouping: g, eligible, baseline: costsOf(g, allKept(g)), roundTo, latency: opts.latency};
}

const zeros = (g: Grouping): number[][] => g.spaces.map((s) => new Array<number>(s.units).fill(0));

/**
 * Every unit kept, nothing scored yet.
 * @example let state = initialState(setup);
 */
export const initialState = (setup: PruneSetup): PruneState => {
  const g = setup.grouping;
  return {kept: allKept(g), fisher: zeros(g), taylor: zeros(g), fisherSteps: 0, randomDraws: 0, pruned: false};
};

/**
 * A new state with one step's Fisher and Taylor added (eq. 4 summed over the steps since the last prune); it shares no array with `state`.
 * @example state = accumulate(state, {loss, fisher: [[0.1, 0.2]], taylor: [[0.3, 0.1]]});
 */
export function accumulate(state: PruneState, step: StepScores): PruneState {
  const add = (sums: number[][], more: ArrayLike<number>[]) => sums.map((s, i) => s.map((x, k) => x + more[i][k]));
  return {...state, kept: state.kept.map((k) => [...k]), fisher: add(state.fisher, step.fisher), taylor: add(state.taylor, step.taylor), fisherSteps: state.fisherSteps + 1, loss: step.loss};
}

/**
 * A new state with the kept flag of each given unit set to `on` (units pruned or restored by hand, e.g. a run's rows
 * after some point); throws naming a unit that is not in the state.
 * @example p.restore(setKept(p.snapshot(), [{space: 3, unit: 5}], false));
 */
export function setKept(state: PruneState, units: readonly {space: number; unit: number}[], on: boolean): PruneState {
  const kept = state.kept.map((k) => [...k]);
  for (const {space, unit} of units) {
    if (!(Number.isInteger(space) && Number.isInteger(unit) && unit >= 0 && unit < (kept[space]?.length ?? 0))) {
      throw new Error(`setKept: space ${space} unit ${unit} is not in the state (spaces 0..${kept.length - 1}${kept[space] ? `, units 0..${kept[space].length - 1}` : ''})`);
    }
    kept[space][unit] = on;
  }
  return {...state, kept};
}

/**
 * Throw unless `state` fits the setup's grouping (a state of another model, or edited by hand): names what is wrong.
 * @example checkState(setup, JSON.parse(saved));
 */
export function checkState(setup: PruneSetup, state: PruneState): void {
  const units = setup.grouping.spaces.map((s) => s.units);
  for (const key of ['kept', 'fisher', 'taylor'] as const) {
    const v = state[key];
    const bad = Array.isArray(v) && v.length === units.length ? v.findIndex((a, s) => !Array.isArray(a) || a.length !== units[s]) : -2;
    if (bad !== -1) throw new Error(`state.${key} must hold one array per space with one entry per unit (units per space: [${units}])${bad >= 0 ? `; space ${bad} differs` : ''}`);
  }
  const empty = state.kept.findIndex((k) => !k.some(Boolean));
  if (empty >= 0) throw new Error(`state.kept must keep at least one unit of every space; space ${empty} keeps none`);
  checkNumber('state.fisherSteps', state.fisherSteps, 'countOrZero');
  checkNumber('state.randomDraws', state.randomDraws, 'countOrZero');
}

/**
 * Costs summary of a state's kept units.
 * @example summary(setup, state).macsRatio;
 */
export function summary(setup: PruneSetup, state: PruneState): PrunerState {
  const {grouping: g, baseline} = setup;
  const c = costsOf(g, state.kept);
  return {
    macs: c.macs, memory: c.memory, macsRatio: c.macs / baseline.macs, memoryRatio: c.memory / baseline.memory,
    spaces: g.spaces.map((s, i) => ({id: s.id, units: s.units, kept: state.kept[i].flatMap((on, k) => (on ? [k] : [])), channels: s.channels,
      keptChannels: keptChannels(g, state.kept, g.spaceOf.indexOf(i)).length, prunable: setup.eligible[i]})),
  };
}

/**
 * Remove the `units` lowest-ranked units, one at a time: each is the unit normalize() would rank first after the
 * removals before it (the costs follow the counts; Fisher does not change). With roundTo > 1 a space loses whole
 * chunks down to its next allowed width (scored by their summed criterion over the cost the chunk frees), so the last
 * chunk may take it past `units`. With `stopAt`, it stops early once MACs / baseline MACs are at or below it (a
 * schedule's FLOPs target). The new state has no Fisher: the next prune needs new Fisher steps.
 * @example const {state: next, removed} = prune(setup, state, {units: 1, normalizer: 'memory', criterion: 'fisher'});
 */
export function prune(setup: PruneSetup, state: PruneState, o: {units: number; normalizer: Normalizer; criterion: Criterion; stopAt?: number}): {state: PruneState; removed: PrunedUnit[]} {
  const g = setup.grouping;
  checkRanking(setup, state, o, 'prune()');
  const kept = state.kept.map((k) => [...k]);
  const {scores, draws} = unitScores(setup, state, o.criterion);
  const ranking = new Ranking(g, kept, scores, setup.eligible, o.normalizer, setup.latency, setup.roundTo);
  const removed: PrunedUnit[] = [];
  while (removed.length < o.units && !(removed.length > 0 && removed[removed.length - 1].macsRatio <= (o.stopAt ?? 0))) {
    const best = ranking.next();
    if (!best) break;
    const chunk = ranking.remove(best);
    const c = costsOf(g, kept);
    // with roundTo, a chunk of units goes at once: one row each, with the chunk's score
    for (const unit of chunk) removed.push({...best, unit, producers: g.spaces[best.space].producers, macs: c.macs, memory: c.memory, macsRatio: c.macs / setup.baseline.macs});
  }
  const next = {...initialState(setup), kept, randomDraws: state.randomDraws + draws, pruned: true};
  return {state: next, removed};
}

/**
 * The smallest FLOPs ratio pruning can reach from `kept`: every eligible space at its smallest allowed count.
 * @example minFlopsRatio(setup, state.kept); // e.g. 0.04 for resnet20, 0.96 for resnext without grouping
 */
export function minFlopsRatio(setup: PruneSetup, kept: Kept): number {
  const g = setup.grouping;
  const floor = (s: Space, n: number): number => {
    for (let m = n; ; ) { const next = nextCount(m, s.unit, setup.roundTo); if (next < 1) return m; m = next; }
  };
  const counts = kept.map((k) => k.filter(Boolean).length);
  return costsAt(g, g.spaces.map((s, i) => (setup.eligible[i] ? floor(s, counts[i]) : counts[i]))).macs / setup.baseline.macs;
}

/**
 * Throw a clear error when a FLOPs ratio cannot be reached by pruning every eligible space to its smallest count.
 * @example checkTarget(setup, state.kept, 0.5);
 */
export function checkTarget(setup: PruneSetup, kept: Kept, targetFlops: number): void {
  if (!(targetFlops > 0 && targetFlops <= 1)) throw new Error(`targetFlops must be in (0, 1], got ${targetFlops}`);
  assertCosted(setup.grouping);
  const floor = minFlopsRatio(setup, kept);
  if (targetFlops < floor) {
    throw new Error(`targetFlops ${targetFlops} cannot be reached: pruning every prunable space of "${setup.grouping.graph.model.name}" to ${setup.roundTo > 1 ? `its smallest multiple of ${setup.roundTo} channels` : 'one unit'} leaves ${floor.toFixed(4)} of the FLOPs; choose a target >= ${floor.toFixed(4)}`);
  }
}
