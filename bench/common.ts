import {spawnSync} from 'child_process';
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

/** Write {@link resultFile}(name) atomically (temp file + rename), with its provenance() first. */
export function writeResult(name: string, value: object): string {
  const file = resultFile(name);
  fs.mkdirSync(path.dirname(file), {recursive: true});
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify({provenance: provenance(), ...value}, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
  return file;
}

/**
 * How trainModel / pruneModel / trainDetectorModel continue into `out`: resume where `checkpointDir` holds a
 * checkpoint, overwrite where `out` holds only what a run killed before its first checkpoint left, neither for a new folder.
 * @example await pruneModel({..., out, ...continuing(out, path.join(out, 'checkpoint'))});
 */
export function continuing(out: string, checkpointDir = out): {resume: boolean; overwrite: boolean} {
  const resume = fs.existsSync(path.join(checkpointDir, 'checkpoint.json'));
  return {resume, overwrite: !resume && fs.existsSync(out) && fs.readdirSync(out).length > 0};
}

/**
 * What made a result: the command line (paths relative to the repository), the commit checked out (with
 * '+changes' when the tree differed from it) and the time. writeResult() puts it at the top of every result.
 * @example provenance().command; // 'node dist/bench/threads.js --rounds 4'
 */
export function provenance(): {command: string; commit: string | null; date: string} {
  const root = path.join(__dirname, '..', '..');
  const git = (...args: string[]): string | null => {
    const r = spawnSync('git', args, {cwd: root, encoding: 'utf8'});
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const commit = git('rev-parse', 'HEAD');
  const changed = commit !== null && (git('status', '--porcelain', '--untracked-files=no') ?? '') !== '';
  const args = process.argv.slice(1).map((a) => (path.isAbsolute(a) ? path.relative(root, a) || '.' : a));
  return {command: ['node', ...args].join(' '), commit: commit && `${commit}${changed ? '+changes' : ''}`, date: new Date().toISOString()};
}
