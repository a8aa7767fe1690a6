import * as fs from 'fs';
import * as path from 'path';

/** Median of a list of numbers. */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Time `f` (awaited) `runs` times after `warmup` runs; milliseconds. */
export async function timeRuns(f: () => Promise<void> | void, runs: number, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  return times;
}

/** Write bench/results/<name>.json (or $GFP_RESULTS/<name>.json) atomically (temp file + rename). */
export function writeResult(name: string, value: unknown): string {
  const dir = process.env.GFP_RESULTS ?? path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, {recursive: true});
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
  return file;
}
