// Tasks over the library: what pruning and training need per kind of data, and the whole jobs behind `gfp prune` / `gfp train`.
export {checkModelData, inputOf, isZooName, modelAndData, resolveModel} from './model_data';
export {detectorLoss, pruneTask} from './prune_task';
export type {FinetuneSettings, PruneTask} from './prune_task';
export {pruneModel} from './prune_model';
export type {PruneFigures, PruneModelOptions, PruneReport} from './prune_model';
export {trainDetectorModel} from './train_detector_model';
export type {DetectorTrainReport, TrainDetectorModelOptions} from './train_detector_model';
