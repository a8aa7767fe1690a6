export {execute, readModel, refKey} from './model_graph';
export type {Call, InputHook, ModelGraph, Shape, TensorRef} from './model_graph';
export {group} from './spaces';
export type {CallMaps, Grouping, Member, Space, Uncosted} from './spaces';
export {barrier, configOf, handlerOf, handlers, isInput, isNoise, registerHandler} from './handlers';
export type {ChannelMap, GroupContext, Keep, LayerClass, LayerHandler} from './handlers';
