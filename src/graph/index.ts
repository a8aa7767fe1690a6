export {execute, readModel, refKey} from './model_graph';
export type {Call, InputHook, ModelGraph, Shape, TensorRef} from './model_graph';
export {group} from './spaces';
export type {CallMaps, Grouping, Member, Space} from './spaces';
export {handlers, registerHandler} from './handlers';
export type {ChannelMap, GroupContext, Keep, LayerHandler} from './handlers';
