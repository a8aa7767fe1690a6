export {Pruner, pruner} from './pruner';
export type {PrunedUnit, PrunerOptions, PrunerState, Ranked, RankedUnit, ScoreReport, TrainSettings} from './pruner';
export type {Normalizer} from './costs';
