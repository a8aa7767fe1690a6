/** Learning-rate schedules: a named decay after an optional linear warm-up, as pure functions of the step. */
import { checkNumber, checkOptions } from './validate';

/** Names of the decay shapes applied after warm-up. */
export type ScheduleName = 'constant' | 'cosine' | 'step';

/** Everything a schedule needs; steps count optimizer updates from 0. */
export interface ScheduleOptions {
  name: ScheduleName;
  /** Peak learning rate (reached at the end of warm-up). */
  lr: number;
  /** Total optimizer steps of the run, warm-up included. */
  totalSteps: number;
  /** Linear warm-up steps: step s < warmupSteps gets lr * (s + 1) / warmupSteps. Default 0. */
  warmupSteps?: number;
  /** 'cosine' reaches this value at step totalSteps. Default 0. */
  minLr?: number;
  /** 'step': fractions of the post-warm-up steps at which lr is multiplied by gamma. Default [0.5, 0.75]. */
  milestones?: number[];
  /** 'step': the factor applied at each milestone. Default 0.1. */
  gamma?: number;
}

/** A decay shape: t in [0, 1) is the fraction of post-warm-up steps done. */
type Decay = (t: number, o: ScheduleOptions) => number;

const decays: Record<ScheduleName, Decay> = {
  constant: (_t, o) => o.lr,
  // lr_t = minLr + (lr - minLr) * (1 + cos(pi t)) / 2
  cosine: (t, o) => {
    const min = o.minLr ?? 0;
    return min + (o.lr - min) * 0.5 * (1 + Math.cos(Math.PI * t));
  },
  step: (t, o) => {
    const passed = (o.milestones ?? [0.5, 0.75]).filter((m) => t >= m).length;
    return o.lr * Math.pow(o.gamma ?? 0.1, passed);
  },
};

/**
 * Learning rate at optimizer step `step` (0-based) under the schedule `o`.
 * @example learningRate(0, {name: 'cosine', lr: 0.1, totalSteps: 100, warmupSteps: 10}) // 0.01
 */
export function learningRate(step: number, o: ScheduleOptions): number {
  if (!(o.name in decays)) {
    throw new Error(`unknown learning-rate schedule '${o.name}'; valid: ${Object.keys(decays).join(', ')}`);
  }
  checkOptions('learningRate', o, {lr: 'nonNegative', totalSteps: 'count', warmupSteps: 'countOrZero', minLr: 'nonNegative', gamma: 'positive'});
  checkNumber('learningRate(step)', step, 'countOrZero');
  const warm = o.warmupSteps ?? 0;
  if (step < warm) return (o.lr * (step + 1)) / warm;
  const span = Math.max(1, o.totalSteps - warm);
  return decays[o.name](Math.min(1, (step - warm) / span), o);
}

/**
 * The schedule names, for CLI help and validation.
 * @example scheduleNames.join('|') // 'constant|cosine|step'
 */
export const scheduleNames = Object.keys(decays) as ScheduleName[];
