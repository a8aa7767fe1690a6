import * as tf from '@tensorflow/tfjs';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModel, saveModel } from '../src/train';

before(async () => {
  await tf.setBackend('cpu');
});

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-load-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** conv [3, 3, 1, 4] -> bn -> flatten -> dense [64, 3], with seeded weights. */
function tinyModel(): tf.LayersModel {
  return tf.sequential({ layers: [
    tf.layers.conv2d({ name: 'conv', inputShape: [4, 4, 1], filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.randomNormal({ seed: 1 }) }),
    tf.layers.batchNormalization({ name: 'bn' }),
    tf.layers.flatten({ name: 'flat' }),
    tf.layers.dense({ name: 'dense', units: 3, kernelInitializer: tf.initializers.randomNormal({ seed: 2 }) }),
  ] });
}

type Json = { modelTopology: unknown; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; format?: string };
let count = 0;

/** The tiny model saved to a fresh folder; returns the folder, its model.json path and its parsed content. */
async function saved(): Promise<{ dir: string; file: string; json: Json; bin: Buffer }> {
  const dir = path.join(root, `m${count++}`);
  const model = tinyModel();
  await saveModel(model, dir);
  model.dispose();
  const file = path.join(dir, 'model.json');
  return { dir, file, json: JSON.parse(fs.readFileSync(file, 'utf8')), bin: fs.readFileSync(path.join(dir, 'weights.bin')) };
}

/** Expects loadModel(target) to reject with `message`, leaving numTensors unchanged. */
async function refused(target: string, message: RegExp): Promise<void> {
  const n = tf.memory().numTensors;
  await assert.rejects(loadModel(target), message);
  assert.equal(tf.memory().numTensors, n, `numTensors unchanged after: ${message}`);
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const write = (file: string, json: unknown): void => fs.writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));

/** Byte offset and length of weight `name` in the single weights.bin. */
function place(json: Json, name: string): [number, number] {
  let offset = 0;
  for (const w of json.weightsManifest![0].weights) {
    const bytes = 4 * w.shape.reduce((a, b) => a * b, 1);
    if (w.name === name) return [offset, bytes];
    offset += bytes;
  }
  throw new Error(`no weight ${name}`);
}

describe('loadModel: weight files stay inside the model folder', () => {
  it('refuses ../, absolute paths, URLs and links out, naming model.json and the path, before touching a file outside', async () => {
    const { dir, file, json, bin } = await saved();
    const outside = path.join(root, `other${count++}`);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'weights.bin'), bin); // a valid copy: loaded silently before
    const touched: string[] = [];
    const methods = ['stat', 'lstat', 'open', 'readFile', 'realpath', 'access'] as const;
    const saved_ = methods.map((m) => fs.promises[m]);
    methods.forEach((m, i) => {
      (fs.promises as Record<string, unknown>)[m] = (p: fs.PathLike, ...rest: unknown[]) => {
        touched.push(path.resolve(String(p)));
        return (saved_[i] as (...a: unknown[]) => unknown)(p, ...rest);
      };
    });
    try {
      for (const p of ['../../../../etc/passwd', `../${path.basename(outside)}/weights.bin`, path.join(outside, 'weights.bin'), '/etc/passwd', 'sub/../../x.bin']) {
        json.weightsManifest![0].paths = [p];
        write(file, json);
        await refused(dir, new RegExp(`${esc(file)}: weightsManifest path "${esc(p)}" points outside the model's folder`));
      }
      for (const p of ['http://example.com/weights.bin', 'file:///etc/passwd']) {
        json.weightsManifest![0].paths = [p];
        write(file, json);
        await refused(dir, new RegExp(`${esc(file)}: weightsManifest path "${esc(p)}" is a URL`));
      }
    } finally {
      methods.forEach((m, i) => ((fs.promises as Record<string, unknown>)[m] = saved_[i]));
    }
    assert.ok(touched.length > 0, 'the spy saw loadModel read model.json');
    assert.deepEqual(touched.filter((t) => !t.startsWith(dir)), [], 'no file outside the model folder touched');
    // a link named inside that leads outside
    fs.symlinkSync(path.join(outside, 'weights.bin'), path.join(dir, 'link.bin'));
    json.weightsManifest![0].paths = ['link.bin'];
    write(file, json);
    await refused(dir, new RegExp(`${esc(file)}: weights file ${esc(path.join(dir, 'link.bin'))} links to ${esc(path.join(fs.realpathSync(outside), 'weights.bin'))}, outside`));
    // a sub-folder inside is fine
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'w.bin'), bin);
    json.weightsManifest![0].paths = ['sub/w.bin'];
    write(file, json);
    (await loadModel(dir)).dispose();
    // so is a model folder reached through a link; a missing file there is called missing
    fs.symlinkSync(dir, `${dir}-link`);
    (await loadModel(`${dir}-link`)).dispose();
    fs.rmSync(path.join(dir, 'sub', 'w.bin'));
    await refused(`${dir}-link`, /weights file .*sub\/w\.bin \(named in .*\) is missing/);
  });
});

