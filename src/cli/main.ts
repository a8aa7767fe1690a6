import * as tf from '@tensorflow/tfjs';
import {Command, Option} from 'commander';
import {backendsAvailable, BackendName, installedPatches, layerPatches, MAX_THREADS, useBackend, wasmThreads} from '../backend';
import {group} from '../graph';
import {BrowserBackend, countCosts, measure, measureInBrowser} from '../measure';
import {criterionNames, normalizers, pruner} from '../prune';
import {outputKinds, progress, trainModel} from '../train';
import {version} from '../version';
import {DataOptions, datasetName, datasetTask, loadDataset} from '../data';
import {modelNames} from '../models';
import {checkModelData, inputOf, isZooName, modelAndData, pruneModel, resolveModel, trainDetectorModel} from '../tasks';
import {checkOut} from '../train/out_dir';
import {demoCommand} from './demo';
import {int, num, numbers, parseShape} from './parse';

const backends: BackendName[] = ['auto', 'wasm', 'webgpu', 'tensorflow', 'cpu'];

/** The --threads flag of the commands that start a backend. */
const threadsOption = (): Option => new Option('--threads <n>', `wasm threads, 1 to ${MAX_THREADS} (default: all cores)`).argParser(int('--threads'));

/** --overwrite of the commands that write --out. */
const overwriteHelp = 'write into an --out that holds an earlier run, replacing it (its checkpoint is removed first); without it such an --out is refused';

/** Print JSON on stdout, or a readable form. */
const print = (json: boolean, value: unknown, text: () => string): void => {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
};

/** Options every model command shares. */
function modelCommand(cmd: Command): Command {
  return cmd
    .requiredOption('--model <name|path>', `model name (${modelNames().join(', ')}) or a tfjs model.json / model directory`)
    .option('--input-shape <h,w,c>', 'input shape of a named model (default 28,28,1; fpn-detector 64,64,1)', parseShape)
    .option('--classes <n>', 'classes of a zoo model', int('--classes'), 10)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(backends).default('auto'))
    .addOption(threadsOption())
    .option('--json', 'print JSON on stdout');
}

/** A parser that maps each allowed text to its value, naming the option and the choices in the error. */
const oneOf = <T>(name: string, values: Record<string, T>) => (v: string): T => {
  if (!Object.hasOwn(values, v)) throw new Error(`${name} "${v}": expected ${Object.keys(values).join(' or ')}`);
  return values[v];
};

/** Parse "h,w" into two positive integers. */
const imageSize = (v: string): [number, number] => {
  const hw = numbers('--image-size', 2)(v);
  if (!hw.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`--image-size "${v}": expected two positive integers like 96,96`);
  return hw as [number, number];
};

/** The data flags of train, score, prune and measure; read back by dataOptions(). */
function dataCommand(cmd: Command): Command {
  return cmd
    .option('--dataset <name>', 'fashion-mnist, cifar10 (with --data), image-folder (the default with --data), or a detection set (fashion-scenes, train.json[,test.json])')
    .option('--data <dir>', 'the dataset\'s folder: an image folder (DIR/train/<class>/*, DIR/test/<class>/*, or DIR/<class>/*), or the CIFAR-10 binaries with --dataset cifar10')
    .option('--data-dir <dir>', 'alias of --data')
    .option('--image-size <h,w>', 'image folder: resize to h,w (default: the model\'s input, else the first image\'s size)', imageSize)
    .option('--channels <n>', 'image folder: 3 (RGB) or 1 (grayscale); default: the model\'s input, else 3', oneOf('--channels', {'1': 1, '3': 3}))
    .option('--range <lo,hi>', 'pixel range of the batches: 0,1 (the default) or -1,1', oneOf('--range', {'0,1': [0, 1], '-1,1': [-1, 1]}))
    .option('--mean <a,b,c>', 'per-channel mean on [0, 1] pixel values: batches hold (x / 255 - mean) / std (with --std; not with --range)', numbers('--mean'))
    .option('--std <a,b,c>', 'per-channel std on [0, 1] pixel values (with --mean)', numbers('--std', undefined, 'positive'))
    .option('--test-split <fraction>', 'image folder DIR/<class>/*: test fraction of each class (default 0.2)', num('--test-split', 'openFraction'))
    .option('--split-seed <n>', 'image folder DIR/<class>/*: seed of the split and of the sample order (default 0)', num('--split-seed', 'integer'));
}

