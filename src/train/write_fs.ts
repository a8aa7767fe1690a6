/**
 * The file operations every model, checkpoint and report write goes through. Tests pass their own
 * layer (e.g. one that fails at the Nth call) to kill a write at each step.
 */
import { promises as fs } from 'fs';

/** File operations of a write; each names the file it failed on. */
export interface WriteFs {
  /** Create `file` (replacing it) with `data`, flushed to disk (fsync) before it resolves. */
  writeFile(file: string, data: string | Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** mkdir -p. */
  mkdir(dir: string): Promise<void>;
  /** Flush a folder's entries (new names, renames) to disk. */
  syncDir(dir: string): Promise<void>;
  /** rm -rf. */
  rm(target: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
}

/** Re-throws `e` with the file named (Node's ENOSPC and EIO messages name none), keeping its code. */
function named(what: string, file: string, e: unknown): never {
  const err = e as NodeJS.ErrnoException;
  throw Object.assign(new Error(`cannot ${what} ${file}: ${err.message}`, { cause: e }), { code: err.code });
}

/** The real file system (fs.promises, looked up at each call). */
export const nodeFs: WriteFs = {
  async writeFile(file, data) {
    try {
      const h = await fs.open(file, 'w');
      try {
        await h.writeFile(data);
        await h.sync();
      } finally {
        await h.close();
      }
    } catch (e) {
      named('write', file, e);
    }
  },
  rename: (from, to) => fs.rename(from, to).catch((e) => named('rename to', to, e)),
  mkdir: (dir) => fs.mkdir(dir, { recursive: true }).then(() => undefined, (e) => named('create the folder', dir, e)),
  async syncDir(dir) {
    try {
      const h = await fs.open(dir, 'r');
      try {
        await h.sync();
      } finally {
        await h.close();
      }
    } catch (e) {
      named('flush the folder', dir, e);
    }
  },
  rm: (target) => fs.rm(target, { recursive: true, force: true }).catch((e) => named('remove', target, e)),
  readdir: (dir) => fs.readdir(dir).catch((e) => named('list', dir, e)),
};
