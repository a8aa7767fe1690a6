// Aligned widths on wasm: each shipped pretrained model pruned to the same FLOPs target with roundTo 1, 4 and 8
// (memory-normalized L1 filter norms: no data needed, and the widths are what is measured here), and with roundTo 1
// then rounded up to multiples of 8 channels (the same layers pruned, only aligned); then every
// model, baseline included, timed in ONE process, interleaved run by run, at batch 1 and 64; beside each, the
// pack-aware latency model's prediction (profiled on the baseline at batch 64) and its error.
// Usage: node dist/bench/round_to.js [--models resnet20,mobilenetv2] [--round-to 1,4,8] [--target-flops 0.5]
//   [--runs 10] [--threads N] [--no-predict] -> bench/results/round_to.json
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend, wasmThreads} from '../src/backend';
import {group} from '../src/graph';
import {compareLatency, countCosts} from '../src/measure';
import {costsAt, costsOf, LatencyModel, profileLatency, pruner, unitCounts} from '../src/prune';
import {loadModel} from '../src/train';
import {median, writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const root = path.join(__dirname, '..', '..');

/**
 * The model pruned with `roundTo` until its MACs are at most `target` of the baseline's, as an exported model; with
 * `upTo`, every pruned space then gets back pruned units up to a multiple of `upTo` channels: the same pruning, only
 * aligned (it isolates what alignment costs from which layers were pruned).
 */
function pruneTo(base: tf.LayersModel, roundTo: number, target: number, upTo?: number): {model: tf.LayersModel; counts: number[]; aligned: boolean} {
  const p = pruner(base, {roundTo});
  const full = costsOf(p.grouping, p.kept).macs;
  while (costsOf(p.grouping, p.kept).macs > target * full) p.prune({units: 8, normalize: 'memory', criterion: 'l1'});
  if (upTo) {
    const state = p.snapshot();
    state.kept.forEach((units, s) => {
      const width = p.grouping.spaces[s].unit;
      let n = units.filter(Boolean).length;
      for (let k = 0; k < units.length && n < units.length && (n * width) % upTo !== 0; k++) if (!units[k]) [units[k], n] = [true, n + 1];
    });
    p.restore(state);
  }
  const align = upTo ?? roundTo;
  const counts = unitCounts(p.kept);
  // every space that lost units is at a multiple of `align` channels
  const aligned = p.grouping.spaces.every((s, i) => counts[i] === s.units || (counts[i] * s.unit) % align === 0);
  const model = p.export();
  p.dispose();
  return {model, counts, aligned};
}

async function main(): Promise<void> {
  const threads = arg('threads', '');
  await useBackend('wasm', threads ? {threads: Number(threads)} : {});
  const models = arg('models', 'resnet20,mobilenetv2').split(',');
  const ks = arg('round-to', '1,4,8').split(',').map(Number);
  const target = Number(arg('target-flops', '0.5'));
  const runs = Number(arg('runs', '10'));
  const rows: ({model: string; roundTo: string | null; errorOfSpeedup_b64?: number} & Record<string, unknown>)[] = [];
  for (const name of models) {
    const base = await loadModel(path.join(root, 'datasets', 'pretrained', name));
    const g = group(base);
    let latency: LatencyModel | undefined;
    if (!process.argv.includes('--no-predict')) {
      process.stderr.write(`${name}: profiling the latency model at batch 64\n`);
      latency = await profileLatency(g, {batchSize: 64});
    }
    // roundTo 1 pruned as it is and then rounded up to 8 channels
    const pruned = [...ks.map((k) => ({k: String(k), ...pruneTo(base, k, target)})), {k: '1, then up to 8', ...pruneTo(base, 1, target, 8)}];
    const nets = [base, ...pruned.map((v) => v.model)];
    const counts = [g.spaces.map((s) => s.units), ...pruned.map((v) => v.counts)];
    const [b1, b64] = [await compareLatency(nets, 1, {runs, warmup: 2}), await compareLatency(nets, 64, {runs, warmup: 2})];
    const predicted = latency ? counts.map((c) => costsAt(g, c, latency).time!) : [];
    nets.forEach((net, i) => {
      const c = countCosts(net);
      const v = i > 0 ? pruned[i - 1] : undefined;
      const pred = latency ? {predicted_b64: predicted[i], predictedSpeedup_b64: predicted[0] / predicted[i],
        errorOfSpeedup_b64: (predicted[0] / predicted[i]) / (b64[0].medianMs / b64[i].medianMs) - 1} : {};
      rows.push({model: name, roundTo: v?.k ?? null, aligned: v?.aligned ?? null, macs: c.macs, params: c.params, memory: c.memory,
        ms: {b1: b1[i].medianMs, b64: b64[i].medianMs}, speedup: {b1: b1[0].medianMs / b1[i].medianMs, b64: b64[0].medianMs / b64[i].medianMs}, ...pred});
      process.stderr.write(`${name} ${v ? `roundTo ${v.k}` : 'baseline'}: MACs ${(c.macs / 1e6).toFixed(2)}M  b1 ${b1[i].medianMs.toFixed(2)} ms  ` +
        `b64 ${b64[i].medianMs.toFixed(1)} ms (${(b64[0].medianMs / b64[i].medianMs).toFixed(2)}x${latency ? `, predicted ${(predicted[0] / predicted[i]).toFixed(2)}x` : ''})\n`);
    });
    pruned.forEach((v) => v.model.dispose());
    base.dispose();
  }
  const errors = rows.flatMap((r) => (r.errorOfSpeedup_b64 !== undefined && r.roundTo !== null ? [Math.abs(r.errorOfSpeedup_b64)] : []));
  const file = writeResult(arg('name', 'round_to'), {backend: 'wasm', threads: wasmThreads(), runs, targetFlops: target, date: new Date().toISOString(), rows,
    ...(errors.length ? {medianAbsErrorOfSpeedup_b64: median(errors)} : {}),
    note: 'pruned by memory-normalized L1 norms (no training: latency only); ms: medians of interleaved runs; errorOfSpeedup_b64: predicted / measured speed-up - 1'});
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
