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

/** bench/results/<name>.json, or $GFP_RESULTS/<name>.json. */
export const resultFile = (name: string): string =>
  path.join(process.env.GFP_RESULTS ?? path.join(__dirname, '..', '..', 'bench', 'results'), `${name}.json`);

/** Write {@link resultFile}(name) atomically (temp file + rename). */
export function writeResult(name: string, value: unknown): string {
  const file = resultFile(name);
  fs.mkdirSync(path.dirname(file), {recursive: true});
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
  return file;
}

/**
 * The flag that lets `gfp train|prune --out out` continue: --resume where `checkpointDir` holds a checkpoint,
 * --overwrite where `out` holds only what a run killed before its first checkpoint left, none for a new folder.
 * @example spawnSync('gfp', ['prune', ..., '--out', out, ...continueFlags(out, path.join(out, 'checkpoint'))]);
 */
export const continueFlags = (out: string, checkpointDir = out): string[] =>
  fs.existsSync(path.join(checkpointDir, 'checkpoint.json')) ? ['--resume'] : fs.existsSync(out) && fs.readdirSync(out).length ? ['--overwrite'] : [];
