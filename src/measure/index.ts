export {measure} from './measure';
export type {Measurement, MeasureOptions} from './measure';
export {countCosts, macsOf, paramsOf} from './count_costs';
export type {Costs, LayerMeasurement} from './count_costs';
export {measureLatency} from './latency';
export type {LatencyMeasurement} from './latency';
export {layerCosts, registerLayerCost} from './layer_costs';
export type {LayerCost, CallSite} from './layer_costs';
