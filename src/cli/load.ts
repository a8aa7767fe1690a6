import * as tf from '@tensorflow/tfjs';
import {existsSync} from 'fs';
import {BatchOptions, cifar10, fashionMnist, ImageDataset, imageFolder, ImageFolderOptions, pixelScaling} from '../data';
import {byName, fpnDetector, zooNames} from '../models';
import {loadModel} from '../train';
import {kindText, NumberKind, numberOption} from '../train/validate';

/** The data flags of a command: --dataset, --data (alias --data-dir), --limit and the pixel options. */
export interface DataOptions {
  /** Default: 'image-folder' when `data` is given, 'fashion-mnist' otherwise. */
  dataset?: string;
  data?: string;
  /** At most this many samples of each split, in the dataset's order. */
  limit?: number;
  /** Image folders only: --image-size, --channels, --test-split, --split-seed. */
  imageSize?: [number, number];
  channels?: 1 | 3;
  testSplit?: number;
  splitSeed?: number;
  /** Every classification set: --range, or --mean and --std (on [0, 1] pixel values). */
  range?: [0, 1] | [-1, 1];
  mean?: number[];
  std?: number[];
}

/** A classification dataset as the CLI loaded it. */
export interface LoadedData {
  /** For reports and resume checks: fashion-mnist, cifar10, or image-folder:DIR. */
  name: string;
  /** How messages name it: dataset "cifar10", image folder DIR. */
  label: string;
  train: ImageDataset;
  test: ImageDataset;
  /** Augmentation while training (gfp train), as trainModel's named datasets use it. */
  augment?: BatchOptions['augment'];
  /** How the pixels were read and scaled: plain data for report.json. */
  preprocessing: Record<string, unknown>;
}

/** A model's per-sample input [h, w, c]; null where the model takes any size. */
export type InputShape = [number | null, number | null, number | null];

/** Classification datasets the CLI loads by name. */
export type DatasetName = 'fashion-mnist' | 'cifar10' | 'image-folder';

interface DatasetEntry {
  /** What --data names for this dataset (`required`: it must be given). */
  data: string;
  required: boolean;
  augment?: BatchOptions['augment'];
  /** The splits; `fit` is the [h, w, c] an image folder defaults to (the model's input; null: free). */
  load(dir: string | undefined, o: DataOptions, fit?: InputShape): Promise<{train: ImageDataset; test: ImageDataset}>;
}

const datasets: Record<DatasetName, DatasetEntry> = {
  'fashion-mnist': {data: 'the folder of its four IDX files (default: the shipped copy)', required: false, load: (dir) => fashionMnist({dir})},
  cifar10: {data: 'the folder with data_batch_1.bin ... data_batch_5.bin, test_batch.bin', required: true,
    augment: {flip: true, padCrop: 4}, load: (dir) => cifar10({dir: dir as string})},
  'image-folder': {data: 'DIR/train/<class>/* and DIR/test/<class>/*, or DIR/<class>/* (PNG, JPEG)', required: true,
    load: (dir, o, fit) => imageFolder(dir as string, {
      size: o.imageSize ?? (fit?.[0] && fit[1] ? [fit[0], fit[1]] : undefined), channels: o.channels ?? (fit?.[2] === 1 ? 1 : fit?.[2] === 3 ? 3 : undefined),
      range: o.range, mean: o.mean, std: o.std, split: o.testSplit, seed: o.splitSeed,
    })},
};

/**
 * Detection sets by name (their loaders are in tasks.ts); COCO files "train.json[,test.json]" are detection sets too.
 * @example detectionDatasetNames.includes('fashion-scenes') // true
 */
export const detectionDatasetNames = ['fashion-scenes', 'fashion-scenes-128'] as const;
export type DetectionDatasetName = typeof detectionDatasetNames[number];

/**
 * The dataset a command reads: --dataset, else image-folder when --data is given, else fashion-mnist.
 * @example datasetName({data: 'photos'}) // 'image-folder'
 */
export const datasetName = (o: DataOptions): string => o.dataset ?? (o.data === undefined ? 'fashion-mnist' : 'image-folder');

const imageOnly: [keyof DataOptions, string][] = [['imageSize', '--image-size'], ['channels', '--channels'], ['testSplit', '--test-split'], ['splitSeed', '--split-seed']];

