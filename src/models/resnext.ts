import * as tf from '@tensorflow/tfjs';
import {Builder, ModelOptions, positiveInt} from './common';

/** Options of {@link resnext}. */
export interface ResNeXtOptions extends ModelOptions {
  /** Groups of the 3x3 conv. Default 8. */
  cardinality?: number;
  /** Channels per group in stage 1; doubles each stage. Default 4. */
  bottleneckWidth?: number;
  /** Blocks per stage (stage 1 stride 1, later stages stride 2). Default [2, 2, 2]. */
  blocks?: number[];
  /** Stem channels. Default 16. */
  stemWidth?: number;
}

/**
 * CIFAR-style ResNeXt (Xie et al. 2017): bottleneck blocks 1x1 -> GroupConv2D 3x3 (cardinality
 * groups) -> 1x1 (2x the group-conv width), BN + ReLU, residual Add with 1x1 conv+BN projection
 * when the shape changes. Default: stage widths (group conv / output) 32/64, 64/128, 128/256.
 * @example const m = resnext({inputShape: [28, 28, 1], classes: 10});
 */
export function resnext(opts: ResNeXtOptions): tf.LayersModel {
  const {cardinality = 8, bottleneckWidth = 4, blocks = [2, 2, 2], stemWidth = 16} = opts;
  positiveInt(cardinality, 'resnext: cardinality');
  positiveInt(bottleneckWidth, 'resnext: bottleneckWidth');
  positiveInt(stemWidth, 'resnext: stemWidth');
  if (blocks.length === 0) throw new Error('resnext: blocks must list at least one stage, e.g. [2, 2, 2]');
  blocks.forEach((n, s) => positiveInt(n, `resnext: blocks[${s}]`));
  const b = new Builder(opts.seed);
  const input = tf.input({shape: opts.inputShape, name: 'input'});
  let x = b.convBnRelu(input, 'stem_conv', {filters: stemWidth, kernelSize: 3});
  let channels = stemWidth;
  blocks.forEach((n, s) => {
    const inner = cardinality * bottleneckWidth * 2 ** s; // group conv channels
    const out = 2 * inner;
    for (let i = 0; i < n; i++) {
      const p = `stage${s + 1}_block${i}`;
      const strides = s > 0 && i === 0 ? 2 : 1;
      let y = b.convBnRelu(x, `${p}_conv1`, {filters: inner, kernelSize: 1});
      y = b.convBnRelu(y, `${p}_conv2`, {filters: inner, kernelSize: 3, strides, groups: cardinality});
      y = b.convBn(y, `${p}_conv3`, {filters: out, kernelSize: 1});
      const shortcut = strides !== 1 || channels !== out ? b.convBn(x, `${p}_proj`, {filters: out, kernelSize: 1, strides}) : x;
      x = b.relu(b.add([shortcut, y], `${p}_add`), `${p}_relu`);
      channels = out;
    }
  });
  return tf.model({inputs: input, outputs: b.head(x, opts.classes), name: 'resnext'});
}
