import * as tf from '@tensorflow/tfjs';
import {Costs, countCosts} from './count_costs';
import {LatencyMeasurement, checkInteger, compareLatency} from './latency';

/** Options of `measure`. */
export interface MeasureOptions {
  /** Batch size(s) to time (default 1). */
  batchSize?: number | number[];
  /** Timed runs per batch size (default 10). */
  runs?: number;
  /** Untimed runs before them (default 2). */
  warmup?: number;
  /** Time inference at all (default true). */
  latency?: boolean;
}

/** Plain, JSON-serialisable measurement of a model. */
export interface Measurement extends Costs {
  /** Backend the latency was measured on. */
  backend: string;
  /** One entry per batch size; empty when latency is off. */
  latency: LatencyMeasurement[];
}

/**
 * Per-layer and total MACs, params, activation memory, and inference latency on the current backend. Given several
 * models, they are timed interleaved (run r of every model, then run r + 1), so load on the machine affects them
 * alike and their ratios are fair; one Measurement per model then.
 * @example const m = await measure(model, {batchSize: [1, 64], runs: 10}); console.log(m.macs, m.latency[1].medianMs);
 * @example const [base, small] = await measure([baseline, pruned], {batchSize: 64}); base.latency[0].medianMs / small.latency[0].medianMs;
 */
export async function measure(model: tf.LayersModel, opts?: MeasureOptions): Promise<Measurement>;
export async function measure(models: tf.LayersModel[], opts?: MeasureOptions): Promise<Measurement[]>;
export async function measure(which: tf.LayersModel | tf.LayersModel[], opts: MeasureOptions = {}): Promise<Measurement | Measurement[]> {
  const models = [which].flat();
  if (models.length === 0) throw new Error('measure: no model given');
  const batchSizes = [opts.batchSize ?? 1].flat();
  const runs = opts.runs ?? 10;
  const warmup = opts.warmup ?? 2;
  batchSizes.forEach((b) => checkInteger('batchSize', b, 1));
  checkInteger('runs', runs, 1);
  checkInteger('warmup', warmup, 0);
  const latency: LatencyMeasurement[][] = models.map(() => []);
  if (opts.latency ?? true) {
    for (const b of batchSizes) (await compareLatency(models, b, {runs, warmup})).forEach((l, i) => latency[i].push(l));
  }
  const measured = models.map((m, i) => ({...countCosts(m), backend: tf.getBackend(), latency: latency[i]}));
  return Array.isArray(which) ? measured : measured[0];
}
