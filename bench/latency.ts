// Latency of several saved models timed in ONE process, interleaved run by run (compareLatency), so
// that machine load affects them alike; speed-ups are taken against the first model.
// Usage: node dist/bench/latency.js --models DIR_A,DIR_B[,...] [--batch 1,64] [--runs 10] [--name latency]
import {useBackend} from '../src/backend';
import {compareLatency, countCosts, LatencyMeasurement} from '../src/measure';
import {loadModel} from '../src/train';
import {writeResult} from './common';

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
  // per batch size, every model timed in turn, run by run
  const latency: LatencyMeasurement[][] = [];
  for (const b of batches) latency.push(await compareLatency(models, b, {runs, warmup: 2}));
  const rows = models.map((m, i) => {
    const c = countCosts(m);
    return {model: dirs[i], macs: c.macs, params: c.params, memory: c.memory,
      latency: latency.map((perModel) => ({...perModel[i], speedup: perModel[0].medianMs / perModel[i].medianMs}))};
  });
  const file = writeResult(arg('name', 'latency'), {backend, runs, date: new Date().toISOString(), rows});
  for (const r of rows) process.stderr.write(`${r.model}: ${r.latency.map((l) => `b${l.batchSize} ${l.medianMs.toFixed(1)} ms (${l.speedup.toFixed(2)}x)`).join(', ')}\n`);
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
