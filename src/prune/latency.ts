import * as tf from '@tensorflow/tfjs';
import {Grouping, readModel} from '../graph';
import {callWork, LatencyModel} from './costs';
import {exportPruned} from './surgery';

/** Options of profileLatency(). */
export interface ProfileOptions {
  /** Batch size the model will run at (the latency to minimise). Default 64. */
  batchSize?: number;
  /** Fractions of every prunable space's units kept in the profiled models. Default [1, 0.75, 0.5, 0.25]. */
  widths?: number[];
  /** Timed runs per call and width; the fastest is kept (the one least disturbed by other load). Default 5. */
  runs?: number;
  /** Spaces that may be pruned (others keep every unit). Default: every prunable space. */
  eligible?: boolean[];
}

/** Least-squares line through (x, y); slope clamped at 0 (time never falls with more work). */
function line(x: number[], y: number[]): {slope: number; intercept: number} {
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  const sxx = x.reduce((s, v) => s + (v - mx) ** 2, 0);
  const slope = sxx > 0 ? Math.max(0, x.reduce((s, v, i) => s + (v - mx) * (y[i] - my), 0) / sxx) : 0;
  return {slope, intercept: my - slope * mx};
}

/** ms of one eager call of a layer on the given inputs, its output read back. */
async function timeOnce(layer: tf.layers.Layer, xs: tf.Tensor[]): Promise<number> {
  const t0 = performance.now();
  const out = layer.apply(xs.length === 1 ? xs[0] : xs) as tf.Tensor;
  await out.data();
  const ms = performance.now() - t0;
  out.dispose();
  return ms;
}

/**
 * Time every layer call of the model, physically pruned to a few widths, on the active backend and fit
 * ms = intercept + slope * work per call (work: MACs of convs and dense layers, output elements of the others).
 * The 'latency' normalizer ranks a unit by the time this model predicts its removal saves.
 * @example const lat = await profileLatency(group(model), {batchSize: 64}); lat.calls[1].slope;
 */
export async function profileLatency(g: Grouping, opts: ProfileOptions = {}): Promise<LatencyModel> {
  const batchSize = opts.batchSize ?? 64;
  const widths = opts.widths ?? [1, 0.75, 0.5, 0.25];
  const eligible = opts.eligible ?? g.spaces.map((s) => s.prunable);
  const runs = opts.runs ?? 5;
  const counts = widths.map((f) => g.spaces.map((s, i) => (eligible[i] ? Math.max(1, Math.round(f * s.units)) : s.units)));
  const smalls = counts.map((n) => exportPruned(g, g.spaces.map((s, i) => Array.from({length: s.units}, (_, k) => k < n[i]))));
  const samples = g.calls.map(() => ({work: [] as number[], ms: [] as number[]}));
  try {
    const graphs = smalls.map((m) => new Map(readModel(m).calls.map((c) => [`${c.layer.name}#${c.call}`, c])));
    const work = counts.map((n) => callWork(g, n));
    for (const [i, c] of g.calls.entries()) {
      if (c.handler.input) continue;
      const at = graphs.map((calls) => calls.get(`${c.call.layer.name}#${c.call.call}`)!);
      const inputs = at.map((sc) => sc.inputShapes.map((shape) => tf.randomNormal([batchSize, ...shape])));
      try {
        // every width timed in turn, run by run, so load on the machine affects them alike
        const ms = at.map(() => [] as number[]);
        for (let r = -2; r < runs; r++) {
          for (const [w, sc] of at.entries()) {
            const t = await timeOnce(sc.layer, inputs[w]);
            if (r >= 0) ms[w].push(t);
          }
        }
        samples[i] = {work: work.map((wk) => wk[i].macs ?? wk[i].elements), ms: ms.map((m) => Math.min(...m))};
      } finally {
        tf.dispose(inputs.flat());
      }
    }
  } finally {
    smalls.forEach((m) => m.dispose());
  }
  const calls = g.calls.flatMap((c, i) => {
    if (!samples[i].ms.length) return [];
    const kind: 'macs' | 'elements' = c.handler.macs ? 'macs' : 'elements';
    return [{layer: c.call.layer.name, call: c.call.call, kind, ...samples[i], ...line(samples[i].work, samples[i].ms)}];
  });
  return {backend: tf.getBackend(), batchSize, calls};
}
