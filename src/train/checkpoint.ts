/**
 * Models and checkpoints on disk in the tfjs layers format (model.json + weights.bin), which
 * pure-JS tfjs cannot write or read in Node without a file:// handler. A checkpoint directory
 * also holds optimizer.bin (slot tensors) and checkpoint.json (training state and the hashes
 * of both binaries). Every save writes temp files, then renames them, checkpoint.json last.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'fs';
import * as path from 'path';
import '../models'; // registers GroupConv2D, so loadModel can deserialise zoo models
import { Optimizer, OptimizerOptions, OptimizerState } from './optimizer';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
const OPTIMIZER_BIN = 'optimizer.bin';
const CHECKPOINT_JSON = 'checkpoint.json';

/** Bytes per stored element, by dtype (quantized weights by their quantization dtype). */
const bytesPer: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** What checkpoint.json holds besides the caller's state. */
interface CheckpointJson<S> {
  format: 'gfp-checkpoint';
  version: 1;
  state: S;
  optimizer: { options: OptimizerOptions; step: number; specs: tf.io.WeightsManifestEntry[] };
  /** FNV-1a hashes of the binaries, to detect files from different saves. */
  hashes: Record<string, string>;
}

/** FNV-1a 32-bit hash as hex. */
function fnv1a(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * Write every file as a temp file, then rename them in order, so a reader never sees a half-written file.
 * @example await writeFilesAtomic('runs/a', [['report.json', JSON.stringify(report)]]);
 */
export async function writeFilesAtomic(dir: string, files: [string, string | Uint8Array][]): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const tmp = (name: string) => path.join(dir, `.${name}.tmp-${process.pid}`);
  for (const [name, data] of files) await fs.writeFile(tmp(name), data);
  for (const [name] of files) await fs.rename(tmp(name), path.join(dir, name));
}

/** model.json text and weights.bin bytes of a model (all weights, BatchNorm moving statistics included). */
async function modelFiles(model: tf.LayersModel): Promise<{ json: string; weights: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  const a = artifacts as tf.io.ModelArtifacts;
  const json: tf.io.ModelJSON = {
    modelTopology: a.modelTopology as object,
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: a.weightSpecs ?? [] }],
    ...(a.userDefinedMetadata ? { userDefinedMetadata: a.userDefinedMetadata } : {}),
  };
  const weights = new Uint8Array(a.weightData ? tf.io.CompositeArrayBuffer.join(a.weightData) : new ArrayBuffer(0));
  return { json: JSON.stringify(json), weights };
}

/**
 * Save `model` to `dir` as model.json + weights.bin (tfjs layers format; loadModel or tf.loadLayersModel read it).
 * @example await saveModel(model, 'runs/resnet20'); const again = await loadModel('runs/resnet20');
 */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  const { json, weights } = await modelFiles(model);
  await writeFilesAtomic(dir, [[WEIGHTS_BIN, weights], [MODEL_JSON, json]]);
}

/** Reads one weights group's shard files, checking that they hold exactly the bytes the manifest describes. */
async function readGroup(dir: string, group: tf.io.WeightsManifestConfig[number], modelJson: string): Promise<Uint8Array> {
  const expected = group.weights.reduce((sum, w) => {
    const size = bytesPer[w.quantization?.dtype ?? w.dtype];
    if (size === undefined) throw new Error(`${modelJson}: weight ${w.name} has dtype ${w.dtype}, which loadModel cannot size`);
    return sum + size * w.shape.reduce((a, b) => a * b, 1);
  }, 0);
  const files = group.paths.map((p) => path.join(dir, p));
  const chunks: Uint8Array[] = [];
  for (const file of files) {
    try {
      chunks.push(await fs.readFile(file));
    } catch {
      throw new Error(`weights file ${file} (named in ${modelJson}) is missing; expected ${expected} bytes in ${group.paths.join(', ')}`);
    }
  }
  const got = chunks.reduce((n, c) => n + c.length, 0);
  if (got !== expected) {
    throw new Error(`weights file ${files.join(', ')} has ${got} bytes, expected ${expected} (from the weightsManifest of ${modelJson}); the file is truncated or belongs to another model`);
  }
  const all = new Uint8Array(got);
  chunks.reduce((offset, c) => (all.set(c, offset), offset + c.length), 0);
  return all;
}

