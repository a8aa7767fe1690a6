import * as tf from '@tensorflow/tfjs';
import {Builder, ModelOptions, positiveInt} from './common';

/** Options of {@link resnet}. */
export interface ResNetOptions extends ModelOptions {
  /** 6n+2: 20 (n=3), 32, 44, 56 (n=9), 110, ... */
  depth: number;
  /** Channels of stage 1; stages 2 and 3 have 2x and 4x. Default 16. */
  width?: number;
}

/**
 * CIFAR-style ResNet (He et al. 2016, sec. 4.2): 3x3 stem, three stages of n basic blocks with
 * widths w, 2w, 4w (stride 2 at stages 2 and 3), 1x1 conv+BN projection shortcut when the shape
 * changes, global average pool, Dense logits.
 * @example const m = resnet({depth: 20, inputShape: [28, 28, 1], classes: 10});
 */
export function resnet(opts: ResNetOptions): tf.LayersModel {
  const {depth, width = 16} = opts;
  if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) {
    throw new Error(`resnet: depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got ${depth}`);
  }
  positiveInt(width, 'resnet: width');
  positiveInt(opts.classes, 'resnet: classes');
  const n = (depth - 2) / 6;
  const b = new Builder(opts.seed);
  const input = tf.input({shape: opts.inputShape, name: 'input'});
  let x = b.convBnRelu(input, 'stem_conv', {filters: width, kernelSize: 3});
  let channels = width;
  for (let s = 0; s < 3; s++) {
    const filters = width * 2 ** s;
    for (let i = 0; i < n; i++) {
      const p = `stage${s + 1}_block${i}`;
      const strides = s > 0 && i === 0 ? 2 : 1;
      const y = b.convBnRelu(x, `${p}_conv1`, {filters, kernelSize: 3, strides});
      const residual = b.convBn(y, `${p}_conv2`, {filters, kernelSize: 3});
      const shortcut = strides !== 1 || channels !== filters
        ? b.convBn(x, `${p}_proj`, {filters, kernelSize: 1, strides})
        : x;
      x = b.relu(b.add([shortcut, residual], `${p}_add`), `${p}_relu`);
      channels = filters;
    }
  }
  return tf.model({inputs: input, outputs: b.head(x, opts.classes), name: `resnet${depth}`});
}
