import * as fs from 'fs';
import * as path from 'path';
import { ImageDataset, limitSplit, SplitLimit } from './dataset';
import { readIdx } from './idx';
import { packageRoot } from './package_root';

/** Fashion-MNIST class names, indexed by label. */
export const classNames: string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

// `base` or `base.gz` in dir, whichever exists (gz first).
function findFile(dir: string, base: string): string {
  const candidates = [path.join(dir, `${base}.gz`), path.join(dir, base)];
  const found = candidates.find((f) => fs.existsSync(f));
  if (found === undefined) throw new Error(`fashionMnist: neither ${candidates.join(' nor ')} exists; expected the four Fashion-MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz or raw) in ${dir}`);
  return found;
}

async function loadSplit(dir: string, prefix: 'train' | 't10k', name: string): Promise<ImageDataset> {
  const imageFile = findFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelFile = findFile(dir, `${prefix}-labels-idx1-ubyte`);
  const [images, labels] = await Promise.all([
    readIdx(imageFile, { dtype: 'uint8', rank: 3 }), // [N, 28, 28]
    readIdx(labelFile, { dtype: 'uint8', rank: 1 }), // [N]
  ]);
  if (images.dims[0] !== labels.dims[0]) throw new Error(`fashionMnist: ${imageFile} holds ${images.dims[0]} images but ${labelFile} holds ${labels.dims[0]} labels; expected equal counts`);
  const [, h, w] = images.dims;
  try {
    return new ImageDataset({ name, images: images.data, labels: labels.data, shape: [h, w, 1], classes: 10, classNames });
  } catch (e) {
    throw new Error(`fashionMnist: ${labelFile}: ${(e as Error).message}`);
  }
}

/** Loads Fashion-MNIST (train 60000, test 10000 images of 28x28x1) from `dir`, by default the copy shipped in datasets/fashion-mnist.
 * @example const {train, test} = await fashionMnist({limit: {train: 5000}}); // train.size === 5000
 */
export async function fashionMnist(opts: { dir?: string; limit?: SplitLimit } = {}): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const dir = opts.dir ?? path.join(packageRoot(), 'datasets', 'fashion-mnist');
  const [train, test] = await Promise.all([
    loadSplit(dir, 'train', 'fashion-mnist/train'),
    loadSplit(dir, 't10k', 'fashion-mnist/test'),
  ]);
  return {
    train: limitSplit(train, opts.limit?.train, 'fashionMnist: limit.train'),
    test: limitSplit(test, opts.limit?.test, 'fashionMnist: limit.test'),
  };
}
