import * as tf from '@tensorflow/tfjs';
import {Command, Option} from 'commander';
import {backendsAvailable, BackendName, useBackend} from '../backend';
import {group} from '../graph';
import {BrowserBackend, compareLatency, countCosts, measure, measureInBrowser} from '../measure';
import * as fs from 'fs';
import * as path from 'path';
import {LatencyModel, normalizers, pruner, RunCheckpoint} from '../prune';
import {hasCheckpoint, loadCheckpoint, Optimizer, progress, saveCheckpoint, saveModel, trainModel} from '../train';
import {writeFilesAtomic} from '../train/checkpoint';
import {version} from '../version';
import {demoCommand} from './demo';
import {int, loadDataset, modelNames, num, parseShape, resolveModel} from './load';
import {isDetectionDataset, pruneTask} from './tasks';
import {trainDetectorCommand} from './train_detector';

const backends: BackendName[] = ['auto', 'wasm', 'webgpu', 'tensorflow', 'cpu'];

/** What `gfp prune --resume` needs besides the weights and the optimizer. */
interface PruneCheckpoint { config: Record<string, unknown>; baseline: Record<string, number>; run: RunCheckpoint; latency?: LatencyModel }

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
    .option('--json', 'print JSON on stdout');
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
    .option('--json', 'print JSON on stdout')
    .action(async (o) => {
      const backend = await useBackend(o.backend);
      const info = {version, tfjs: tf.version.tfjs, backend, available: await backendsAvailable()};
      print(o.json, info, () => `group-fisher-pruning ${version} (tfjs ${info.tfjs})\nbackend: ${backend}\navailable: ${info.available.join(', ')}`);
    });

  program.command('train').description('train a zoo model on a dataset, checkpointing every epoch; or a detector on a detection set')
    .requiredOption('--model <name>', 'zoo name, or fpn-detector (with --dataset fashion-scenes or COCO train.json[,test.json])')
    .option('--dataset <name>', 'dataset', 'fashion-mnist')
    .option('--data-dir <dir>', 'dataset folder (cifar10)')
    .option('--epochs <n>', 'epochs', int('--epochs'), 10)
    .requiredOption('--out <dir>', 'output folder (model.json, weights, report.json, checkpoints)')
    .option('--resume', 'continue from the checkpoint in --out')
    .option('--batch-size <n>', 'batch size', int('--batch-size'), 64)
    .option('--lr <x>', 'peak learning rate', num('--lr'))
    .addOption(new Option('--optimizer <name>', 'optimizer (default sgd; adam for a detector)').choices(['sgd', 'adam']))
    .option('--weight-decay <x>', 'weight decay', num('--weight-decay'))
    .option('--seed <n>', 'seed', num('--seed'), 0)
    .option('--limit <n>', 'use only the first N samples of each split', int('--limit'))
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(backends).default('auto'))
    .option('--json', 'print the report as JSON on stdout')
    .action(async (o) => {
      await useBackend(o.backend);
      if (isDetectionDataset(o.dataset)) {
        const r = await trainDetectorCommand(o);
        print(o.json, r, () => `test AP ${(100 * r.ap).toFixed(1)}, AP50 ${(100 * r.ap50).toFixed(1)} after ${r.steps} steps (${r.seconds.toFixed(0)} s) -> ${o.out}`);
        return;
      }
      const r = await trainModel({model: o.model, dataset: o.dataset, dataDir: o.dataDir, epochs: o.epochs, out: o.out, resume: o.resume,
        batchSize: o.batchSize, lr: o.lr, optimizer: o.optimizer, weightDecay: o.weightDecay, seed: o.seed, limit: o.limit});
      print(o.json, r, () => `test accuracy ${(100 * (r.testAccuracy ?? NaN)).toFixed(2)}% -> ${o.out}`);
    });

  modelCommand(program.command('groups').description('channel spaces of a model: producers, consumers, channels, unit, prunable'))
    .action(async (o) => {
      await useBackend(o.backend);
      const model = await resolveModel(o.model, o.inputShape, o.classes);
      const spaces = group(model).spaces.map(({id, producers, consumers, channels, units, unit, prunable, reason}) =>
        ({id, producers, consumers, channels, units, unit, prunable, ...(reason ? {reason} : {})}));
      print(o.json, {model: model.name, spaces}, () => spaces.map((s) =>
        `${String(s.id).padStart(3)} ${s.prunable ? 'prunable' : 'fixed   '} ${String(s.channels).padStart(4)} ch / ${s.units} units  ` +
        `${s.producers.join(', ') || '-'} -> ${s.consumers.join(', ') || '-'}${s.reason ? `  (${s.reason})` : ''}`).join('\n'));
    });

  modelCommand(program.command('score').description('Fisher importance of every channel on the first N*B samples of a split'))
    .option('--dataset <name>', 'dataset', 'fashion-mnist')
    .addOption(new Option('--split <name>', 'split').choices(['train', 'test']).default('test'))
    .option('--batches <n>', 'batches', int('--batches'), 4)
    .option('--batch-size <n>', 'batch size', int('--batch-size'), 64)
    .action(async (o) => {
      await useBackend(o.backend);
      const data = (await loadDataset(o.dataset))[o.split as 'train' | 'test'];
      const model = await resolveModel(o.model, data.shape, data.classes);
      const p = pruner(model, {inputShape: data.shape});
      const r = await p.score(data.take(o.batches * o.batchSize).batches(o.batchSize), {steps: o.batches});
      const out = {model: o.model, dataset: o.dataset, split: o.split, batches: r.steps, batchSize: o.batchSize, loss: r.loss,
        spaces: r.spaces.map(({producers, consumers, fisher}) => ({producers, consumers, fisher}))};
      print(o.json, out, () => out.spaces.map((s, i) => `${i} ${s.producers.join(', ') || '-'}: sum ${s.fisher.reduce((a, b) => a + b, 0).toExponential(3)}`).join('\n'));
    });

  modelCommand(program.command('measure').description('MACs, params, activation memory and latency'))
    .option('--batch-size <list>', 'batch sizes, comma separated', '1,64')
    .option('--runs <n>', 'timed runs per batch size', int('--runs'), 10)
    .option('--browser', 'time it in headless Chromium instead of Node')
    .option('--browser-backends <list>', 'with --browser: wasm, webgl, webgpu (comma separated)', 'wasm')
    .action(async (o) => {
      await useBackend(o.backend);
      const model = await resolveModel(o.model, o.inputShape, o.classes);
      const batchSize = String(o.batchSize).split(',').map(int('--batch-size'));
      if (o.browser) {
        const {layers, ...costs} = countCosts(model);
        const b = await measureInBrowser(model, {batchSize, runs: o.runs, backends: String(o.browserBackends).split(',') as BrowserBackend[]});
        const result = {...costs, layers, browser: b.browser, backend: b.measurements[0].backend, latency: b.measurements[0].latency,
          measurements: b.measurements, unavailable: b.unavailable};
        print(o.json, result, () => [`${b.browser}`, ...b.measurements.flatMap((m) => m.latency.map((l) =>
          `${m.backend} (${m.device}) batch ${l.batchSize}: median ${l.medianMs.toFixed(2)} ms (${l.runs} runs)`)),
        ...b.unavailable.map((u) => `${u.backend}: unavailable (${u.reason})`)].join('\n'));
        return;
      }
      const m = await measure(model, {batchSize, runs: o.runs});
      print(o.json, m, () => [`MACs ${m.macs}  params ${m.params}  memory ${m.memory} (all outputs ${m.memoryAll})  backend ${m.backend}`,
        ...m.latency.map((l) => `batch ${l.batchSize}: median ${l.medianMs.toFixed(2)} ms (min ${l.minMs.toFixed(2)}, max ${l.maxMs.toFixed(2)}, ${l.runs} runs)`)].join('\n'));
    });

  modelCommand(program.command('prune').description('prune to a FLOPs target with Group Fisher Pruning, fine-tune, export'))
    .option('--dataset <name>', 'dataset', 'fashion-mnist')
    .option('--target-flops <ratio>', 'remaining FLOPs / baseline FLOPs', num('--target-flops'), 0.5)
    .addOption(new Option('--normalize <name>', 'cost normalizer').choices(normalizers).default('memory'))
    .option('--latency-batch <n>', "batch size the 'latency' normalizer profiles the layers at", int('--latency-batch'), 64)
    .option('--no-grouping', 'the "-I" ablation: prune only uncoupled spaces')
    .option('--interval <n>', 'training steps between prunings', int('--interval'), 25)
    .option('--units-per-prune <n>', 'units removed at each pruning', int('--units-per-prune'), 1)
    .option('--finetune-epochs <n>', 'fine-tuning epochs after the target is reached', num('--finetune-epochs'), 0)
    .option('--batch-size <n>', 'batch size', int('--batch-size'), 64)
    .option('--lr <x>', 'learning rate while pruning and fine-tuning (default 0.01 with SGD; detection 1e-3 with Adam)', num('--lr'))
    .option('--limit <n>', 'use only the first N samples of each split', int('--limit'))
    .option('--runs <n>', 'timed runs per latency measurement', int('--runs'), 10)
    .option('--seed <n>', 'seed of the data order', num('--seed'), 0)
    .requiredOption('--out <dir>', 'output folder: model.json, weights.bin, report.json')
    .option('--resume', 'continue an interrupted run from --out/checkpoint')
    .action(async (o) => {
      const backend = await useBackend(o.backend);
      const task = await pruneTask(o.dataset, o.limit);
      const {train} = task;
      const lr: number = o.lr ?? task.lr;
      const ckptDir = path.join(o.out, 'checkpoint');
      const config = {model: o.model, dataset: o.dataset, limit: o.limit ?? null, targetFlops: o.targetFlops, normalize: o.normalize, grouping: o.grouping,
        interval: o.interval, unitsPerPrune: o.unitsPerPrune, batchSize: o.batchSize, lr, seed: o.seed,
        ...(o.normalize === 'latency' ? {latencyBatch: o.latencyBatch} : {})};
      const describe = async (m: tf.LayersModel): Promise<Record<string, number>> => {
        const {macs, params, memory, memoryAll} = countCosts(m);
        return {...(await task.quality(m)), macs, params, memory, memoryAll};
      };
      const optimizer = new Optimizer(task.optimizer);
      const resumed = o.resume && (await hasCheckpoint(ckptDir)) ? await loadCheckpoint<PruneCheckpoint>(ckptDir) : undefined;
      if (resumed) {
        const differ = Object.entries(config).filter(([k, v]) => (resumed.state.config as Record<string, unknown>)[k] !== v).map(([k]) => k);
        if (differ.length) throw new Error(`cannot resume from ${ckptDir}: ${differ.join(', ')} differ from the interrupted run; use its options or another --out`);
        optimizer.setState(resumed.optimizer, resumed.model.trainableWeights.map((w) => w.read() as tf.Variable));
        tf.dispose(Object.values(resumed.optimizer.tensors));
      }
      const model = resumed?.model ?? (await resolveModel(o.model, task.shape, task.classes));
      task.check(model);
      const p = pruner(model, {inputShape: task.shape, grouping: o.grouping, latency: resumed?.state.latency, loss: task.loss});
      p.checkTarget(o.targetFlops);
      // profiled once and kept with the checkpoints, so a resumed run ranks by the same timings
      const latencyModel = o.normalize === 'latency' ? resumed?.state.latency ?? (await p.profileLatency({batchSize: o.latencyBatch})) : undefined;
      const baseline = resumed?.state.baseline ?? (await describe(model));
      const show = progress(o.json ? 'lines' : 'auto');
      const run = await p.run({data: train, targetFlops: o.targetFlops, interval: o.interval, unitsPerPrune: o.unitsPerPrune, normalize: o.normalize,
        finetuneEpochs: task.finetune ? 0 : o.finetuneEpochs, batchSize: o.batchSize, lr, seed: o.seed, progress: show, optimizer, resume: resumed?.state.run,
        onCheckpoint: (c) => saveCheckpoint<PruneCheckpoint>(ckptDir, model, optimizer, {config, baseline, run: c, latency: latencyModel})});
      if (task.finetune && o.finetuneEpochs) await task.finetune(p, {epochs: o.finetuneEpochs, batchSize: o.batchSize, lr, seed: o.seed, optimizer, progress: show});
      const small = p.export();
      const pruned = await describe(small);
      // both architectures timed in turn, run by run (the weights do not change the time)
      const latency = [];
      for (const b of [1, o.batchSize]) latency.push(await compareLatency([model, small], b, {runs: o.runs, warmup: 2}));
      const speedup = Object.fromEntries(latency.map(([base, mine]) => [`b${base.batchSize}`, base.medianMs / mine.medianMs]));
      const report = {...config, backend, finetuneEpochs: o.finetuneEpochs, steps: run.steps,
        baseline: {...baseline, latency: latency.map(([base]) => base)}, pruned: {...pruned, latency: latency.map(([, mine]) => mine)}, speedup,
        ...Object.fromEntries(task.metrics.map((k) => [`${k}Drop`, baseline[k] - pruned[k]])), ...(latencyModel ? {latencyModel} : {}),
        rows: run.rows.map(({step, loss, space, unit, producers, score, macs, memory, macsRatio}) => ({step, loss, space, unit, producers, score, macs, memory, macsRatio})),
        date: new Date().toISOString()};
      await saveModel(small, o.out);
      await writeFilesAtomic(o.out, [['report.json', JSON.stringify(report, null, 2)]]);
      fs.rmSync(ckptDir, {recursive: true, force: true});
      optimizer.dispose();
      print(o.json, report, () => `MACs ${baseline.macs} -> ${pruned.macs} (${(100 * pruned.macs / baseline.macs).toFixed(1)}%), ` +
        `${task.metrics.map((k) => `${k} ${(100 * baseline[k]).toFixed(2)}% -> ${(100 * pruned[k]).toFixed(2)}%`).join(', ')}, speed-up ${Object.entries(speedup).map(([k, v]) => `${k} ${v.toFixed(2)}x`).join(', ')} -> ${o.out}`);
    });

  program.command('demo').description('a page running a pruned model beside its baseline in the browser, on Fashion-MNIST test images')
    .argument('<dir>', 'pruned model directory or model.json')
    .option('--baseline <path>', 'baseline model directory or model.json, shown beside it')
    .option('--out <dir>', 'write index.html and its assets here')
    .option('--serve', 'serve the page on 127.0.0.1 and print its URL')
    .option('--port <n>', 'port for --serve (default: any free one)', int('--port'))
    .option('--images <n>', 'Fashion-MNIST test images to classify', int('--images'), 32)
    .action(async (dir: string, o) => demoCommand(dir, o));

  await program.parseAsync(argv);
}
