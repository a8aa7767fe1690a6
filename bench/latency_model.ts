// Predicted vs measured latency of pruned models, for the pack-aware latency model (profileLatency(): 8 widths on
// and off multiples of 4/8, packs 1/4/8) and the plain line profileLatency() fitted before (ms = intercept + slope *
// work through the same profile's samples at widths 1, 0.75, 0.5, 0.25, so that both see the same load).
// Per zoo model and batch size: the profile (and what it cost), random kept counts at several widths with and
// without rounding to multiples of 8, every pruned model exported, predicted by both and timed interleaved.
// Usage: node dist/bench/latency_model.js [--models resnet20,mobilenetv2] [--batch 1,64] [--runs 10] [--threads N] [--name latency_model]
import * as os from 'os';
import {useBackend} from '../src/backend';
import {mulberry32} from '../src/data/prng';
import {group} from '../src/graph';
import {compareLatency} from '../src/measure';
import {byName} from '../src/models';
import {costsAt, exportPruned, LatencyModel, profileLatency} from '../src/prune';
import {median, writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

/** The two latency models compared, made from one profile. */
type Fit = 'linear' | 'packed';
const fitNames: Fit[] = ['linear', 'packed'];
const oldWidths = [0, 2, 4, 6]; // widths 1, 0.75, 0.5, 0.25 of profileLatency()'s default widths

/** The plain line of each call through the samples at oldWidths (slope clamped at 0), as profileLatency() fitted it before packs. */
function linear(lat: LatencyModel): LatencyModel {
  return {...lat, calls: lat.calls.map(({layer, call, kind, work, ms}) => {
    const [x, y] = [oldWidths.map((w) => work[w]), oldWidths.map((w) => ms[w])];
    const [mx, my] = [x.reduce((a, b) => a + b) / x.length, y.reduce((a, b) => a + b) / y.length];
    const sxx = x.reduce((s, v) => s + (v - mx) ** 2, 0);
    const slope = sxx > 0 ? Math.max(0, x.reduce((s, v, i) => s + (v - mx) * (y[i] - my), 0) / sxx) : 0;
    return {layer, call, kind, work: x, ms: y, slope, intercept: my - slope * mx};
  })};
}

const loads = (): number[] => os.loadavg().map((l) => Math.round(l * 100) / 100);

async function main(): Promise<void> {
  const threads = process.argv.includes('--threads') ? Number(arg('threads', '1')) : undefined;
  const backend = await useBackend('wasm', threads ? {threads} : {});
  const names = arg('models', 'resnet20,mobilenetv2').split(',');
  const batches = arg('batch', '1,64').split(',').map(Number);
  const runs = Number(arg('runs', '10'));
  const results = [];
  for (const name of names) {
    const model = byName(name, {inputShape: [28, 28, 1], classes: 10});
    const g = group(model);
    const rand = mulberry32(21);
    // kept counts: every prunable space at about width * units (jittered by +-20%), as is or rounded to a multiple of 8
    const variants = [0.9, 0.7, 0.5, 0.3].flatMap((width) => {
      const raw = g.spaces.map((s) => (s.prunable ? Math.min(s.units, Math.max(1, Math.round(width * s.units * (0.8 + 0.4 * rand())))) : s.units));
      const aligned = raw.map((n, i) => (g.spaces[i].prunable && n < g.spaces[i].units ? Math.min(g.spaces[i].units, Math.max(8, Math.round(n / 8) * 8)) : n));
      return [{width, roundTo: 1, counts: raw}, {width, roundTo: 8, counts: aligned}];
    });
    const all = [{width: 1, roundTo: 1, counts: g.spaces.map((s) => s.units)}, ...variants];
    const smalls = all.map((v) => exportPruned(g, v.counts.map((n, s) => Array.from({length: g.spaces[s].units}, (_, k) => k < n))));
    try {
      for (const batchSize of batches) {
        const loadBefore = loads();
        const t0 = performance.now();
        const packed = await profileLatency(g, {batchSize});
        const profileSeconds = (performance.now() - t0) / 1000;
        const profiles: Record<Fit, LatencyModel> = {linear: linear(packed), packed};
        const measured = await compareLatency(smalls, batchSize, {runs, warmup: 2});
        const rows = all.map((v, i) => {
          const predicted = Object.fromEntries(fitNames.map((f) => [f, costsAt(g, v.counts, profiles[f]).time!])) as Record<Fit, number>;
          return {width: v.width, roundTo: v.roundTo, macs: costsAt(g, v.counts).macs, measuredMs: measured[i].medianMs, predicted};
        });
        // |predicted - measured| / measured, in %, for the time itself and for the time relative to the unpruned model
        const error = (f: Fit, relative: boolean): number => median(rows.slice(1).map((r) => {
          const [p, m] = relative ? [r.predicted[f] / rows[0].predicted[f], r.measuredMs / rows[0].measuredMs] : [r.predicted[f], r.measuredMs];
          return (100 * Math.abs(p - m)) / m;
        }));
        const packs = (f: Fit): Record<string, number> => profiles[f].calls.reduce((c, call) => ({...c, [call.pack ?? 1]: (c[call.pack ?? 1] ?? 0) + 1}), {} as Record<string, number>);
        const summary = Object.fromEntries(fitNames.map((f) => [f, {medianAbsErrorPct: error(f, false), medianAbsErrorRelativePct: error(f, true), packs: packs(f)}]));
        results.push({model: name, batchSize, profileSeconds, loadavg: {before: loadBefore, after: loads()}, summary, rows});
        process.stderr.write(`${name} b${batchSize}: profile ${profileSeconds.toFixed(0)} s; ${fitNames.map((f) => `${f} ${summary[f].medianAbsErrorPct.toFixed(1)}% ` +
          `(relative ${summary[f].medianAbsErrorRelativePct.toFixed(1)}%)`).join(', ')}; load ${loads().join(' ')}\n`);
      }
    } finally {
      smalls.forEach((m) => m.dispose());
      model.dispose();
    }
  }
  const file = writeResult(arg('name', 'latency_model'), {backend, threads: threads ?? 'all cores', runs,
    note: 'shared machine (2 cores, other jobs running): timings are noisy, see loadavg; errors are medians over the pruned variants',
    results});
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