/**
 * A classification dataset from the flags, with a clear error for an unknown name, a missing --data, or image-folder flags on another set.
 * @example const {train, test, preprocessing} = await loadDataset({data: 'photos', range: [-1, 1]}, [96, 96, 3]);
 */
export async function loadDataset(o: DataOptions, fit?: InputShape): Promise<LoadedData> {
  const name = datasetName(o);
  const entry = datasets[name as DatasetName];
  if ((detectionDatasetNames as readonly string[]).includes(name)) throw new Error(`dataset "${name}" is a detection set: only gfp train and gfp prune read it (with fpn-detector)`);
  if (!Object.hasOwn(datasets, name)) {
    throw new Error(`unknown dataset "${name}"; valid: ${Object.entries(datasets).map(([k, e]) => `${k}${e.required ? ' (with --data DIR)' : ''}`).join(', ')}; ` +
      `for detectors: ${detectionDatasetNames.join(', ')} or COCO files train.json[,test.json]`);
  }
  if (entry.required && o.data === undefined) throw new Error(`dataset "${name}" needs --data DIR: ${entry.data}`);
  const misplaced = name === 'image-folder' ? [] : imageOnly.filter(([k]) => o[k] !== undefined).map(([, flag]) => flag);
  if (misplaced.length) throw new Error(`${misplaced.join(', ')} ${misplaced.length > 1 ? 'apply' : 'applies'} to image folders (--data DIR) only, not to dataset "${name}"`);
  const loaded = await entry.load(o.data, o, fit);
  // image folders scale their own batches; the named sets get --range / --mean --std here
  const stats = name === 'image-folder' ? undefined : pixelScaling(o, loaded.train.shape[2], '--range / --mean / --std');
  const scaled = (ds: ImageDataset) => (stats ? ds.normalized(stats) : ds);
  const first = (ds: ImageDataset) => (o.limit === undefined ? ds : ds.take(Math.min(o.limit, ds.size)));
  const [train, test] = [first(scaled(loaded.train)), first(scaled(loaded.test))];
  const scaling = stats ?? {range: o.range ?? [0, 1]};
  return {
    name: name === 'image-folder' ? `image-folder:${o.data}` : name,
    label: name === 'image-folder' ? `image folder ${o.data}` : `dataset "${name}"`,
    train, test, augment: entry.augment,
    preprocessing: train.preprocessing ? {...train.preprocessing} : {dataset: name, ...(o.data === undefined ? {} : {dir: o.data}), ...scaling},
  };
}

/**
 * [h, w, c] of a model's (first) input; undefined unless it is an image input.
 * @example inputOf(zoo.resnet20({inputShape: [32, 32, 3], classes: 10})) // [32, 32, 3]
 */
export function inputOf(model: tf.LayersModel): InputShape | undefined {
  const shape = model.inputs[0].shape.slice(1);
  return shape.length === 3 ? (shape as InputShape) : undefined;
}

/**
 * Throws unless a classifier fits the data: input [h, w, c] equal to the images, output [batch, classes] with the data's class count.
 * @example checkModelData(model, data); // model "m" outputs 7 classes but image folder photos has 10 (a, b, ...)
 */
export function checkModelData(model: tf.LayersModel, data: LoadedData): void {
  const {shape, classes, classNames} = data.train;
  const input = model.inputs[0].shape.slice(1);
  if (input.length !== 3 || input.some((d, i) => d !== null && d !== shape[i])) {
    const hint = data.name.startsWith('image-folder') ? '; leave out --image-size / --channels to read the images at the model\'s input size' : '';
    throw new Error(`model "${model.name}" takes inputs [${input.join(', ')}] but ${data.label} has images [${shape.join(', ')}]${hint}`);
  }
  const output = model.outputs[0].shape;
  const names = classNames ? ` (${classNames.slice(0, 10).join(', ')}${classNames.length > 10 ? ', ...' : ''})` : '';
  if (output.length !== 2) throw new Error(`model "${model.name}" outputs [${output.join(', ')}] but ${data.label} needs [batch, classes] with ${classes} classes${names}`);
  if (output[1] !== classes) throw new Error(`model "${model.name}" outputs ${output[1]} classes but ${data.label} has ${classes}${names}`);
}

