import * as tf from '@tensorflow/tfjs';

/** Wall time of one forward pass at one batch size, on the current backend. */
export interface LatencyMeasurement {
  batchSize: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Interquartile range (given from 4 runs on). */
  iqrMs?: number;
  runs: number;
}

// Linear interpolation between the closest ranks; `sorted` ascending, non-empty.
function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/**
 * Median, min, max and (from 4 runs) IQR of wall times in milliseconds.
 * @example summarize(1, [3, 1, 2]).medianMs === 2
 */
export function summarize(batchSize: number, times: number[]): LatencyMeasurement {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    batchSize,
    medianMs: quantile(sorted, 0.5),
    minMs: sorted[0],
    maxMs: sorted[sorted.length - 1],
    ...(times.length >= 4 ? {iqrMs: quantile(sorted, 0.75) - quantile(sorted, 0.25)} : {}),
    runs: times.length,
  };
}

// One inference pass, timed until its outputs are read back (includes the backend's sync). apply(), not
// execute(xs, names): tfjs' execute by output name throws for a layer called more than once (shared heads).
async function timeOnce(model: tf.LayersModel, xs: tf.Tensor[]): Promise<number> {
  const start = performance.now();
  const out = tf.tidy(() => model.apply(xs.length === 1 ? xs[0] : xs, {training: false}) as tf.Tensor | tf.Tensor[]);
  const outs = Array.isArray(out) ? out : [out];
  try {
    await Promise.all(outs.map((t) => t.data()));
  } finally {
    tf.dispose(outs);
  }
  return performance.now() - start;
}

/**
 * Throws unless `value` is an integer >= min; names the option.
 * @example checkInteger('runs', 0, 1) // throws: option runs must be an integer >= 1, got 0
 */
export function checkInteger(option: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`measure: option ${option} must be an integer >= ${min}, got ${value}`);
  }
}

/**
 * Times `runs` inference passes on random inputs of `batchSize` samples after `warmup` untimed ones.
 * @example const {medianMs} = await measureLatency(model, 32, {runs: 10, warmup: 2});
 */
export async function measureLatency(
  model: tf.LayersModel, batchSize: number, opts: {runs: number; warmup: number},
): Promise<LatencyMeasurement> {
  return (await compareLatency([model], batchSize, opts))[0];
}

/**
 * Time several models in turn, run by run, so that the machine's load affects them alike.
 * @example const [base, small] = await compareLatency([baseline, pruned], 64, {runs: 10, warmup: 2});
 */
export async function compareLatency(
  models: tf.LayersModel[], batchSize: number, opts: {runs: number; warmup: number},
): Promise<LatencyMeasurement[]> {
  checkInteger('batchSize', batchSize, 1);
  checkInteger('runs', opts.runs, 1);
  checkInteger('warmup', opts.warmup, 0);
  const inputsOf = (model: tf.LayersModel): tf.Tensor[] => model.inputs.map((input) => {
    const rest = input.shape.slice(1);
    if (rest.some((d) => d == null)) {
      throw new Error(`measure: input '${input.name}' has shape [${input.shape.map(String).join(', ')}]; ` +
        'latency needs a fixed per-sample shape');
    }
    return tf.randomUniform([batchSize, ...(rest as number[])]); // in [0, 1)
  });
  const xs = models.map(inputsOf);
  const times = models.map(() => [] as number[]);
  try {
    for (let r = -opts.warmup; r < opts.runs; r++) {
      for (const [i, model] of models.entries()) {
        const t = await timeOnce(model, xs[i]);
        if (r >= 0) times[i].push(t);
      }
    }
  } finally {
    tf.dispose(xs.flat());
  }
  return times.map((t) => summarize(batchSize, t));
}
