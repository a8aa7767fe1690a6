import * as tf from '@tensorflow/tfjs';
import {Grouping, readModel} from '../graph';
import {callWork, LatencyFit, LatencyModel} from './costs';
import {exportPruned} from './surgery';

/** Options of profileLatency(). */
export interface ProfileOptions {
  /** Batch size the model will run at (the latency to minimise). Default 64. */
  batchSize?: number;
  /**
   * Fractions of every prunable space's units kept in the profiled models. Default [1, 0.9, 0.75, 0.6, 0.5, 0.4, 0.25, 0.15]:
   * on spaces of 16, 32, 64 ... units, counts that are and are not multiples of 4 and 8.
   */
  widths?: number[];
  /** Channel packs a call's fit may pad to (the one that explains its times best is kept; the plain line, pack 1, is always tried). Default [1, 4, 8]. */
  packs?: number[];
  /** ms of one call of a layer on these inputs (default: timed on the active backend); inject one for deterministic tests. */
  timeCall?: (layer: tf.layers.Layer, inputs: tf.Tensor[]) => number | Promise<number>;
  /** Timed runs per call and width; the fastest is kept (the one least disturbed by other load). Default 5. */
  runs?: number;
  /** Spaces that may be pruned (others keep every unit). Default: every prunable space. */
  eligible?: boolean[];
}

type Fit = Pick<LatencyFit, 'slope' | 'intercept' | 'paddedSlope'>;

const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

/** Least-squares line through (x, y); slope clamped at 0 (time never falls with more work). */
function line(x: number[], y: number[]): {slope: number; intercept: number} {
  const [mx, my] = [mean(x), mean(y)];
  const sxx = x.reduce((s, v) => s + (v - mx) ** 2, 0);
  const slope = sxx > 0 ? Math.max(0, x.reduce((s, v, i) => s + (v - mx) * (y[i] - my), 0) / sxx) : 0;
  return {slope, intercept: my - slope * mx};
}

/**
 * Least squares y = intercept + slope * x + paddedSlope * p with both slopes >= 0 (the unconstrained plane, else the
 * better of the two lines); undefined when p carries nothing x does not (every sample aligned to the pack).
 */
function plane(x: number[], p: number[], y: number[]): Fit | undefined {
  const [mx, mp, my] = [mean(x), mean(p), mean(y)];
  const dot = (a: number[], ma: number, b: number[], mb: number): number => a.reduce((s, v, i) => s + (v - ma) * (b[i] - mb), 0);
  const [sxx, spp, sxp, sxy, spy] = [dot(x, mx, x, mx), dot(p, mp, p, mp), dot(x, mx, p, mp), dot(x, mx, y, my), dot(p, mp, y, my)];
  const det = sxx * spp - sxp * sxp;
  if (!(det > 1e-9 * sxx * spp)) return undefined;
  const [slope, paddedSlope] = [(spp * sxy - sxp * spy) / det, (sxx * spy - sxp * sxy) / det];
  if (slope >= 0 && paddedSlope >= 0) return {slope, paddedSlope, intercept: my - slope * mx - paddedSlope * mp};
  const [a, b] = [line(x, y), line(p, y)];
  const fits: Fit[] = [{...a, paddedSlope: 0}, {slope: 0, paddedSlope: b.slope, intercept: b.intercept}];
  return fits.sort((f, h) => sse(f, x, p, y) - sse(h, x, p, y))[0];
}

const predict = (f: Fit, x: number, p: number): number => f.intercept + f.slope * x + (f.paddedSlope ?? 0) * p;
const sse = (f: Fit, x: number[], p: number[], y: number[]): number => y.reduce((s, v, i) => s + (predict(f, x[i], p[i]) - v) ** 2, 0);

/**
 * The call's fit at the pack that explains its samples best by AIC (n ln(SSE / n) + 2 * parameters; a pack costs one
 * parameter more than the plain line, so it is kept only when it explains clearly more).
 */
function fitCall(work: number[], paddedBy: Map<number, number[]>, ms: number[]): Pick<LatencyFit, 'slope' | 'intercept' | 'pack' | 'padded' | 'paddedSlope' | 'residualMs'> {
  const n = ms.length;
  const scale = Math.max(...ms.map(Math.abs), 1e-9) ** 2 * 1e-12; // floor of SSE / n: an exact fit is not infinitely better
  const aic = (f: Fit, p: number[], k: number): number => n * Math.log(sse(f, work, p, ms) / n + scale) + 2 * k;
  const plain: Fit = {...line(work, ms), paddedSlope: 0};
  let best = {pack: 1, padded: work, fit: plain, aic: aic(plain, work, 2)};
  for (const [pack, padded] of paddedBy) {
    const fit = pack > 1 ? plane(work, padded, ms) : undefined;
    const score = fit ? aic(fit, padded, 3) : Infinity;
    if (fit && score < best.aic) best = {pack, padded, fit, aic: score};
  }
  const residualMs = Math.max(...ms.map((v, i) => Math.abs(predict(best.fit, work[i], best.padded[i]) - v)));
  return best.pack > 1 ? {...best.fit, pack: best.pack, padded: best.padded, residualMs} : {slope: best.fit.slope, intercept: best.fit.intercept, pack: 1, residualMs};
}

