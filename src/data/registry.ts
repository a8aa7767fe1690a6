/**
 * Every dataset the library loads by name, in one table: the classification sets (fashion-mnist,
 * cifar10, image-folder) and the detection sets (Fashion-MNIST scenes); COCO files
 * "train.json[,test.json]" are detection sets too. The CLI, trainModel and pruneModel load through it.
 */
import * as path from 'path';
import { cifar10 } from './cifar';
import { readCoco } from './coco';
import { BatchOptions, ImageDataset } from './dataset';
import { DetectionDataset, detectionScenes } from './detection';
import { fashionMnist } from './fashion_mnist';
import { imageFolder, pixelScaling } from './image_folder';

/** Kinds of task: the data decides which (labels per image or boxes per image). */
export type TaskKind = 'classification' | 'detection';

/** How a dataset is chosen and read: --dataset, --data (alias --data-dir), --limit and the pixel options. */
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

const dataKeys: (keyof DataOptions)[] = ['dataset', 'data', 'limit', 'imageSize', 'channels', 'testSplit', 'splitSeed', 'range', 'mean', 'std'];

/**
 * The data options among wider options (e.g. pruneModel's), those that are set.
 * @example dataOptionsOf({dataset: 'cifar10', data: 'c10', model: 'resnet20'}) // {dataset: 'cifar10', data: 'c10'}
 */
export const dataOptionsOf = (o: DataOptions): DataOptions => Object.fromEntries(dataKeys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));

/** A model's per-sample input [h, w, c]; null where the model takes any size. */
export type InputShape = [number | null, number | null, number | null];

/** A classification dataset as loaded by name. */
export interface LoadedData {
  /** For reports and resume checks: fashion-mnist, cifar10, or image-folder:DIR. */
  name: string;
  /** How messages name it: dataset "cifar10", image folder DIR. */
  label: string;
  train: ImageDataset;
  test: ImageDataset;
  /** Augmentation while training, where the dataset has one. */
  augment?: BatchOptions['augment'];
  /** How the pixels were read and scaled: plain data for report.json. */
  preprocessing: Record<string, unknown>;
}

/** A detection set: train and test splits and, for generated sets, fresh training scenes per epoch. */
export interface DetectionSplits {
  train: DetectionDataset;
  test: DetectionDataset;
  /** The training set of each epoch: `train` at epoch 0, new scenes (as many) after; absent for fixed sets (COCO files). */
  epochs?: (epoch: number) => DetectionDataset;
}

interface ClassificationEntry {
  task: 'classification';
  /** What `data` (--data) names for this dataset (`required`: it must be given). */
  data: string;
  required: boolean;
  augment?: BatchOptions['augment'];
  /** The splits; `fit` is the [h, w, c] an image folder defaults to (the model's input; null: free). */
  load(dir: string | undefined, o: DataOptions, fit?: InputShape): Promise<{ train: ImageDataset; test: ImageDataset }>;
}

interface DetectionEntry {
  task: 'detection';
  /** The splits, each at most `limit` scenes. */
  load(limit?: number): Promise<DetectionSplits>;
}

/** Dataset names of the registry. */
export type DatasetName = 'fashion-mnist' | 'cifar10' | 'image-folder' | 'fashion-scenes' | 'fashion-scenes-128';

/**
 * Fashion-MNIST scenes on a `size` canvas, items scaled 0.5-2x at 64 (proportionally larger on a larger canvas):
 * 16384 train scenes from the train items, 2048 test scenes from the test items (AP50 of 512 varied by +-1.2
 * points in a bootstrap).
 */
async function fashionScenes(size: number, limit?: number): Promise<DetectionSplits> {
  const items = await fashionMnist();
  const geometry = { size, scale: [size / 128, size / 32] as [number, number] };
  // the first N scenes of a seed do not depend on how many are drawn: limit keeps a prefix
  const scenes = (seed: number) => detectionScenes(items.train, { count: Math.min(limit ?? 16384, 16384), seed, ...geometry });
  const train = scenes(1);
  return {
    train,
    test: detectionScenes(items.test, { count: Math.min(limit ?? 2048, 2048), seed: 2, ...geometry }),
    // epoch e >= 1 draws new scenes (seed 1000 + e) from the same training items: no scene is seen twice
    epochs: (epoch) => (epoch === 0 ? train : scenes(1000 + epoch)),
  };
}

/**
 * The datasets by name, with their task.
 * @example datasets['fashion-scenes'].task // 'detection'
 */
export const datasets: Record<DatasetName, ClassificationEntry | DetectionEntry> = {
  'fashion-mnist': { task: 'classification', data: 'the folder of its four IDX files (default: the shipped copy)', required: false, load: (dir) => fashionMnist({ dir }) },
  cifar10: {
    task: 'classification', data: 'the folder with data_batch_1.bin ... data_batch_5.bin, test_batch.bin', required: true,
    augment: { flip: true, padCrop: 4 }, load: (dir) => cifar10({ dir: dir as string }),
  },
  'image-folder': {
    task: 'classification', data: 'DIR/train/<class>/* and DIR/test/<class>/*, or DIR/<class>/* (PNG, JPEG)', required: true,
    load: (dir, o, fit) => imageFolder(dir as string, {
      size: o.imageSize ?? (fit?.[0] && fit[1] ? [fit[0], fit[1]] : undefined), channels: o.channels ?? (fit?.[2] === 1 ? 1 : fit?.[2] === 3 ? 3 : undefined),
      range: o.range, mean: o.mean, std: o.std, split: o.testSplit, seed: o.splitSeed,
    }),
  },
  'fashion-scenes': { task: 'detection', load: (limit) => fashionScenes(64, limit) },
  // 1000 steps of the fpn-detector: AP50 0.64 against 0.52 at 64x64, for 4x the MACs
  'fashion-scenes-128': { task: 'detection', load: (limit) => fashionScenes(128, limit) },
};

