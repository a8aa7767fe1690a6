/**
 * Models and checkpoints on disk in the tfjs layers format (model.json + weights.bin), which
 * pure-JS tfjs cannot write or read in Node without a file:// handler. A checkpoint is a folder
 * DIR/ckpt-N (model.json, weights.bin, optimizer.bin) written and flushed in full, then switched to
 * by one rename of DIR/checkpoint.json (training state, the set's name, the hashes of its binaries):
 * a save killed at any point leaves the previous checkpoint whole. Every write goes through a
 * WriteFs layer (write_fs.ts) and is flushed (fsync) before its rename.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'fs';
import * as path from 'path';
import { ownSharedLayers } from '../models'; // also registers GroupConv2D, so loadModel can deserialise zoo models
import { Optimizer, OptimizerOptions, OptimizerState } from './optimizer';
import { assertInside, countNonFinite, matchWeights, weightsPath } from './weights_check';
import { nodeFs, WriteFs } from './write_fs';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
const OPTIMIZER_BIN = 'optimizer.bin';
const CHECKPOINT_JSON = 'checkpoint.json';

/** Bytes per stored element, by dtype (quantized weights by their quantization dtype). */
const bytesPer: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** What checkpoint.json holds besides the caller's state. */
interface CheckpointJson<S> {
  format: 'gfp-checkpoint';
  /** 1: the binaries beside checkpoint.json; 2: in the folder `set`. */
  version: 1 | 2;
  set?: string;
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
 * Write every file as a flushed temp file, then rename them in order (a reader never sees a half-written file);
 * on failure the temp files are removed and the error names the file.
 * @example await writeFilesAtomic('runs/a', [['report.json', JSON.stringify(report)]]);
 */
export async function writeFilesAtomic(dir: string, files: [string, string | Uint8Array][], io: WriteFs = nodeFs): Promise<void> {
  await io.mkdir(dir);
  const tmp = (name: string) => path.join(dir, `.${name}.tmp-${process.pid}`);
  const left = new Set<string>();
  try {
    for (const [name, data] of files) {
      left.add(tmp(name));
      await io.writeFile(tmp(name), data);
    }
    for (const [name] of files) {
      await io.rename(tmp(name), path.join(dir, name));
      left.delete(tmp(name));
    }
  } catch (e) {
    for (const file of left) await io.rm(file).catch(() => undefined);
    throw e;
  }
  await io.syncDir(dir);
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
export async function saveModel(model: tf.LayersModel, dir: string, io: WriteFs = nodeFs): Promise<void> {
  const { json, weights } = await modelFiles(model);
  await writeFilesAtomic(dir, [[WEIGHTS_BIN, weights], [MODEL_JSON, json]], io);
}

/** One weightsManifest group: its paths as written, their files (inside the model's folder) and its weights. */
interface Group { paths: string[]; files: string[]; weights: tf.io.WeightsManifestEntry[] }

/** The groups of a weightsManifest (none where it is missing), refused when malformed or naming a file outside the model's folder. */
function manifestGroups(manifest: unknown, modelJson: string): Group[] {
  if (manifest == null) return [];
  const bad = (what: string) => new Error(`${modelJson}: weightsManifest ${what}: expected [{paths: ['weights.bin'], weights: [{name, shape, dtype}, ...]}, ...] as tfjs writes it`);
  if (!Array.isArray(manifest)) throw bad(`is ${JSON.stringify(manifest)}, not a list`);
  return manifest.map((g: Partial<Group> | null, i) => {
    if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights)) throw bad(`group ${i} lacks its paths or weights list`);
    if (!g.paths.length && g.weights.length) throw bad(`group ${i} lists weights but no file`);
    for (const w of g.weights) {
      if (typeof w?.name !== 'string' || typeof w.dtype !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw bad(`group ${i} has weight ${JSON.stringify(w)}, which lacks a name, a dtype or a shape of non-negative integers`);
      }
    }
    return { paths: g.paths, files: g.paths.map((p) => weightsPath(modelJson, p)), weights: g.weights };
  });
}

/** Bytes of one stored weight (quantized weights by their quantization dtype). */
function bytesOf(w: tf.io.WeightsManifestEntry, modelJson: string): number {
  const size = bytesPer[w.quantization?.dtype ?? w.dtype];
  if (size === undefined) throw new Error(`${modelJson}: weight ${w.name} has dtype ${w.dtype}, which loadModel cannot size`);
  return size * w.shape.reduce((a, b) => a * b, 1);
}

/**
 * Reads and decodes one weights group's files, checking that they hold exactly the bytes the manifest describes
 * and that float weights are finite (naming the layer, the weight and the file). The caller disposes the tensors.
 */
