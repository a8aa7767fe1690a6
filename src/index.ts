// Public API of group-fisher-pruning: re-exports only.
export {useBackend, backendsAvailable, installedPatches, layerPatches, wasmThreads} from './backend';
export type {BackendName, PatchName, BackendOptions} from './backend';
export * as data from './data';
export * as models from './models';
export * as train from './train';
export {loadModel, saveModel} from './train';
export type {OutputKind, OutputRule} from './train';
export {execute, group, readModel, registerHandler} from './graph';
export type {ChannelMap, GroupContext, Keep, LayerClass, LayerHandler, Space, Uncosted} from './graph';
export {criterionNames, normalizers, profileLatency, Pruner, pruner} from './prune';
export type {Criterion, LatencyModel, Normalizer, PrunedUnit, PrunerOptions, PrunerState, PruneSetup, PruneState, Ranked, RankedUnit, RunOptions, RunReport, RunRow,
  ScoreReport} from './prune';
/** The pruning core's plain-data step functions (pruneSetup, initialState, scoreBatch, normalize, prune, runSchedule, ...). */
export * as core from './prune';
export {apDifference, averagePrecision, compareLatency, countCosts, findChromium, measure, measureInBrowser} from './measure';
export type {Measurement, MeasureOptions} from './measure';
export * as tasks from './tasks';
export {pruneModel} from './tasks';
export type {PruneModelOptions, PruneReport} from './tasks';
export {version} from './version';
export * as viz from './viz';
export * as report from './report';
