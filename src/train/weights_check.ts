/**
 * Checks on a model's weights: where a model.json's weight files may lie, whether its weightsManifest fits the
 * model its topology builds, and whether weights are finite on load (after training: checkWeights in loop.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'fs';
import * as path from 'path';

/** Count of NaN, +Inf and -Inf entries. */
export function countNonFinite(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) n++;
  return n;
}

/** Every weight of `model` with the name of the layer holding it (a nested model's layers by their own names). */
export function layerWeights(model: tf.LayersModel): { layer: string; weight: tf.LayerVariable }[] {
  const seen = new Set<number>();
  const walk = (layers: tf.layers.Layer[]): { layer: string; weight: tf.LayerVariable }[] => layers.flatMap((l) =>
    l instanceof tf.LayersModel ? walk(l.layers)
      : l.weights.filter((w) => !seen.has(w.id) && seen.add(w.id)).map((weight) => ({ layer: l.name, weight })));
  return walk(model.layers);
}

/**
 * The path of weights file `p` of `modelJson`, refused unless it names a file inside the model's folder
 * (no URL, no absolute path, no `..` out of it): checked on the name alone, before any file is touched.
 */
export function weightsPath(modelJson: string, p: unknown): string {
  const dir = path.resolve(path.dirname(modelJson));
  const where = `${modelJson}: weightsManifest path ${JSON.stringify(p)}`;
  const rule = "weight files must lie in the model's folder, named relative to it (e.g. 'weights.bin')";
  if (typeof p !== 'string' || p === '') throw new Error(`${where} is not a file name: ${rule}`);
  if (/^[a-z][a-z\d+.-]*:/i.test(p)) {
    throw new Error(`${where} is a URL: loadModel reads files only; download the weights next to model.json and name them by file name`);
  }
  const rel = path.relative(dir, path.resolve(dir, p));
  if (path.isAbsolute(p) || rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new Error(`${where} points outside the model's folder ${dir}: ${rule}`);
  }
  return path.join(dir, rel);
}

/** Refuses a weights file that is a link to a file outside the model's folder (e.g. an unpacked archive's symlink). */
export async function assertInside(modelJson: string, file: string): Promise<void> {
  const [dir, real] = await Promise.all([fs.realpath(path.dirname(path.resolve(modelJson))), fs.realpath(file).catch(() => undefined)]);
  if (real !== undefined && !real.startsWith(dir + path.sep)) { // undefined: missing, as reading it will say
    throw new Error(`${modelJson}: weights file ${file} links to ${real}, outside the model's folder ${dir}: copy the file into the folder`);
  }
}

/** One manifest entry with the files of its group, as the messages name them. */
export interface PlacedSpec { spec: tf.io.WeightsManifestEntry; files: string }

const shape = (s: number[]): string => `[${s.join(', ')}]`;
const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/**
 * Matches the manifest's weights to the model's by name (as tf.LayersModel.loadWeights does: the name, else
 * without a Keras cell name) and refuses, naming the layer, weight, file, and both shapes, a weight missing, listed
 * twice, left over, or of another shape or dtype; and a model with weights whose manifest lists none.
 * Returns the layer of each manifest weight.
 */
export function matchWeights(model: tf.LayersModel, specs: PlacedSpec[], modelJson: string): Map<string, string> {
  const owned = layerWeights(model);
  const byName = new Map(owned.map((o) => [o.weight.originalName, o]));
  if (owned.length && !specs.length) {
    const names = owned.slice(0, 4).map((o) => o.weight.originalName).join(', ') + (owned.length > 4 ? ', ...' : '');
    throw new Error(`${modelJson} has no weights (its weightsManifest is missing or empty) but the model has ${owned.length} (${names}): ` +
      'loading it would silently give random weights. Export the model together with its weights (model.save, or tensorflowjs_converter ' +
      'on a model saved with its weights); if random initial weights are really wanted, build the model yourself: ' +
      'tf.models.modelFromJSON({modelTopology: json.modelTopology})');
  }
  const layerOf = new Map<string, string>();
  for (const { spec, files } of specs) {
    const tokens = spec.name.split('/');
    const target = byName.get(spec.name) ?? byName.get([...tokens.slice(0, -2), tokens[tokens.length - 1]].join('/'));
    if (layerOf.has(spec.name)) throw new Error(`${modelJson}: the weightsManifest lists weight ${spec.name} twice`);
    if (!target) {
      throw new Error(`${modelJson}: the weightsManifest lists weight ${spec.name} ${shape(spec.shape)} (in ${files}), which no layer of the model holds; ` +
        `the model's weights are ${owned.map((o) => o.weight.originalName).join(', ')}: the weights belong to another model`);
    }
    const { layer, weight } = target;
    if (weight.shape.join() !== spec.shape.join() || weight.dtype !== spec.dtype) {
      const n = size(weight.shape as number[]);
      const m = size(spec.shape);
      throw new Error(`${modelJson}: layer '${layer}' expects weight ${spec.name} of shape ${shape(weight.shape as number[])} ${weight.dtype} (${n} values) ` +
        `but ${files} holds ${shape(spec.shape)} ${spec.dtype} (${m} values${m === n ? ', the same count in another shape' : ''}) ` +
        'per the weightsManifest: the weights belong to another version of the model; export the model and its weights together');
    }
    byName.delete(weight.originalName);
    layerOf.set(spec.name, layer);
  }
  if (byName.size) {
    const [{ layer, weight }] = byName.values();
    throw new Error(`${modelJson}: layer '${layer}' weight ${weight.originalName} ${shape(weight.shape as number[])} is not in the weightsManifest ` +
      `(${byName.size} of the model's ${owned.length} weights are missing): the weights belong to another model`);
  }
  return layerOf;
}