async function readGroup(group: Group, modelJson: string, layerOf: Map<string, string>): Promise<tf.NamedTensorMap> {
  const sizes = group.weights.map((w) => bytesOf(w, modelJson));
  const expected = sizes.reduce((a, b) => a + b, 0);
  const named = (w: tf.io.WeightsManifestEntry) => `weight ${w.name}${layerOf.has(w.name) ? ` (layer '${layerOf.get(w.name)}')` : ''}`;
  const chunks: Uint8Array[] = [];
  for (const file of group.files) {
    await assertInside(modelJson, file);
    try {
      chunks.push(await fs.readFile(file));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(`weights file ${file} (named in ${modelJson}) ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code})`}; expected ${expected} bytes in ${group.paths.join(', ')}`);
    }
  }
  const got = chunks.reduce((n, c) => n + c.length, 0);
  if (got !== expected) {
    let end = 0;
    const cut = group.weights.findIndex((_, i) => (end += sizes[i]) > got);
    const detail = cut >= 0 ? `they end inside ${named(group.weights[cut])} [${group.weights[cut].shape.join(', ')}], bytes ${end - sizes[cut]} to ${end}`
      : `${got - expected} bytes more than its ${group.weights.length} weights need`;
    throw new Error(`weights file ${group.files.join(', ')} has ${got} bytes, expected ${expected} (from the weightsManifest of ${modelJson}): ${detail}; ` +
      'the file is truncated or belongs to another model');
  }
  const all = new Uint8Array(got);
  chunks.reduce((offset, c) => (all.set(c, offset), offset + c.length), 0);
  const ends = chunks.map((c, i) => chunks.slice(0, i + 1).reduce((n, d) => n + d.length, 0));
  const tensors = tf.io.decodeWeights(all.buffer, group.weights);
  try {
    let offset = 0;
    group.weights.forEach((w, i) => {
      const t = tensors[w.name];
      const n = t.dtype === 'float32' ? countNonFinite(t.dataSync() as Float32Array) : 0;
      if (n) {
        const shard = ends.findIndex((e) => e > offset);
        throw new Error(`${modelJson}: ${named(w)} holds ${n} non-finite values (NaN/Inf) of ${t.size} in ${group.files.at(shard)}: ` +
          'the model was saved after its training diverged; export it from an earlier checkpoint or retrain it (e.g. with a lower learning rate)');
      }
      offset += sizes[i];
    });
    return tensors;
  } catch (e) {
    tf.dispose(Object.values(tensors));
    throw e;
  }
}

/**
 * Load a tfjs layers model from a directory holding model.json, or from a model.json path (weights read from disk).
 * Keras-converted files load too (the Keras names tfjs lacks are registered by models/keras.ts); a layer tfjs
 * cannot build is refused with its name, its class and what to do. Refused with what is wrong and where: weight
 * files outside the model's folder or given as URLs, a model with weights whose weightsManifest is missing or
 * empty (no silent random weights), weights missing, left over, of another shape, truncated or not finite, and a
 * graph model. Weights the manifest files for an optimizer are not read. numTensors is unchanged when it throws.
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}): ${expectedJson}`);
  }
  const json = layersModelJson(parsed, file);
  const layers = checkTopology(json.modelTopology as KerasObject, file);
  const groups = manifestGroups(json.weightsManifest, file);
  const model = await buildModel(json, file);
  const weights: tf.NamedTensorMap = {};
  try {
    // Keras 2's Normalization saves a sample count that no tfjs layer holds (not used to normalize)
    const unused = new Set(layers.filter((l) => l.className === 'Normalization').map((l) => `${l.name}/count`));
    const specs = groups.flatMap((g) => g.weights.filter((w) => !unused.has(w.name) && w.group !== 'optimizer').map((spec) => ({ spec, files: g.paths.join(', ') })));
    const layerOf = matchWeights(model, specs, file);
    for (const g of groups) Object.assign(weights, await readGroup(g, file, layerOf));
    model.loadWeights(Object.fromEntries(Object.entries(weights).filter(([name]) => layerOf.has(name))));
    return ownSharedLayers(model); // a layer applied several times (FPN heads) is counted once, so dispose() frees it
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(weights));
  }
}

const expectedJson = "expected a tfjs layers model.json: an object with modelTopology and weightsManifest, as written by 'gfp train', saveModel or tensorflowjs_converter";

