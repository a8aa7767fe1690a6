import { promises as fs } from 'fs';
import { promisify } from 'util';
import * as zlib from 'zlib';

const gunzip = promisify(zlib.gunzip);

/** Reads a whole file, gunzipping it when it starts with the gzip magic 1f 8b; errors name the file and `expected`.
 * @example const bytes = await readMaybeGzip('datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz', 'an IDX file');
 */
export async function readMaybeGzip(file: string, expected: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await fs.readFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message}); expected ${expected}`);
  }
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  try {
    return await gunzip(raw);
  } catch (e) {
    throw new Error(`${file}: gzip data is corrupt or truncated (${(e as Error).message}); expected ${expected}, gzipped or raw`);
  }
}
