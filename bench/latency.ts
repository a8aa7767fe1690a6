// Latency of several saved models timed in ONE process, interleaved run by run, so that machine load
// affects them alike; speed-ups are taken against the first model.
// Usage: node dist/bench/latency.js --models DIR_A,DIR_B[,...] [--batch 1,64] [--runs 10] [--name latency]
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {countCosts} from '../src/measure';
import {loadModel} from '../src/train';
import {median, writeResult} from './common';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

async function main(): Promise<void> {
  const backend = await useBackend('wasm');
  const dirs = arg('models', '').split(',').filter(Boolean);
  if (dirs.length < 1) throw new Error('--models DIR_A,DIR_B: model folders (or model.json paths) to compare');
  const batches = arg('batch', '1,64').split(',').map(Number);
  const runs = Number(arg('runs', '10'));
  const models = await Promise.all(dirs.map((d) => loadModel(d)));
  const times = models.map(() => batches.map(() => [] as number[]));
  const inputs = batches.map((b) => tf.randomUniform([b, ...(models[0].inputs[0].shape.slice(1) as number[])]));
  for (let r = -2; r < runs; r++) {
    for (const [i, m] of models.entries()) {
      for (const [j, x] of inputs.entries()) {
        const t0 = performance.now();
        const y = tf.tidy(() => m.predict(x) as tf.Tensor);
        await y.data();
        y.dispose();
        if (r >= 0) times[i][j].push(performance.now() - t0);
      }
    }
  }
  const rows = models.map((m, i) => {
    const c = countCosts(m);
    return {model: dirs[i], macs: c.macs, params: c.params, memory: c.memory,
      latency: batches.map((b, j) => ({batchSize: b, medianMs: median(times[i][j]), speedup: median(times[0][j]) / median(times[i][j])}))};
  });
  const file = writeResult(arg('name', 'latency'), {backend, runs, date: new Date().toISOString(), rows});
  for (const r of rows) process.stderr.write(`${r.model}: ${r.latency.map((l) => `b${l.batchSize} ${l.medianMs.toFixed(1)} ms (${l.speedup.toFixed(2)}x)`).join(', ')}\n`);
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