/** `json` as a layers model.json, else refused saying what it is: not an object, a graph model, no topology. */
function layersModelJson(json: unknown, file: string): tf.io.ModelJSON {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${file} holds ${json === null ? 'null' : Array.isArray(json) ? 'a list' : `a ${typeof json}`}, not a model: ${expectedJson}`);
  }
  const j = json as tf.io.ModelJSON;
  const topology = j.modelTopology as { node?: unknown } | null | undefined;
  if (j.format === 'graph-model' || Array.isArray(topology?.node)) {
    throw new Error(`${file} is a tfjs graph model (converted from a SavedModel or frozen graph): pruning needs a layers model, whose layers ` +
      'it can read and rewrite. Convert the Keras model instead: tensorflowjs_converter --input_format keras model.h5 OUT_DIR ' +
      '(or --input_format keras_saved_model for a Keras SavedModel folder)');
  }
  if (topology === null || typeof topology !== 'object') throw new Error(`${file} has no modelTopology: ${expectedJson}`);
  return j;
}

/** The model of `json`'s topology with initial weights; the variables of a build that fails are disposed. */
async function buildModel(json: tf.io.ModelJSON, file: string): Promise<tf.LayersModel> {
  const before = new Set(Object.keys(tf.engine().registeredVariables));
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(tf.io.getModelArtifactsForJSONSync({ ...json, weightsManifest: undefined as never })));
  } catch (e) {
    for (const [name, v] of Object.entries(tf.engine().registeredVariables)) if (!before.has(name)) v.dispose();
    throw new Error(`${file}: tfjs could not build the model: ${(e as Error).message}`);
  }
}

/** A class_name/config pair as Keras and tfjs write them in model.json (snake_case keys). */
interface KerasObject { class_name?: string; config?: Record<string, unknown> | KerasObject[]; model_config?: KerasObject; inbound_nodes?: unknown[] }
/** One layer of a model.json topology, nested models' layers included. */
interface KerasLayer { className: string; name: string; config: Record<string, unknown>; inboundNodes?: unknown[] }

const modelClasses = new Set(['Sequential', 'Model', 'Functional']);

/** Every layer of a topology, depth first (a nested model, then its layers). */
function layersOf(topology: KerasObject): KerasLayer[] {
  const model = topology.model_config ?? topology;
  const config = model.config;
  const list = (Array.isArray(config) ? config : (config?.layers as KerasObject[] | undefined)) ?? [];
  return list.flatMap((l) => {
    const c = (l.config ?? {}) as Record<string, unknown>;
    const layer = {className: l.class_name ?? '?', name: String(c.name ?? '?'), config: c, inboundNodes: l.inbound_nodes};
    return modelClasses.has(layer.className) ? [layer, ...layersOf(l)] : [layer];
  });
}

// tf.loadLayersModel camel-cases string values of a Keras config: 'hard_silu' is looked up as 'hardSilu'.
const camel = (s: string): string => s.replace(/_+(\w|$)/g, (_, c: string) => c.toUpperCase());

/**
 * Refuses, naming the layer and what to do, what tf.loadLayersModel would refuse with a message that names
 * neither: a layer class or activation tfjs does not know (the library registers Keras' silu, hard_silu,
 * Normalization... in models/keras.ts), a grouped Conv2D, the Keras 3 topology format, a Sequential with no input shape.
 * Returns the layers.
 */
function checkTopology(topology: KerasObject, file: string): KerasLayer[] {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const model = topology.model_config ?? topology;
  const layers = layersOf(topology);
  for (const l of layers) {
    if (!(l.className in known)) {
      throw new Error(`${file}: layer '${l.name}' of class '${l.className}' is not known to tfjs: remove it before converting ` +
        '(augmentation and other training-only layers are not needed to prune), or register a class of that name with tf.serialization.registerClass');
    }
    const activation = l.config.activation;
    if (typeof activation === 'string' && !(camel(activation) in known)) {
      throw new Error(`${file}: layer '${l.name}' (${l.className}) uses activation '${activation}', which tfjs does not know: ` +
        `use another activation before converting, or register an activation class named '${camel(activation)}' with tf.serialization.registerClass`);
    }
    if (l.className === 'Conv2D' && Number(l.config.groups ?? 1) > 1) {
      throw new Error(`${file}: layer '${l.name}' (Conv2D) has groups: ${String(l.config.groups)}, which tfjs's Conv2D does not implement: ` +
        "rebuild the model with this library's GroupConv2D (the same kernel layout [kh, kw, in / groups, out])");
    }
    if (l.inboundNodes?.some((n) => !Array.isArray(n))) {
      throw new Error(`${file}: layer '${l.name}' lists its inputs in the Keras 3 format (inbound_nodes with args/kwargs), which tfjs cannot read: ` +
        'convert a model saved by tf_keras (Keras 2), e.g. rebuilt with tf_keras from the same code and weights');
    }
  }
  const first = layers[0];
  if (model.class_name === 'Sequential' && first && first.className !== 'InputLayer' && first.config.batch_input_shape == null) {
    throw new Error(`${file}: Sequential model '${String((model.config as Record<string, unknown>)?.name ?? '')}' does not give its input shape ` +
      `(no InputLayer, and its first layer '${first.name}' has no batch_input_shape): build it with keras.Input(shape=...) first, then convert`);
  }
  return layers;
}