describe('loadModel: no silent random weights', () => {
  it('refuses a model with weights whose weightsManifest is missing or empty, saying what to do', async () => {
    const { dir, file, json } = await saved();
    const cases: [string, unknown][] = [['missing', undefined], ['empty', []], ['no weights listed', [{ paths: [], weights: [] }]]];
    for (const [, manifest] of cases) {
      write(file, { ...json, weightsManifest: manifest });
      await refused(dir, new RegExp(`${esc(file)} has no weights .*but the model has 8 \\(conv/kernel, .*random weights.*tf\\.models\\.modelFromJSON`));
    }
    // the advice works: the topology alone builds the model
    const built = await tf.models.modelFromJSON({ modelTopology: json.modelTopology as tf.io.ModelJSON['modelTopology'] });
    assert.equal(built.weights.length, 8);
    built.dispose();
  });

  it('loads a model without weights from a model.json without a weightsManifest', async () => {
    const dir = path.join(root, `noweights${count++}`);
    const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [2, 2, 1] })] });
    await saveModel(model, dir);
    model.dispose();
    const file = path.join(dir, 'model.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    delete json.weightsManifest;
    write(file, json);
    const loaded = await loadModel(dir);
    assert.equal(loaded.weights.length, 0);
    loaded.dispose();
  });
});

describe('loadModel: weights that do not fit', () => {
  it('refuses non-finite weights, naming the layer, the weight, the count and the shard', async () => {
    const { dir, file, json, bin } = await saved();
    const [offset, bytes] = place(json, 'dense/kernel');
    for (const [value, k] of [[Infinity, 1], [-Infinity, 2], [NaN, 12]] as const) {
      const poisoned = Buffer.from(bin);
      for (let i = 0; i < k; i++) poisoned.writeFloatLE(value, offset + 4 * (7 * i));
      fs.writeFileSync(path.join(dir, 'weights.bin'), poisoned);
      await refused(dir, new RegExp(`${esc(file)}: weight dense/kernel \\(layer 'dense'\\) holds ${k} non-finite values \\(NaN/Inf\\) of 192 in ${esc(path.join(dir, 'weights.bin'))}`));
    }
    // two shards: the poisoned weight lies in the second
    const poisoned = Buffer.from(bin);
    poisoned.writeFloatLE(NaN, offset + bytes - 4);
    const split = offset - 8;
    fs.writeFileSync(path.join(dir, 'a.bin'), poisoned.subarray(0, split));
    fs.writeFileSync(path.join(dir, 'b.bin'), poisoned.subarray(split));
    write(file, { ...json, weightsManifest: [{ ...json.weightsManifest![0], paths: ['a.bin', 'b.bin'] }] });
    await refused(dir, new RegExp(`weight dense/kernel \\(layer 'dense'\\) holds 1 non-finite values .* in ${esc(path.join(dir, 'b.bin'))}`));
  });

  it('names the layer, weight, file and both shapes for a weight of another shape or size, and the weight a short file ends in', async () => {
    const { dir, file, json, bin } = await saved();
    const kernel = json.weightsManifest![0].weights.find((w) => w.name === 'conv/kernel')!;
    kernel.shape = [3, 3, 4, 1]; // same 36 values, another layout
    write(file, json);
    await refused(dir, new RegExp(`${esc(file)}: layer 'conv' expects weight conv/kernel of shape \\[3, 3, 1, 4\\] float32 \\(36 values\\) ` +
      'but weights.bin holds \\[3, 3, 4, 1\\] float32 \\(36 values, the same count in another shape\\)'));
    kernel.shape = [3, 3, 1, 2]; // fewer values (the file shortened to match)
    write(file, json);
    await refused(dir, /layer 'conv' expects weight conv\/kernel of shape \[3, 3, 1, 4\] float32 \(36 values\) but weights.bin holds \[3, 3, 1, 2\] float32 \(18 values\)/);
    kernel.shape = [3, 3, 1, 4];
    write(file, json);
    const [offset] = place(json, 'dense/kernel');
    fs.writeFileSync(path.join(dir, 'weights.bin'), bin.subarray(0, offset + 100));
    await refused(dir, new RegExp(`weights file ${esc(path.join(dir, 'weights.bin'))} has ${offset + 100} bytes, expected ${bin.length} .*: ` +
      `they end inside weight dense/kernel \\(layer 'dense'\\) \\[64, 3\\], bytes ${offset} to ${offset + 768}`));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat([bin, Buffer.alloc(8)]));
    await refused(dir, /has \d+ bytes, expected \d+ .*: 8 bytes more than its 8 weights need/);
  });

  it('names a weight missing from, twice in, or foreign to the manifest', async () => {
    const { dir, file, json } = await saved();
    const weights = json.weightsManifest![0].weights;
    const bias = weights.find((w) => w.name === 'dense/bias')!;
    write(file, { ...json, weightsManifest: [{ paths: ['weights.bin'], weights: weights.filter((w) => w !== bias) }] });
    await refused(dir, /layer 'dense' weight dense\/bias \[3\] is not in the weightsManifest \(1 of the model's 8 weights are missing\)/);
    write(file, { ...json, weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w) => (w.name === 'dense/bias' ? { ...w, name: 'head/bias' } : w)) }] });
    await refused(dir, /the weightsManifest lists weight head\/bias \[3\] \(in weights.bin\), which no layer of the model holds/);
    write(file, { ...json, weightsManifest: [{ paths: ['weights.bin'], weights: [...weights, bias] }] });
    await refused(dir, /lists weight dense\/bias twice/);
  });
});