/** Detectors the CLI builds by name, with their default input shape. */
export type DetectorName = 'fpn-detector';
const detectors: Record<DetectorName, {inputShape: [number, number, number]; build: (o: {inputShape: [number, number, number]; classes: number; seed?: number}) => tf.LayersModel}> = {
  // chosen on the Fashion-MNIST scenes: width 16 / FPN 48 underfits (train AP50 = test AP50 = 0.46); headNorm: +1.8 AP50 after 24 epochs at lr 4e-3
  'fpn-detector': {inputShape: [64, 64, 1], build: (o) => fpnDetector({...o, width: 24, fpnWidth: 48, headNorm: true})},
};

/**
 * Model names the CLI knows: the zoo's and the detectors.
 * @example modelNames() // ['resnet20', ..., 'fpn-detector']
 */
export const modelNames = (): string[] => [...zooNames(), ...Object.keys(detectors)];

/**
 * The model and data of a classification command: a model from disk is loaded first (its input sizes an image folder),
 * a named model is built for the data (--input-shape sizes an image folder); both are checked against the data before any work.
 * @example const {model, data} = await modelAndData('datasets/pretrained/resnet20', {dataset: 'fashion-mnist'});
 */
export async function modelAndData(spec: string, o: DataOptions, inputShape?: InputShape, seed?: number): Promise<{model: tf.LayersModel; data: LoadedData}> {
  const disk = modelNames().includes(spec) ? undefined : await resolveModel(spec, undefined, 0);
  let model = disk;
  try {
    const data = await loadDataset(o, disk ? inputOf(disk) : inputShape);
    model ??= await resolveModel(spec, data.train.shape, data.train.classes, seed);
    checkModelData(model, data);
    return {model, data};
  } catch (e) {
    model?.dispose();
    throw e;
  }
}

/**
 * A zoo model or detector by name (fresh weights; input shape default [28, 28, 1], detectors [64, 64, 1]) or a tfjs model.json / model directory from disk.
 * @example const model = await resolveModel('datasets/pretrained/resnet20', [28, 28, 1], 10);
 */
export async function resolveModel(spec: string, inputShape: [number, number, number] | undefined, classes: number, seed?: number): Promise<tf.LayersModel> {
  if ((zooNames() as string[]).includes(spec)) return byName(spec, {inputShape: inputShape ?? [28, 28, 1], classes, ...(seed === undefined ? {} : {seed})});
  if (Object.hasOwn(detectors, spec)) {
    const d = detectors[spec as DetectorName];
    return d.build({inputShape: inputShape ?? d.inputShape, classes, seed});
  }
  if (!existsSync(spec)) throw new Error(`model "${spec}" is neither a zoo name (${modelNames().join(', ')}) nor an existing model.json or model directory`);
  return loadModel(spec);
}

/**
 * Parse "a,b,c" into numbers (exactly n when given), naming the option in the error.
 * @example numbers('--mean', 3)('0.5,0.4,0.3') // [0.5, 0.4, 0.3]
 */
export function numbers(name: string, n?: number, kind: NumberKind = 'finite'): (s: string) => number[] {
  const one = numberOption(name, kind);
  return (s) => {
    const parts = s.split(',');
    if (n !== undefined && parts.length !== n) throw new Error(`${name} "${s}": expected ${n} numbers separated by commas`);
    return parts.map((x) => {
      try {
        return one(x);
      } catch {
        throw new Error(`${name} "${s}": expected ${n ?? 'some'} numbers separated by commas, each ${kindText(kind)}`);
      }
    });
  };
}

/** Parse "28,28,1" into a shape. */
export function parseShape(s: string): [number, number, number] {
  const v = s.split(',').map(Number);
  if (v.length !== 3 || v.some((d) => !Number.isInteger(d) || d <= 0)) throw new Error(`--input-shape "${s}": expected three positive integers like 28,28,1`);
  return v as [number, number, number];
}

/** Parse a positive integer option, naming it in the error. */
export const int = (name: string): ((s: string) => number) => numberOption(name, 'count');

/** Parse a number option of the given kind (default: any finite number), naming it and what is valid in the error. */
export const num = (name: string, kind: NumberKind = 'finite'): ((s: string) => number) => numberOption(name, kind);
