/** A model by name or path, and the checks that it fits the data, before any work. */
import * as tf from '@tensorflow/tfjs';
import {existsSync} from 'fs';
import {DataOptions, InputShape, loadDataset, LoadedData} from '../data';
import {byName, ModelName, modelNames, zooModels} from '../models';
import {loadModel} from '../train';

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

/** True for a name of the zoo (as opposed to a path). */
export const isZooName = (spec: string): spec is ModelName => Object.hasOwn(zooModels, spec);

/**
 * A zoo model by name (fresh weights; input shape default: the zoo's, [28, 28, 1] for classifiers, [64, 64, 1] for
 * fpn-detector) or a tfjs model.json / model directory from disk.
 * @example const model = await resolveModel('datasets/pretrained/resnet20', [28, 28, 1], 10);
 */
export async function resolveModel(spec: string, inputShape: [number, number, number] | undefined, classes: number, seed?: number): Promise<tf.LayersModel> {
  if (isZooName(spec)) return byName(spec, {inputShape: inputShape ?? zooModels[spec].inputShape, classes, ...(seed === undefined ? {} : {seed})});
  if (!existsSync(spec)) throw new Error(`model "${spec}" is neither a zoo name (${modelNames().join(', ')}) nor an existing model.json or model directory`);
  return loadModel(spec);
}

/**
 * The model and data of a classification command: a model from disk is loaded first (its input sizes an image folder),
 * a named model is built for the data (inputShape sizes an image folder); both are checked against the data before any work.
 * @example const {model, data} = await modelAndData('datasets/pretrained/resnet20', {dataset: 'fashion-mnist'});
 */
export async function modelAndData(spec: string, o: DataOptions, inputShape?: InputShape, seed?: number): Promise<{model: tf.LayersModel; data: LoadedData}> {
  const disk = isZooName(spec) ? undefined : await resolveModel(spec, undefined, 0);
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
