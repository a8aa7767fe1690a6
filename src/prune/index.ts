export {Pruner, pruner} from './pruner';
export type {PrunedUnit, PrunerOptions, PrunerState, Ranked, RankedUnit, RunCheckpoint, RunOptions, RunReport, RunRow, ScoreBatch, ScoreReport, TrainSettings} from './pruner';
export type {LatencyModel, Normalizer} from './costs';
export {normalizers} from './costs';
export {profileLatency} from './latency';
export type {ProfileOptions} from './latency';
export {criterionNames} from './criteria';
export type {Criterion} from './criteria';
