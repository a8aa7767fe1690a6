export { ImageDataset } from './dataset';
export type { Batch, BatchOptions, ChannelStats, ImageDatasetInit, SplitLimit } from './dataset';
export { parseIdx, readIdx } from './idx';
export type { IdxArray, IdxArrays, IdxDType, IdxExpect } from './idx';
export { cifar10, cifar10ClassNames, parseCifar10, readCifar10 } from './cifar';
export type { CifarRecords } from './cifar';
export { classNames, fashionMnist } from './fashion_mnist';
export { packageRoot } from './package_root';
export { mulberry32, permutation } from './prng';