/** DataOptions from parsed flags (--data-dir is --data's alias). */
const dataOptions = (o: Record<string, unknown>): DataOptions => {
  const dataOpts: DataOptions = {dataset: o.dataset as string | undefined, data: (o.data ?? o.dataDir) as string | undefined, limit: o.limit as number | undefined,
    imageSize: o.imageSize as [number, number] | undefined, channels: o.channels as 1 | 3 | undefined, range: o.range as [0, 1] | [-1, 1] | undefined,
    mean: o.mean as number[] | undefined, std: o.std as number[] | undefined, testSplit: o.testSplit as number | undefined, splitSeed: o.splitSeed as number | undefined};
  if (o.data !== undefined && o.dataDir !== undefined && o.data !== o.dataDir) throw new Error(`--data ${o.data} and --data-dir ${o.dataDir} differ; --data-dir is an alias of --data, give one`);
  return dataOpts;
};

/** The --output flag of the commands that compute a loss. */
const outputOption = (): Option => new Option('--output <kind>', 'what the model outputs (default: read from its output activation)').choices(outputKinds);

/** Layers whose MACs are unknown (counted as 0), as a line of text; empty when every layer is known. */
function unknownCosts(model: tf.LayersModel): string {
  let layers;
  try {
    layers = countCosts(model).layers;
  } catch (e) {
    return `\nwarning: costs not counted (${(e as Error).message})`; // e.g. a free input size: gfp groups still lists the spaces
  }
  const unknown = layers.filter((l) => l.unknown);
  if (unknown.length === 0) return '';
  return `\nwarning: no known cost for ${unknown.map((l) => `${l.name} (${l.className}${l.params ? `, ${l.params} weights` : ''})`).join(', ')}: ` +
    'their MACs count as 0, so MACs and FLOPs ratios leave them out';
}

