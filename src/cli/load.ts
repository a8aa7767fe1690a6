import * as tf from '@tensorflow/tfjs';
import {existsSync} from 'fs';
import {fashionMnist, ImageDataset} from '../data';
import {byName, zooNames} from '../models';
import {loadModel} from '../train';

/** Datasets the CLI can load by name. */
export type DatasetName = 'fashion-mnist';
const datasets: Record<DatasetName, (limit?: number) => Promise<{train: ImageDataset; test: ImageDataset}>> = {
  'fashion-mnist': async (limit) => {
    const {train, test} = await fashionMnist();
    // at most `limit` samples of each split, in file order
    return limit === undefined ? {train, test} : {train: train.take(Math.min(limit, train.size)), test: test.take(Math.min(limit, test.size))};
  },
};

/** Load a dataset by name, with a clear error for an unknown one. */
export async function loadDataset(name: string, limit?: number): Promise<{train: ImageDataset; test: ImageDataset}> {
  const load = datasets[name as DatasetName];
  if (!load) throw new Error(`unknown dataset "${name}"; valid: ${Object.keys(datasets).join(', ')}`);
  return load(limit);
}

/**
 * A zoo model by name (fresh weights) or a tfjs model.json / model directory from disk.
 * @example const model = await resolveModel('datasets/pretrained/resnet20', [28, 28, 1], 10);
 */
export async function resolveModel(spec: string, inputShape: [number, number, number], classes: number): Promise<tf.LayersModel> {
  if ((zooNames() as string[]).includes(spec)) return byName(spec, {inputShape, classes});
  if (!existsSync(spec)) throw new Error(`model "${spec}" is neither a zoo name (${zooNames().join(', ')}) nor an existing model.json or model directory`);
  return loadModel(spec);
}

/** Parse "28,28,1" into a shape. */
export function parseShape(s: string): [number, number, number] {
  const v = s.split(',').map(Number);
  if (v.length !== 3 || v.some((d) => !Number.isInteger(d) || d <= 0)) throw new Error(`--input-shape "${s}": expected three positive integers like 28,28,1`);
  return v as [number, number, number];
}

/** Parse a positive integer option, naming it in the error. */
export function int(name: string): (s: string) => number {
  return (s) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} "${s}": expected a positive integer`);
    return v;
  };
}

/** Parse a number option, naming it in the error. */
export function num(name: string): (s: string) => number {
  return (s) => {
    const v = Number(s);
    if (!Number.isFinite(v)) throw new Error(`${name} "${s}": expected a number`);
    return v;
  };
}