/**
 * Load a tfjs layers model from a directory holding model.json, or from a model.json path (weights read from disk).
 * @example const model = await loadModel('runs/resnet20'); // or 'runs/resnet20/model.json'
 */
export async function loadModel(dirOrModelJson: string): Promise<tf.LayersModel> {
  const isDir = await fs.stat(dirOrModelJson).then((s) => s.isDirectory(), () => false);
  const file = isDir ? path.join(dirOrModelJson, MODEL_JSON) : dirOrModelJson;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new Error(`no model.json at ${file}: expected a tfjs layers model (model.json + weights.bin) as written by 'gfp train' or saveModel`);
  }
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text) as tf.io.ModelJSON;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (json.modelTopology === undefined) throw new Error(`${file} has no modelTopology: not a tfjs layers model.json`);
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const parts = [];
    for (const group of manifest) parts.push(await readGroup(path.dirname(file), group, file));
    const specs = manifest.flatMap((g) => g.weights);
    return [specs, tf.io.concatenateArrayBuffers(parts.map((p) => p.slice().buffer))];
  });
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/**
 * Save a training checkpoint to `dir`: the model, the optimizer state and the caller's plain-data `state`.
 * @example await saveCheckpoint('runs/r20', model, optimizer, {epoch: 3, step: 2814});
 */
export async function saveCheckpoint<S>(dir: string, model: tf.LayersModel, optimizer: Optimizer, state: S): Promise<void> {
  const { json, weights } = await modelFiles(model);
  const opt = optimizer.getState();
  const encoded = await tf.io.encodeWeights(opt.tensors).finally(() => tf.dispose(Object.values(opt.tensors)));
  const optBytes = new Uint8Array(encoded.data);
  const ckpt: CheckpointJson<S> = {
    format: 'gfp-checkpoint',
    version: 1,
    state,
    optimizer: { options: opt.options, step: opt.step, specs: encoded.specs },
    hashes: { [WEIGHTS_BIN]: fnv1a(weights), [OPTIMIZER_BIN]: fnv1a(optBytes) },
  };
  await writeFilesAtomic(dir, [
    [WEIGHTS_BIN, weights],
    [MODEL_JSON, json],
    [OPTIMIZER_BIN, optBytes],
    [CHECKPOINT_JSON, JSON.stringify(ckpt, null, 1)],
  ]);
}

/**
 * True when `dir` holds a checkpoint.json.
 * @example if (await hasCheckpoint(out)) console.log('resumable');
 */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  return fs.stat(path.join(dir, CHECKPOINT_JSON)).then((s) => s.isFile(), () => false);
}

/**
 * Load a checkpoint written by saveCheckpoint: the model, the optimizer state (caller disposes its tensors) and the caller's state.
 * @example const {model, optimizer, state} = await loadCheckpoint<MyState>('runs/r20');
 */
export async function loadCheckpoint<S>(dir: string): Promise<{ model: tf.LayersModel; optimizer: OptimizerState; state: S }> {
  const file = path.join(dir, CHECKPOINT_JSON);
  let ckpt: CheckpointJson<S>;
  try {
    ckpt = JSON.parse(await fs.readFile(file, 'utf8')) as CheckpointJson<S>;
  } catch (e) {
    throw new Error(`cannot read checkpoint ${file}: ${(e as Error).message}`);
  }
  if (ckpt.format !== 'gfp-checkpoint') throw new Error(`${file} is not a gfp checkpoint (format '${ckpt.format}')`);
  const binaries: Record<string, Uint8Array> = {};
  for (const name of [WEIGHTS_BIN, OPTIMIZER_BIN]) {
    binaries[name] = await fs.readFile(path.join(dir, name)).catch(() => {
      throw new Error(`checkpoint ${dir} lacks ${name}`);
    });
    if (fnv1a(binaries[name]) !== ckpt.hashes[name]) {
      throw new Error(`${path.join(dir, name)} does not match ${file} (hash differs; interrupted while saving?): cannot resume from ${dir}`);
    }
  }
  const model = await loadModel(dir);
  const bytes = binaries[OPTIMIZER_BIN];
  const tensors = tf.io.decodeWeights(bytes.slice().buffer, ckpt.optimizer.specs);
  return { model, optimizer: { options: ckpt.optimizer.options, step: ckpt.optimizer.step, tensors }, state: ckpt.state };
}
