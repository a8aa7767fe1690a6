import { promises as fs } from 'fs';
import * as path from 'path';
import { ImageDataset, limitSplit, SplitLimit } from './dataset';
import { readMaybeGzip } from './read_bytes';

/** CIFAR-10 class names, indexed by label. */
export const cifar10ClassNames: string[] = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

const SIDE = 32;
const PLANE = SIDE * SIDE;         // one colour plane, row-major
const RECORD = 1 + 3 * PLANE;      // label byte + R, G, B planes = 3073
const FORMAT = 'CIFAR-10 binary records of 1 label byte + 3072 pixel bytes (32x32 R, G, B planes)';

/** Decoded CIFAR-10 records. */
export interface CifarRecords {
  images: Uint8Array; // [N, 32, 32, 3] HWC
  labels: Uint8Array; // [N] in 0..9
}

/** Decodes CIFAR-10 binary bytes, converting each record from CHW to HWC; `source` names the file in errors.
 * @example const {images, labels} = parseCifar10(bytes, 'data_batch_1.bin'); // images.length === labels.length * 3072
 */
export function parseCifar10(bytes: Uint8Array, source: string): CifarRecords {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new Error(`${source}: length ${bytes.length} bytes is not a positive multiple of ${RECORD}; expected ${FORMAT}`);
  }
  const n = bytes.length / RECORD;
  const images = new Uint8Array(n * 3 * PLANE);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const rec = i * RECORD;
    labels[i] = bytes[rec];
    if (labels[i] > 9) throw new Error(`${source}: record ${i} has label ${labels[i]}; expected 0..9 (${FORMAT})`);
    // record planes [3, 32, 32] -> image [32, 32, 3]
    for (let c = 0; c < 3; c++) {
      const plane = rec + 1 + c * PLANE;
      for (let p = 0; p < PLANE; p++) images[(i * PLANE + p) * 3 + c] = bytes[plane + p];
    }
  }
  return { images, labels };
}

/** Reads one CIFAR-10 binary batch file (gzipped or raw).
 * @example const {images, labels} = await readCifar10('cifar-10-batches-bin/test_batch.bin'); // 10000 records
 */
export async function readCifar10(file: string): Promise<CifarRecords> {
  return parseCifar10(await readMaybeGzip(file, FORMAT), file);
}

async function loadFiles(files: string[], name: string): Promise<ImageDataset> {
  const parts = await Promise.all(files.map(readCifar10));
  const images = new Uint8Array(parts.reduce((a, p) => a + p.images.length, 0));
  const labels = new Uint8Array(parts.reduce((a, p) => a + p.labels.length, 0));
  let at = 0;
  for (const p of parts) { images.set(p.images, at * 3 * PLANE); labels.set(p.labels, at); at += p.labels.length; }
  return new ImageDataset({ name, images, labels, shape: [SIDE, SIDE, 3], classes: 10, classNames: cifar10ClassNames });
}

/** Loads CIFAR-10 from the binary version's folder: data_batch_*.bin (in number order) as train, test_batch.bin as test.
 * @example const {train, test} = await cifar10({dir: 'cifar-10-batches-bin', limit: {train: 10000}});
 */
export async function cifar10(opts: { dir: string; limit?: SplitLimit }): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const { dir } = opts;
  const expected = `expected the CIFAR-10 binary version (data_batch_1.bin ... data_batch_5.bin, test_batch.bin) in ${dir}`;
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (e) {
    throw new Error(`cifar10: cannot list ${dir} (${(e as Error).message}); ${expected}`);
  }
  const batchNumber = (f: string): number => Number(/^data_batch_(\d+)\.bin$/.exec(f)?.[1] ?? NaN);
  const trainFiles = entries.filter((f) => !Number.isNaN(batchNumber(f))).sort((a, b) => batchNumber(a) - batchNumber(b));
  if (trainFiles.length === 0) throw new Error(`cifar10: no data_batch_*.bin files in ${dir}; ${expected}`);
  if (!entries.includes('test_batch.bin')) throw new Error(`cifar10: no test_batch.bin in ${dir}; ${expected}`);
  const [train, test] = await Promise.all([
    loadFiles(trainFiles.map((f) => path.join(dir, f)), 'cifar10/train'),
    loadFiles([path.join(dir, 'test_batch.bin')], 'cifar10/test'),
  ]);
  return {
    train: limitSplit(train, opts.limit?.train, 'cifar10: limit.train'),
    test: limitSplit(test, opts.limit?.test, 'cifar10: limit.test'),
  };
}