/**
 * The `gfp` command line.
 * @example await main(['node', 'gfp', 'info', '--json']);
 */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('gfp').description('Group Fisher Pruning for TensorFlow.js convnets').version(version);
  program.configureOutput({writeErr: (s) => process.stderr.write(s)});

  program.command('info').description('version and backends')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(backends).default('auto'))
    .addOption(threadsOption())
    .option('--json', 'print JSON on stdout')
    .action(async (o) => {
      const backend = await useBackend(o.backend, {threads: o.threads});
      // threads are ours to set on wasm only (cpu runs on one)
      const threads = backend === 'wasm' ? wasmThreads() : backend === 'cpu' ? 1 : null;
      const patches = installedPatches();
      const info = {version, tfjs: tf.version.tfjs, backend, threads, available: await backendsAvailable(), patches};
      print(o.json, info, () => `group-fisher-pruning ${version} (tfjs ${info.tfjs})\nbackend: ${backend}\nthreads: ${threads ?? 'set by the backend'}\n` +
        `available: ${info.available.join(', ')}\n` +
        `tf.layers patches: ${patches.length ? patches.map((n) => `\n  ${n} (${layerPatches[n].className}): ${layerPatches[n].purpose}`).join('') : 'none'}`);
    });

  dataCommand(program.command('train').description('train a zoo model on a dataset, checkpointing every epoch; or a detector on a detection set'))
    .requiredOption('--model <name>', 'zoo name, a model directory / model.json, or fpn-detector (with --dataset fashion-scenes or COCO train.json[,test.json])')
    .addOption(outputOption())
    .option('--epochs <n>', 'epochs', int('--epochs'), 10)
    .requiredOption('--out <dir>', 'output folder (model.json, weights, report.json, checkpoints)')
    .option('--resume', 'continue from the checkpoint in --out (refused when it holds none)')
    .option('--overwrite', overwriteHelp)
    .option('--batch-size <n>', 'batch size', int('--batch-size'), 64)
    .option('--lr <x>', 'peak learning rate', num('--lr', 'positive'))
    .addOption(new Option('--optimizer <name>', 'optimizer (default sgd; adam for a detector)').choices(['sgd', 'adam']))
    .option('--weight-decay <x>', 'weight decay', num('--weight-decay', 'nonNegative'))
    .option('--seed <n>', 'seed', num('--seed', 'integer'), 0)
    .option('--limit <n>', 'use only the first N samples of each split', int('--limit'))
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(backends).default('auto'))
    .addOption(threadsOption())
    .option('--json', 'print the report as JSON on stdout')
    .action(async (o) => {
      await checkOut(o.out, {resume: o.resume, overwrite: o.overwrite, models: [o.model]});
      await useBackend(o.backend, {threads: o.threads});
      const dataOpts = dataOptions(o);
      if (datasetTask(datasetName(dataOpts)) === 'detection') {
        const r = await trainDetectorModel(o);
        print(o.json, r, () => `test AP ${(100 * r.ap).toFixed(1)}, AP50 ${(100 * r.ap50).toFixed(1)} after ${r.steps} steps (${r.seconds.toFixed(0)} s) -> ${o.out}`);
        return;
      }
      // a model from disk sizes an image folder and is checked against the data before training
      const disk = isZooName(o.model) ? undefined : await resolveModel(o.model, undefined, 0);
      let data;
      try {
        data = await loadDataset(dataOpts, disk && inputOf(disk));
        if (disk) checkModelData(disk, data);
      } finally {
        disk?.dispose();
      }
      const {name, train, test, augment, preprocessing} = data;
      const r = await trainModel({model: o.model, dataset: {name, train, test, augment, preprocessing}, epochs: o.epochs, out: o.out, resume: o.resume, overwrite: o.overwrite,
        batchSize: o.batchSize, lr: o.lr, optimizer: o.optimizer, weightDecay: o.weightDecay, seed: o.seed, output: o.output});
      print(o.json, r, () => `test accuracy ${(100 * (r.testAccuracy ?? NaN)).toFixed(2)}% -> ${o.out}`);
    });

  modelCommand(program.command('groups').description('channel spaces of a model: producers, consumers, channels, unit, prunable'))
    .action(async (o) => {
      await useBackend(o.backend, {threads: o.threads});
      const model = await resolveModel(o.model, o.inputShape, o.classes);
      const spaces = group(model).spaces.map(({id, producers, consumers, channels, units, unit, prunable, reason}) =>
        ({id, producers, consumers, channels, units, unit, prunable, ...(reason ? {reason} : {})}));
      print(o.json, {model: model.name, spaces}, () => spaces.map((s) =>
        `${String(s.id).padStart(3)} ${s.prunable ? 'prunable' : 'fixed   '} ${String(s.channels).padStart(4)} ch / ${s.units} units  ` +
        `${s.producers.join(', ') || '-'} -> ${s.consumers.join(', ') || '-'}${s.reason ? `  (${s.reason})` : ''}`).join('\n') + unknownCosts(model));
    });

  dataCommand(modelCommand(program.command('score').description('Fisher importance of every channel on the first N*B samples of a split')))
    .addOption(outputOption())
    .addOption(new Option('--split <name>', 'split').choices(['train', 'test']).default('test'))
    .option('--batches <n>', 'batches', int('--batches'), 4)
    .option('--batch-size <n>', 'batch size', int('--batch-size'), 64)
    .action(async (o) => {
      await useBackend(o.backend, {threads: o.threads});
      const loaded = await modelAndData(o.model, dataOptions(o), o.inputShape);
      const {model} = loaded;
      const data = loaded.data[o.split as 'train' | 'test'];
      const p = pruner(model, {inputShape: data.shape, output: o.output});
      const r = await p.score(data.take(Math.min(o.batches * o.batchSize, data.size)).batches(o.batchSize), {steps: o.batches});
      const out = {model: o.model, dataset: loaded.data.name, data: loaded.data.preprocessing, split: o.split, batches: r.steps, batchSize: o.batchSize, loss: r.loss,
        ...(o.output ? {output: o.output} : {}), spaces: r.spaces.map(({producers, consumers, fisher}) => ({producers, consumers, fisher}))};
      print(o.json, out, () => out.spaces.map((s, i) => `${i} ${s.producers.join(', ') || '-'}: sum ${s.fisher.reduce((a, b) => a + b, 0).toExponential(3)}`).join('\n'));
    });

  dataCommand(modelCommand(program.command('measure').description('MACs, params, activation memory and latency')))
    .option('--batch-size <list>', 'batch sizes, comma separated', numbers('--batch-size', undefined, 'count'), [1, 64])
    .option('--runs <n>', 'timed runs per batch size', int('--runs'), 10)
    .option('--browser', 'time it in headless Chromium instead of Node')
    .option('--browser-backends <list>', 'with --browser: wasm, webgl, webgpu (comma separated)', 'wasm')
    .option('--browser-threads <list>', 'with --browser: wasm thread counts, comma separated, each on a fresh page (default: the browser\'s choice)',
      numbers('--browser-threads', undefined, 'count'))
    .action(async (o) => {
      await useBackend(o.backend, {threads: o.threads});
      const dataOpts = dataOptions(o);
      // with data: a zoo model is built for it, a model from disk is checked against it
      const model = dataOpts.dataset === undefined && dataOpts.data === undefined ? await resolveModel(o.model, o.inputShape, o.classes)
        : (await modelAndData(o.model, dataOpts, o.inputShape)).model;
      const batchSize = o.batchSize as number[];
      if (o.browser) {
        const {layers, ...costs} = countCosts(model);
        const b = await measureInBrowser(model, {batchSize, runs: o.runs, backends: String(o.browserBackends).split(',') as BrowserBackend[], threads: o.browserThreads});
        const result = {...costs, layers, browser: b.browser, backend: b.measurements[0].backend, latency: b.measurements[0].latency,
          measurements: b.measurements, unavailable: b.unavailable};
        print(o.json, result, () => [`${b.browser}`, ...b.measurements.flatMap((m) => m.latency.map((l) =>
          `${m.backend} (${m.device}${m.threads ? `, ${m.threads} thread(s)` : ''}) batch ${l.batchSize}: median ${l.medianMs.toFixed(2)} ms (${l.runs} runs)`)),
        ...b.unavailable.map((u) => `${u.backend}: unavailable (${u.reason})`)].join('\n') + unknownCosts(model));
        return;
      }
      const m = await measure(model, {batchSize, runs: o.runs});
      print(o.json, m, () => [`MACs ${m.macs}  params ${m.params}  memory ${m.memory} (all outputs ${m.memoryAll})  backend ${m.backend}`,
        ...m.latency.map((l) => `batch ${l.batchSize}: median ${l.medianMs.toFixed(2)} ms (min ${l.minMs.toFixed(2)}, max ${l.maxMs.toFixed(2)}, ${l.runs} runs)`)].join('\n') + unknownCosts(model));
    });

  dataCommand(modelCommand(program.command('prune').description('prune to a FLOPs target with Group Fisher Pruning, fine-tune, export')))
    .addOption(outputOption())
    .option('--target-flops <ratio>', 'remaining FLOPs / baseline FLOPs', num('--target-flops', 'fraction'), 0.5)
    .addOption(new Option('--normalize <name>', 'cost normalizer').choices(normalizers).default('memory'))
    .addOption(new Option('--criterion <name>', 'unit importance the normalizer divides').choices(criterionNames).default('fisher'))
    .option('--latency-batch <n>', "batch size the 'latency' normalizer profiles the layers at", int('--latency-batch'), 64)
    .option('--no-grouping', 'the "-I" ablation: prune only uncoupled spaces')
    .option('--interval <n>', 'training steps between prunings', int('--interval'), 25)
    .option('--units-per-prune <n>', 'units removed at each pruning', int('--units-per-prune'), 1)
    .option('--round-to <k>', 'keep every pruned layer\'s channel count a multiple of k (or its full width)', int('--round-to'), 1)
    .option('--finetune-epochs <n>', 'fine-tuning epochs after the target is reached', num('--finetune-epochs', 'countOrZero'), 0)
    .option('--batch-size <n>', 'batch size', int('--batch-size'), 64)
    .option('--lr <x>', 'learning rate while pruning and fine-tuning (default 0.01 with SGD; detection 1e-3 with Adam)', num('--lr', 'positive'))
    .option('--limit <n>', 'use only the first N samples of each split', int('--limit'))
    .option('--runs <n>', 'timed runs per latency measurement', int('--runs'), 10)
    .option('--seed <n>', 'seed of the data order', num('--seed', 'integer'), 0)
    .requiredOption('--out <dir>', 'output folder: model.json, weights.bin, report.json')
    .option('--resume', 'continue an interrupted run from --out/checkpoint (refused when there is none)')
    .option('--overwrite', overwriteHelp)
    .action(async (o) => {
      await checkOut(o.out, {resume: o.resume, overwrite: o.overwrite, models: [o.model]});
      await useBackend(o.backend, {threads: o.threads});
      const {backend: _b, threads: _t, json, ...opts} = o;
      const r = await pruneModel({...opts, ...dataOptions(o), progress: progress(json ? 'lines' : 'auto')});
      const [base, mine] = [r.baseline, r.pruned];
      print(json, r, () => `MACs ${base.macs} -> ${mine.macs} (${(100 * mine.macs / base.macs).toFixed(1)}%), ` +
        `${Object.keys(base).filter((k) => Object.hasOwn(r, `${k}Drop`)).map((k) => `${k} ${(100 * base[k]).toFixed(2)}% -> ${(100 * mine[k]).toFixed(2)}%`).join(', ')}, ` +
        `speed-up ${Object.entries(r.speedup).map(([k, v]) => `${k} ${v.toFixed(2)}x`).join(', ')} -> ${o.out}`);
    });

  program.command('demo').description('a page running a pruned model beside its baseline in the browser, on Fashion-MNIST test images')
    .argument('<dir>', 'pruned model directory or model.json')
    .option('--baseline <path>', 'baseline model directory or model.json, shown beside it')
    .option('--out <dir>', 'write index.html and its assets here')
    .option('--overwrite', 'write into an --out that already holds files')
    .option('--serve', 'serve the page on 127.0.0.1 and print its URL')
    .option('--port <n>', 'port for --serve (default: any free one)', num('--port', 'port'))
    .option('--images <n>', 'Fashion-MNIST test images to classify', int('--images'), 32)
    .action(async (dir: string, o) => {
      await useBackend('auto'); // describing the models runs them in Node
      await demoCommand(dir, o);
    });

  await program.parseAsync(argv);
}
