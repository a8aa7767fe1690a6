import * as tf from '@tensorflow/tfjs';
import type { TaskKind } from '../data/registry';
import {ModelOptions} from './common';
import {concatNet} from './concat_net';
import {fpnDetector} from './fpn_detector';
import {mobilenetV2} from './mobilenet_v2';
import {regnetx} from './regnetx';
import {resnet} from './resnet';
import {resnext} from './resnext';

/** Names of the ready-made classifiers. */
export type ZooName = 'resnet20' | 'resnet56' | 'mobilenetv2' | 'resnext' | 'regnetx' | 'concatnet';
/** Names of the ready-made detectors. */
export type DetectorName = 'fpn-detector';
/** Every name the zoo builds. */
export type ModelName = ZooName | DetectorName;

/** A ready-made model: its task, the input shape it is built for unless told otherwise, its builder. */
export interface ZooModel { task: TaskKind; inputShape: [number, number, number]; build: (o: ModelOptions) => tf.LayersModel }

const classifier = (build: ZooModel['build']): ZooModel => ({task: 'classification', inputShape: [28, 28, 1], build});

/**
 * Every ready-made model by name, each with the builder defaults except 'mobilenetv2', which is the
 * small variant (alpha 0.5, 11 blocks, last conv 640 channels) so it trains on CPU.
 * @example zooModels['fpn-detector'].task // 'detection'
 */
export const zooModels: Record<ModelName, ZooModel> = {
  resnet20: classifier((o) => resnet({...o, depth: 20})),
  resnet56: classifier((o) => resnet({...o, depth: 56})),
  mobilenetv2: classifier((o) => mobilenetV2({...o, alpha: 0.5, variant: 'small', lastChannels: 640})),
  resnext: classifier((o) => resnext(o)),
  regnetx: classifier((o) => regnetx(o)),
  concatnet: classifier((o) => concatNet(o)),
  // chosen on the Fashion-MNIST scenes: width 16 / FPN 48 underfits (train AP50 = test AP50 = 0.46); headNorm: +1.8 AP50 after 24 epochs at lr 4e-3
  'fpn-detector': {task: 'detection', inputShape: [64, 64, 1], build: (o) => fpnDetector({...o, width: 24, fpnWidth: 48, headNorm: true})},
};

/**
 * Names of the zoo's models, all or of one task.
 * @example modelNames('detection') // ['fpn-detector']
 */
export const modelNames = (task?: TaskKind): ModelName[] => (Object.keys(zooModels) as ModelName[]).filter((k) => task === undefined || zooModels[k].task === task);

/**
 * The zoo's classifier names.
 * @example zooNames() // ['resnet20', 'resnet56', ...]
 */
export function zooNames(): ZooName[] {
  return modelNames('classification') as ZooName[];
}

/**
 * The classifiers by name.
 * @example const m = zoo.resnet20({inputShape: [28, 28, 1], classes: 10});
 */
export const zoo = Object.fromEntries(zooNames().map((k) => [k, zooModels[k].build])) as Record<ZooName, ZooModel['build']>;

/**
 * Builds a zoo model (classifier or detector) by name; an unknown name throws listing the valid ones.
 * @example const m = byName('resnext', {inputShape: [32, 32, 3], classes: 10, seed: 1});
 */
export function byName(name: string, opts: ModelOptions): tf.LayersModel {
  if (!Object.hasOwn(zooModels, name)) throw new Error(`models: unknown model '${name}' (valid: ${modelNames().join(', ')})`);
  return zooModels[name as ModelName].build(opts);
}
