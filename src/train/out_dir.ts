/**
 * The output folder of a run (--out): checked before any work so nothing is overwritten by surprise, and
 * locked while a run writes it (DIR/.gfp.lock holds the writer's pid).
 */
import { existsSync, promises as fs, unlinkSync, rmdirSync } from 'fs';
import * as path from 'path';
import { hasCheckpoint } from './checkpoint';

export const LOCK_FILE = '.gfp.lock';

/** What a run may do with the folder it writes. */
export interface OutOptions {
  /** Continue the run whose checkpoint the folder holds (refused when it holds none). */
  resume?: boolean;
  /** Replace what the folder holds: its checkpoint is removed first, its other files are overwritten as the run writes them. */
  overwrite?: boolean;
  /** Models the run reads (folders or model.json paths): the folder may not be one of their folders, nor lie inside one. */
  models?: string[];
  /** Where the run keeps its checkpoint (default: the folder itself). */
  checkpoint?: string;
  /** False for commands without --resume (gfp demo). Default true. */
  resumable?: boolean;
}

/** `p` with symbolic links resolved, also when its last parts do not exist yet. */
async function realPath(p: string): Promise<string> {
  const abs = path.resolve(p);
  const parent = path.dirname(abs);
  return fs.realpath(abs).catch(() => (parent === abs ? abs : realPath(parent).then((r) => path.join(r, path.basename(abs)))));
}

/** The pid in a lock file, or undefined when the file is missing or unreadable. */
async function lockPid(file: string): Promise<number | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** True while process `pid` runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The error for a folder a live run holds. */
const inUse = (out: string, pid: number | undefined) =>
  new Error(`--out ${out} is being written by process ${pid ?? '(unknown)'} (lock ${path.join(out, LOCK_FILE)}): wait for that run to end, or choose another --out`);

/**
 * Refuses, before any work and without writing anything, an output folder that would lose data or fail late:
 * the folder (or inside the folder) of a model the run reads; a file; a folder that cannot be written; a folder
 * holding an earlier run without `resume` or `overwrite`; `resume` where there is no checkpoint; a folder another
 * running process writes.
 * @example await checkOut('runs/p', {models: ['runs/r20'], resume: false});
 */
export async function checkOut(out: string, o: OutOptions = {}): Promise<void> {
  const resumable = o.resumable ?? true;
  if (o.resume && o.overwrite) throw new Error(`--resume and --overwrite contradict each other: --resume continues the run in ${out}, --overwrite replaces it; give one`);
  const real = await realPath(out);
  for (const model of o.models ?? []) {
    const stat = await fs.stat(model).catch(() => undefined);
    if (!stat) continue; // a zoo name
    const folder = await realPath(stat.isDirectory() ? model : path.dirname(model));
    if (real === folder || real.startsWith(folder + path.sep)) {
      throw new Error(`--out ${out} is ${real === folder ? 'the folder' : 'inside the folder'} of the model ${model}: writing there would replace or mix with that model; choose another --out`);
    }
  }
  // the folder, or the nearest existing folder above it, must be a writable folder
  let existing = path.resolve(out);
  while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  const stat = await fs.stat(existing);
  if (!stat.isDirectory()) {
    throw new Error(existing === path.resolve(out) ? `--out ${out} is a file, not a folder: give a folder path` : `--out ${out} cannot be created: ${existing} is a file`);
  }
  await fs.access(existing, fs.constants.W_OK | fs.constants.X_OK).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`--out ${out} cannot be written: ${existing} is not writable (${e.code})`);
  });
  if (existing !== path.resolve(out)) {
    if (o.resume) throw new Error(`--resume: ${out} does not exist, so there is no checkpoint to continue: check the folder name, or leave out --resume to start a new run`);
    return;
  }
  const pid = await lockPid(path.join(out, LOCK_FILE));
  if (pid !== undefined && alive(pid)) throw inUse(out, pid);
  const checkpoint = o.checkpoint ?? out;
  if (o.resume && !(await hasCheckpoint(checkpoint))) {
    throw new Error(`--resume: ${out} holds no checkpoint (no ${path.join(checkpoint, 'checkpoint.json')}): check the folder name, or leave out --resume to start a new run`);
  }
  const files = (await fs.readdir(out)).filter((f) => f !== LOCK_FILE);
  if (!o.resume && !o.overwrite && files.length > 0) {
    const shown = files.slice(0, 4).join(', ') + (files.length > 4 ? `, ... (${files.length} entries)` : '');
    const resume = resumable && (await hasCheckpoint(checkpoint)) ? '--resume to continue the run it holds, ' : '';
    throw new Error(`--out ${out} already holds ${shown}: add ${resume}--overwrite to replace it, or choose another --out`);
  }
}

/**
 * Locks `out` for this process (creating it): DIR/.gfp.lock, created exclusively, holds the pid. A lock left by a
 * process that no longer runs is taken over with a note on stderr. Returns the release, which also runs at exit and
 * removes the folder again when this call created it and it is empty.
 * @example const release = await lockOut('runs/p'); try { ... } finally { release(); }
 */
export async function lockOut(out: string): Promise<() => void> {
  const created = !existsSync(out);
  await fs.mkdir(out, { recursive: true }).catch((e: Error) => {
    throw new Error(`--out ${out} cannot be created: ${e.message}`);
  });
  const file = path.join(out, LOCK_FILE);
  const take = () => fs.writeFile(file, `${process.pid}\n`, { flag: 'wx' });
  try {
    await take();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`--out ${out} cannot be written: ${(e as Error).message}`);
    const pid = await lockPid(file);
    if (pid !== undefined && alive(pid)) throw inUse(out, pid);
    process.stderr.write(`gfp: taking over the lock ${file} of process ${pid ?? '(unknown)'}, which no longer runs\n`);
    await fs.rm(file, { force: true });
    await take().catch(async () => {
      throw inUse(out, await lockPid(file)); // another run took it first
    });
  }
  const release = () => {
    process.off('exit', release);
    try {
      unlinkSync(file);
      if (created) rmdirSync(out); // fails, as it should, unless the folder is empty
    } catch {
      // already gone, or the folder holds the run's files
    }
  };
  process.on('exit', release);
  return release;
}

/**
 * checkOut, then lockOut, then with `overwrite` the earlier checkpoint is removed (a later --resume cannot mix runs).
 * @example const release = await claimOut(o.out, {resume: o.resume, overwrite: o.overwrite, models: [o.model]});
 */
export async function claimOut(out: string, o: OutOptions = {}): Promise<() => void> {
  await checkOut(out, o);
  const release = await lockOut(out);
  try {
    if (o.overwrite && (o.resumable ?? true)) {
      const checkpoint = o.checkpoint ?? out;
      if (checkpoint !== out) await fs.rm(checkpoint, { recursive: true, force: true });
      else await fs.rm(path.join(out, 'checkpoint.json'), { force: true });
    }
  } catch (e) {
    release();
    throw e;
  }
  return release;
}