/** The set folder's number: 3 for 'ckpt-3', NaN for other names. */
const setNumber = (name: string): number => (/^ckpt-\d+$/.test(name) ? Number(name.slice(5)) : NaN);
/** Temp files of writeFilesAtomic. */
const tempFile = /^\..+\.tmp-\d+$/;

/**
 * Save a training checkpoint to `dir`: the model, the optimizer state and the caller's plain-data `state`. The set
 * is written to a new folder DIR/ckpt-N, then checkpoint.json is renamed over the old one; the older sets and the
 * leftovers of killed saves are removed after. On failure the previous checkpoint stays and nothing new remains.
 * @example await saveCheckpoint('runs/r20', model, optimizer, {epoch: 3, step: 2814});
 */
export async function saveCheckpoint<S>(dir: string, model: tf.LayersModel, optimizer: Optimizer, state: S, io: WriteFs = nodeFs): Promise<void> {
  const { json, weights } = await modelFiles(model);
  const opt = optimizer.getState();
  const encoded = await tf.io.encodeWeights(opt.tensors).finally(() => tf.dispose(Object.values(opt.tensors)));
  const optBytes = new Uint8Array(encoded.data);
  await io.mkdir(dir);
  const set = `ckpt-${Math.max(0, ...(await io.readdir(dir)).map(setNumber).filter((n) => n >= 0)) + 1}`;
  const ckpt: CheckpointJson<S> = {
    format: 'gfp-checkpoint',
    version: 2,
    set,
    state,
    optimizer: { options: opt.options, step: opt.step, specs: encoded.specs },
    hashes: { [WEIGHTS_BIN]: fnv1a(weights), [OPTIMIZER_BIN]: fnv1a(optBytes) },
  };
  const setDir = path.join(dir, set);
  const tmp = path.join(dir, `.${CHECKPOINT_JSON}.tmp-${process.pid}`);
  try {
    await io.mkdir(setDir);
    const files: [string, string | Uint8Array][] = [[WEIGHTS_BIN, weights], [OPTIMIZER_BIN, optBytes], [MODEL_JSON, json]];
    for (const [name, data] of files) await io.writeFile(path.join(setDir, name), data);
    await io.syncDir(setDir);
    await io.writeFile(tmp, JSON.stringify(ckpt, null, 1));
    await io.rename(tmp, path.join(dir, CHECKPOINT_JSON)); // the switch
  } catch (e) {
    for (const left of [setDir, tmp]) await io.rm(left).catch(() => undefined);
    throw e;
  }
  await io.syncDir(dir);
  // best effort: what is left here is removed by the next save
  for (const name of await io.readdir(dir).catch(() => [])) {
    if (name !== set && (setNumber(name) >= 0 || tempFile.test(name))) await io.rm(path.join(dir, name)).catch(() => undefined);
  }
}

/**
 * True when `dir` holds a checkpoint.json.
 * @example if (await hasCheckpoint(out)) console.log('resumable');
 */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  return fs.stat(path.join(dir, CHECKPOINT_JSON)).then((s) => s.isFile(), () => false);
}

/**
 * Load the checkpoint that DIR/checkpoint.json names (written by saveCheckpoint): the model, the optimizer state
 * (caller disposes its tensors) and the caller's state.
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
  if (ckpt?.format !== 'gfp-checkpoint') throw new Error(`${file} is not a gfp checkpoint (format '${ckpt?.format}')`);
  const setDir = ckpt.version === 1 ? dir : path.join(dir, String(ckpt.set));
  const binaries: Record<string, Uint8Array> = {};
  for (const name of [WEIGHTS_BIN, OPTIMIZER_BIN]) {
    binaries[name] = await fs.readFile(path.join(setDir, name)).catch(() => {
      throw new Error(`checkpoint ${setDir} (named in ${file}) lacks ${name}`);
    });
    if (fnv1a(binaries[name]) !== ckpt.hashes[name]) {
      throw new Error(`${path.join(setDir, name)} does not match ${file} (hash differs: the file was changed or damaged): cannot resume from ${dir}`);
    }
  }
  const model = await loadModel(setDir);
  const bytes = binaries[OPTIMIZER_BIN];
  const tensors = tf.io.decodeWeights(bytes.slice().buffer, ckpt.optimizer.specs);
  return { model, optimizer: { options: ckpt.optimizer.options, step: ckpt.optimizer.step, tensors }, state: ckpt.state };
}
