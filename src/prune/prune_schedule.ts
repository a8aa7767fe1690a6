/** The pruning schedule (docs/method.md §5): train with masks, prune every `interval` steps until a FLOPs target, with checkpoints and resume. */
import * as tf from '@tensorflow/tfjs';
import type {Progress} from '../train';
import {Criterion} from './criteria';
import {Normalizer} from './costs';
import {scoreBatch, ScoreBatch, ScoreStepOptions} from './fisher';
import type {Kept} from './masks';
import {prune, PrunedUnit, PruneSetup, PruneState, summary} from './prune_state';

/** Where the schedule stood right after a pruning: enough to continue with the same result. */
export interface RunCheckpoint { steps: number; epoch: number; batchInEpoch: number; kept: Kept; rows: RunRow[] }

/** One pruning of the schedule: the step it happened at, the training loss then, and what was removed. */
export interface RunRow extends PrunedUnit { step: number; loss: number }

/** What the schedule reads: its data, target, pace, ranking, and hooks. */
export interface ScheduleOptions<O extends tf.Tensor, B extends ScoreBatch> {
  data: {size: number; batches(batchSize: number, opts?: {shuffle?: boolean; seed?: number}): Iterable<B>};
  targetFlops: number;
  interval: number;
  unitsPerPrune: number;
  normalizer: Normalizer;
  criterion: Criterion;
  batchSize: number;
  /** Epoch e is shuffled with seed + e, so a resumed run sees the same order. */
  seed: number;
  /** The loss, the weights trained and their update. */
  step: Omit<ScoreStepOptions<O, B>, 'where'>;
  checkpointEvery: number;
  onPrune?: (row: RunRow) => void;
  onCheckpoint?: (c: RunCheckpoint) => Promise<void>;
  resume?: RunCheckpoint;
  progress?: Progress;
  /** Called with every new state (a caller that must see the state when a step throws keeps it). */
  onState?: (state: PruneState) => void;
}

/** Dispose every tensor a batch holds. */
export const disposeBatch = (b: object): void => tf.dispose(Object.values(b).filter((v): v is tf.Tensor => v instanceof tf.Tensor));

/**
 * Train with masks and prune `unitsPerPrune` units every `interval` steps until MACs / baseline MACs <= targetFlops
 * (the target is checked beforehand by checkTarget()); the last pruning stops at the unit that reaches it. Returns the final state, the steps taken and one row per unit removed.
 * @example const {state: pruned, rows} = await runSchedule(setup, state, {data: train, targetFlops: 0.5, interval: 25, ...});
 */
export async function runSchedule<O extends tf.Tensor, B extends ScoreBatch>(setup: PruneSetup, start: PruneState, o: ScheduleOptions<O, B>): Promise<{state: PruneState; steps: number; rows: RunRow[]}> {
  let state = o.resume ? {...start, kept: o.resume.kept.map((k) => [...k])} : start;
  const set = (s: PruneState): void => { state = s; o.onState?.(s); };
  set(state);
  const rows: RunRow[] = o.resume ? [...o.resume.rows] : [];
  let steps = o.resume?.steps ?? 0;
  let prunings = 0;
  for (let epoch = o.resume?.epoch ?? 0; summary(setup, state).macsRatio > o.targetFlops; epoch++) {
    o.progress?.start(`pruning, epoch ${epoch + 1}`, Math.ceil(o.data.size / o.batchSize));
    let inEpoch = 0;
    const skip = epoch === o.resume?.epoch ? o.resume.batchInEpoch : 0;
    for (const batch of o.data.batches(o.batchSize, {shuffle: true, seed: o.seed + epoch})) {
      try {
        if (inEpoch >= skip) set(await scoreBatch(setup, state, batch, {...o.step, where: 'run'}));
      } finally {
        disposeBatch(batch);
      }
      if (++inEpoch <= skip) continue;
      steps++;
      o.progress?.update(inEpoch, {loss: state.loss ?? NaN, acc: NaN, samples: inEpoch * o.batchSize});
      if (steps % o.interval !== 0) continue;
      const loss = state.loss ?? NaN;
      // the last pruning stops at the target: no overshoot with many units per pruning
      const r = prune(setup, state, {units: o.unitsPerPrune, normalizer: o.normalizer, criterion: o.criterion, stopAt: o.targetFlops});
      set(r.state);
      for (const u of r.removed) {
        rows.push({...u, step: steps, loss});
        o.onPrune?.(rows[rows.length - 1]);
      }
      const done = summary(setup, state).macsRatio <= o.targetFlops;
      if (o.onCheckpoint && !done && ++prunings % o.checkpointEvery === 0) {
        await o.onCheckpoint({steps, epoch, batchInEpoch: inEpoch, kept: state.kept.map((k) => [...k]), rows: [...rows]});
      }
      if (done) break;
      await tf.nextFrame();
    }
    o.progress?.stop(`pruned to ${(100 * summary(setup, state).macsRatio).toFixed(1)}% of the FLOPs after ${steps} steps`);
  }
  return {state, steps, rows};
}
