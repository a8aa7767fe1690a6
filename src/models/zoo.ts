import * as tf from '@tensorflow/tfjs';
import {ModelOptions} from './common';
import {concatNet} from './concat_net';
import {mobilenetV2} from './mobilenet_v2';
import {regnetx} from './regnetx';
import {resnet} from './resnet';
import {resnext} from './resnext';

/** Names of the ready-made models. */
export type ZooName = 'resnet20' | 'resnet56' | 'mobilenetv2' | 'resnext' | 'regnetx' | 'concatnet';

/**
 * Ready-made models by name, each with the builder defaults except 'mobilenetv2', which is the
 * small variant (alpha 0.5, 11 blocks, last conv 640 channels) so it trains on CPU.
 * @example const m = zoo.resnet20({inputShape: [28, 28, 1], classes: 10});
 */
export const zoo: Record<ZooName, (o: ModelOptions) => tf.LayersModel> = {
  resnet20: (o) => resnet({...o, depth: 20}),
  resnet56: (o) => resnet({...o, depth: 56}),
  mobilenetv2: (o) => mobilenetV2({...o, alpha: 0.5, variant: 'small', lastChannels: 640}),
  resnext: (o) => resnext(o),
  regnetx: (o) => regnetx(o),
  concatnet: (o) => concatNet(o),
};

/**
 * The zoo's model names.
 * @example zooNames() // ['resnet20', 'resnet56', ...]
 */
export function zooNames(): ZooName[] {
  return Object.keys(zoo) as ZooName[];
}

/**
 * Builds a zoo model by name; an unknown name throws listing the valid ones.
 * @example const m = byName('resnext', {inputShape: [32, 32, 3], classes: 10, seed: 1});
 */
export function byName(name: string, opts: ModelOptions): tf.LayersModel {
  if (!Object.prototype.hasOwnProperty.call(zoo, name)) {
    throw new Error(`models: unknown model '${name}' (valid: ${zooNames().join(', ')})`);
  }
  return zoo[name as ZooName](opts);
}