/**
 * Names of the registry's datasets of one task.
 * @example datasetNames('detection') // ['fashion-scenes', 'fashion-scenes-128']
 */
export const datasetNames = (task: TaskKind): DatasetName[] => (Object.keys(datasets) as DatasetName[]).filter((k) => datasets[k].task === task);

/**
 * The dataset the options name: `dataset`, else image-folder when `data` is given, else fashion-mnist.
 * @example datasetName({data: 'photos'}) // 'image-folder'
 */
export const datasetName = (o: DataOptions): string => o.dataset ?? (o.data === undefined ? 'fashion-mnist' : 'image-folder');

/** COCO JSON file(s) "train.json[,test.json]". */
const isCoco = (name: string): boolean => name.split(',').every((f) => f.endsWith('.json'));

/**
 * The task of a dataset name: the registry's, detection for COCO files, else classification (loadDataset rejects an unknown name).
 * @example datasetTask('fashion-scenes') // 'detection'; datasetTask('fashion-mnist') // 'classification'
 */
export const datasetTask = (name: string): TaskKind => (Object.hasOwn(datasets, name) ? datasets[name as DatasetName].task : isCoco(name) ? 'detection' : 'classification');

const imageOnly: [keyof DataOptions, string][] = [['imageSize', '--image-size'], ['channels', '--channels'], ['testSplit', '--test-split'], ['splitSeed', '--split-seed']];

/**
 * A classification dataset from the options, with a clear error for an unknown name, a missing `data`, or image-folder options on another set.
 * `fit` ([h, w, c], a model's input) is the size an image folder is read at unless imageSize / channels say otherwise.
 * @example const {train, test, preprocessing} = await loadDataset({data: 'photos', range: [-1, 1]}, [96, 96, 3]);
 */
export async function loadDataset(o: DataOptions, fit?: InputShape): Promise<LoadedData> {
  const name = datasetName(o);
  const detection = datasetNames('detection');
  if (datasetTask(name) === 'detection') throw new Error(`dataset "${name}" is a detection set: only gfp train and gfp prune read it (with fpn-detector)`);
  if (!Object.hasOwn(datasets, name)) {
    const valid = (Object.entries(datasets) as [DatasetName, ClassificationEntry | DetectionEntry][]).filter(([, e]) => e.task === 'classification') as [DatasetName, ClassificationEntry][];
    throw new Error(`unknown dataset "${name}"; valid: ${valid.map(([k, e]) => `${k}${e.required ? ' (with --data DIR)' : ''}`).join(', ')}; ` +
      `for detectors: ${detection.join(', ')} or COCO files train.json[,test.json]`);
  }
  const entry = datasets[name as DatasetName] as ClassificationEntry;
  if (entry.required && o.data === undefined) throw new Error(`dataset "${name}" needs --data DIR: ${entry.data}`);
  const misplaced = name === 'image-folder' ? [] : imageOnly.filter(([k]) => o[k] !== undefined).map(([, flag]) => flag);
  if (misplaced.length) throw new Error(`${misplaced.join(', ')} ${misplaced.length > 1 ? 'apply' : 'applies'} to image folders (--data DIR) only, not to dataset "${name}"`);
  const loaded = await entry.load(o.data, o, fit);
  // image folders scale their own batches; the named sets get range / mean, std here
  const stats = name === 'image-folder' ? undefined : pixelScaling(o, loaded.train.shape[2], '--range / --mean / --std');
  const scaled = (ds: ImageDataset) => (stats ? ds.normalized(stats) : ds);
  const first = (ds: ImageDataset) => (o.limit === undefined ? ds : ds.take(Math.min(o.limit, ds.size)));
  const [train, test] = [first(scaled(loaded.train)), first(scaled(loaded.test))];
  const scaling = stats ?? { range: o.range ?? [0, 1] };
  return {
    name: name === 'image-folder' ? `image-folder:${o.data}` : name,
    label: name === 'image-folder' ? `image folder ${o.data}` : `dataset "${name}"`,
    train, test, augment: entry.augment,
    preprocessing: train.preprocessing ? { ...train.preprocessing } : { dataset: name, ...(o.data === undefined ? {} : { dir: o.data }), ...scaling },
  };
}

/**
 * Train and test detection sets by name, or from COCO JSON "train.json[,test.json]" (test defaults to train).
 * @example const {train, test} = await loadDetectionDataset('fashion-scenes', 256);
 */
export async function loadDetectionDataset(name: string, limit?: number): Promise<DetectionSplits> {
  if (datasetTask(name) !== 'detection') {
    throw new Error(`unknown detection dataset "${name}"; valid: ${datasetNames('detection').join(', ')} or COCO files train.json[,test.json]`);
  }
  if (Object.hasOwn(datasets, name)) return (datasets[name as DatasetName] as DetectionEntry).load(limit);
  const [trainFile, testFile = trainFile] = name.split(',');
  const [train, test] = [await readCoco(path.resolve(trainFile)), await readCoco(path.resolve(testFile))];
  const first = (ds: DetectionDataset) => (limit === undefined || limit >= ds.size ? ds : ds.subset(Array.from({ length: limit }, (_, i) => i)));
  return { train: first(train), test: first(test) };
}