/** Backends whose kernels have finished when a call returns: their outputs need not be read back to time them. */
const SYNCHRONOUS = new Set(['wasm', 'cpu']);

/**
 * ms of one eager call of a layer on the given inputs; on a GPU backend with its output read back (which waits for
 * the kernels). On wasm and cpu the read-back would only add a copy of the output that a model's own calls never make.
 */
async function timeOnce(layer: tf.layers.Layer, xs: tf.Tensor[]): Promise<number> {
  const sync = SYNCHRONOUS.has(tf.getBackend());
  const t0 = performance.now();
  const out = layer.apply(xs.length === 1 ? xs[0] : xs) as tf.Tensor;
  if (!sync) await out.data();
  const ms = performance.now() - t0;
  out.dispose();
  return ms;
}

/**
 * Time every layer call of the model, physically pruned to a few widths, on the active backend and fit per call
 * ms = intercept + slope * work + paddedSlope * padded (work: MACs of convs and dense layers, output elements of the
 * others; padded: the work with channel counts rounded up to the call's pack, 1, 4 or 8, whichever fits best).
 * The 'latency' normalizer ranks a unit by the time this model predicts its removal saves.
 * @example const lat = await profileLatency(group(model), {batchSize: 64}); lat.calls[1].pack;
 */
export async function profileLatency(g: Grouping, opts: ProfileOptions = {}): Promise<LatencyModel> {
  const batchSize = opts.batchSize ?? 64;
  const widths = opts.widths ?? [1, 0.9, 0.75, 0.6, 0.5, 0.4, 0.25, 0.15];
  const packs = opts.packs ?? [1, 4, 8];
  const timeCall = opts.timeCall ?? timeOnce;
  const eligible = opts.eligible ?? g.spaces.map((s) => s.prunable);
  const runs = opts.runs ?? 5;
  for (const pack of packs) {
    if (!Number.isInteger(pack) || pack < 1) throw new Error(`profileLatency: packs holds ${pack}; a pack is a whole number of channels, at least 1 (e.g. [1, 4, 8])`);
  }
  const counts = widths.map((f) => g.spaces.map((s, i) => (eligible[i] ? Math.max(1, Math.round(f * s.units)) : s.units)));
  const smalls = counts.map((n) => exportPruned(g, g.spaces.map((s, i) => Array.from({length: s.units}, (_, k) => k < n[i]))));
  const samples = g.calls.map(() => ({work: [] as number[], ms: [] as number[], padded: new Map<number, number[]>()}));
  try {
    const graphs = smalls.map((m) => new Map(readModel(m).calls.map((c) => [`${c.layer.name}#${c.call}`, c])));
    const work = counts.map((n) => callWork(g, n));
    const paddedWork = packs.map((pack) => [pack, counts.map((n) => callWork(g, n, pack))] as const);
    for (const [i, c] of g.calls.entries()) {
      if (c.handler.input) continue;
      const at = graphs.map((calls) => calls.get(`${c.call.layer.name}#${c.call.call}`)!);
      const inputs = at.map((sc) => sc.inputShapes.map((shape) => tf.randomNormal([batchSize, ...shape])));
      try {
        // every width timed in turn, run by run, so load on the machine affects them alike
        const ms = at.map(() => [] as number[]);
        for (let r = -2; r < runs; r++) {
          for (const [w, sc] of at.entries()) {
            const t = await timeCall(sc.layer, inputs[w]);
            if (r >= 0) ms[w].push(t);
          }
        }
        const of = (wk: ReturnType<typeof callWork>): number => (c.handler.macs ? wk[i].macs ?? 0 : wk[i].elements);
        samples[i] = {work: work.map(of), ms: ms.map((m) => Math.min(...m)), padded: new Map(paddedWork.map(([pack, wks]) => [pack, wks.map(of)]))};
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
    const {work, ms, padded} = samples[i];
    return [{layer: c.call.layer.name, call: c.call.call, kind, work, ms, ...fitCall(work, padded, ms)}];
  });
  return {backend: tf.getBackend(), batchSize, calls};
}
