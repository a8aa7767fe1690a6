import * as tf from '@tensorflow/tfjs';
import {Costs, countCosts} from './count_costs';
import {LatencyMeasurement, checkInteger, measureLatency} from './latency';

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
 * Per-layer and total MACs, params, activation memory, and inference latency on the current backend.
 * @example const m = await measure(model, {batchSize: [1, 64], runs: 10}); console.log(m.macs, m.latency[1].medianMs);
 */
export async function measure(model: tf.LayersModel, opts: MeasureOptions = {}): Promise<Measurement> {
  const batchSizes = [opts.batchSize ?? 1].flat();
  const runs = opts.runs ?? 10;
  const warmup = opts.warmup ?? 2;
  batchSizes.forEach((b) => checkInteger('batchSize', b, 1));
  checkInteger('runs', runs, 1);
  checkInteger('warmup', warmup, 0);
  const costs = countCosts(model);
  const latency: LatencyMeasurement[] = [];
  if (opts.latency ?? true) {
    for (const b of batchSizes) latency.push(await measureLatency(model, b, {runs, warmup}));
  }
  return {...costs, backend: tf.getBackend(), latency};
}