describe('loadModel: files that are not a layers model', () => {
  it('says what a graph model, null, a list, a number, bad JSON and a malformed manifest are, naming the file', async () => {
    const { dir, file, json } = await saved();
    write(file, { format: 'graph-model', modelTopology: { node: [{ name: 'x', op: 'Placeholder' }], library: {}, versions: {} }, weightsManifest: [] });
    await refused(dir, new RegExp(`${esc(file)} is a tfjs graph model .*pruning needs a layers model.*tensorflowjs_converter --input_format keras .*keras_saved_model`));
    write(file, { modelTopology: { node: [] }, weightsManifest: [] }); // no format field
    await refused(dir, /is a tfjs graph model/);
    for (const [text, what] of [['null', 'null'], ['[]', 'a list'], ['42', 'a number'], ['"model"', 'a string']]) {
      write(file, text);
      await refused(dir, new RegExp(`${esc(file)} holds ${what}, not a model: expected a tfjs layers model.json`));
    }
    write(file, '{"modelTopology": ');
    await refused(dir, new RegExp(`${esc(file)} is not valid JSON \\(.*\\): expected a tfjs layers model.json`));
    write(file, { ...json, modelTopology: null });
    await refused(dir, new RegExp(`${esc(file)} has no modelTopology`));
    write(file, { ...json, weightsManifest: { paths: ['weights.bin'] } });
    await refused(dir, /weightsManifest is \{"paths":\["weights.bin"\]\}, not a list/);
    write(file, { ...json, weightsManifest: [{ paths: [], weights: json.weightsManifest![0].weights }] });
    await refused(dir, /weightsManifest group 0 lists weights but no file/);
    write(file, { ...json, weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'conv/kernel', dtype: 'float32', shape: [3, -3] }] }] });
    await refused(dir, /weightsManifest group 0 has weight .*conv\/kernel.*which lacks a name, a dtype or a shape of non-negative integers/);
  });

  it('disposes the variables of a model tfjs fails to build', async () => {
    const { dir, file, json } = await saved();
    // the dense layer after conv and bn (which made their variables) names an unknown initializer
    const layers = (json.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }).config.layers;
    layers[layers.length - 1].config.kernel_initializer = { class_name: 'NoSuchInitializer', config: {} };
    write(file, json);
    await refused(dir, new RegExp(`${esc(file)}: tfjs could not build the model`));
  });

  it('loads what saveModel wrote, with the same weights', async () => {
    const { dir } = await saved();
    const model = tinyModel();
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.getWeights().map((w) => Array.from(w.dataSync())), model.getWeights().map((w) => Array.from(w.dataSync())));
    model.dispose();
    loaded.dispose();
  });
});
