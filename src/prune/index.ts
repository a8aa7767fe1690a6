export {Pruner, pruner} from './pruner';
export type {PrunedUnit, PrunerOptions, PrunerState, Ranked, RankedUnit, RunCheckpoint, RunOptions, RunReport, RunRow, ScoreBatch, ScoreReport, TrainSettings} from './pruner';
export type {Normalizer} from './costs';
