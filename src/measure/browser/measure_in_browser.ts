/** Latency in the browser: models served to a page in headless Chromium, timed per backend and thread count. */
import * as tf from '@tensorflow/tfjs';
import {promises as fs} from 'fs';
import * as os from 'os';
import * as path from 'path';
import {saveModel} from '../../train/checkpoint';
import {checkInteger, LatencyMeasurement} from '../latency';
import type {BrowserBackend} from './page_runtime';
import {BrowserSession} from './session';

/** Options of `measureInBrowser`. */
export interface BrowserMeasureOptions {
  /** Batch size(s) to time (default [1, 32]). */
  batchSize?: number | number[];
  /** Timed runs per batch size (default 10). */
  runs?: number;
  /** Untimed runs before them (default 2). */
  warmup?: number;
  /** Backends to try, in order (default all three); wasm must start, the others are skipped when the page lacks them. */
  backends?: BrowserBackend[];
  /**
   * wasm thread counts to time, each on a freshly loaded page (the pool is sized once per page; the page is
   * cross-origin isolated so threads can run). Default: tfjs's own choice (half the browser's cores).
   */
  threads?: number[];
}

/** Latency of a model on one backend of one browser, shaped like `Measurement.latency`. */
export interface BrowserMeasurement {
  /** Browser name and version, e.g. 'chromium 156.0.8078.108'. */
  browser: string;
  backend: BrowserBackend;
  /** What ran it: wasm SIMD/threads, the WebGL renderer (SwiftShader is software), the WebGPU adapter. */
  device: string;
  /** Threads of XNNPACK's pool (wasm), else null. */
  threads: number | null;
  /** Index of the model in the list given to measureInBrowser (0 for a single model). */
  model: number;
  latency: LatencyMeasurement[];
}

/** All backends tried by `measureInBrowser`: per backend (and thread count), one measurement per model in order. */
export interface BrowserRun {
  browser: string;
  measurements: BrowserMeasurement[];
  /** Backends the page could not start, with tfjs's reason. */
  unavailable: {backend: BrowserBackend; reason: string}[];
}

/**
 * Inference latency of a model (directory, model.json or in-memory model) in headless Chromium, per backend the page
 * offers (and per wasm thread count asked for). Several models are timed interleaved, run by run.
 * @example const r = await measureInBrowser('runs/p', {batchSize: [1, 32], runs: 10}); console.log(r.measurements[0].latency[0].medianMs);
 * @example const r = await measureInBrowser([baseline, pruned], {backends: ['wasm'], threads: [1, 2]}); // 4 measurements
 */
export async function measureInBrowser(model: string | tf.LayersModel | (string | tf.LayersModel)[], opts: BrowserMeasureOptions = {}): Promise<BrowserRun> {
  const models = [model].flat();
  if (models.length === 0) throw new Error('measureInBrowser: no model given');
  const batchSizes = [opts.batchSize ?? [1, 32]].flat();
  const runs = opts.runs ?? 10;
  const warmup = opts.warmup ?? 2;
  batchSizes.forEach((b) => checkInteger('batchSize', b, 1));
  checkInteger('runs', runs, 1);
  checkInteger('warmup', warmup, 0);
  (opts.threads ?? []).forEach((t) => checkInteger('threads', t, 1));
  const tmp = models.some((m) => typeof m !== 'string') ? await fs.mkdtemp(path.join(os.tmpdir(), 'gfp-browser-')) : undefined;
  try {
    const ids = models.map((_, i) => `m${i}`);
    const dirs: Record<string, string> = {};
    for (const [i, m] of models.entries()) {
      dirs[ids[i]] = typeof m === 'string' ? m : path.join(tmp!, ids[i]);
      if (typeof m !== 'string') await saveModel(m, dirs[ids[i]]);
    }
    const session = await BrowserSession.open(dirs);
    try {
      const run: BrowserRun = {browser: session.browser, measurements: [], unavailable: []};
      const threadCounts: (number | undefined)[] = opts.threads?.length ? opts.threads : [undefined];
      for (const [k, threads] of threadCounts.entries()) {
        if (threads !== undefined) await session.reload(threads);
        // the other backends do not depend on the wasm pool: timed with the first count only
        for (const backend of k === 0 ? opts.backends ?? ['wasm', 'webgl', 'webgpu'] : ['wasm' as const]) {
          const reason = await session.useBackend(backend);
          if (reason !== undefined && backend === 'wasm') throw new Error(`measureInBrowser: the wasm backend did not start in ${session.browser}: ${reason}`);
          if (reason !== undefined) {
            run.unavailable.push({backend, reason});
            continue;
          }
          for (const id of ids) await session.load(id);
          const latency = models.map(() => [] as LatencyMeasurement[]);
          for (const b of batchSizes) (await session.time(ids, b, {runs, warmup})).forEach((l, i) => latency[i].push(l));
          const device = await session.device(backend);
          const used = backend === 'wasm' ? await session.threads() : null;
          latency.forEach((l, i) => run.measurements.push({browser: session.browser, backend, device, threads: used, model: i, latency: l}));
        }
      }
      return run;
    } finally {
      await session.close();
    }
  } finally {
    if (tmp !== undefined) await fs.rm(tmp, {recursive: true, force: true});
  }
}
