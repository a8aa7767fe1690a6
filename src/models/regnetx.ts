import * as tf from '@tensorflow/tfjs';
import {Builder, ModelOptions, positiveInt} from './common';

/** Options of {@link regnetx}. */
export interface RegNetXOptions extends ModelOptions {
  /** Output channels per stage; each a multiple of groupWidth. Default [24, 48, 96]. */
  widths?: number[];
  /** Blocks per stage. Default [1, 2, 2]. */
  depths?: number[];
  /** Channels per group of the 3x3 conv. Default 8. */
  groupWidth?: number;
  /** Stem channels. Default 16. */
  stemWidth?: number;
}

/**
 * RegNetX-like net (Radosavovic et al. 2020) for small inputs: 3x3 stem (stride 1), stages of
 * X blocks (1x1, grouped 3x3 with `groupWidth` channels per group, 1x1, bottleneck ratio 1,
 * residual Add with 1x1 conv+BN projection when the shape changes). Stage 1 stride 1, later
 * stages stride 2 (28 -> 28 -> 14 -> 7 with the default 3 stages).
 * @example const m = regnetx({inputShape: [28, 28, 1], classes: 10});
 */
export function regnetx(opts: RegNetXOptions): tf.LayersModel {
  const {widths = [24, 48, 96], depths = [1, 2, 2], groupWidth = 8, stemWidth = 16} = opts;
  positiveInt(groupWidth, 'regnetx: groupWidth');
  positiveInt(stemWidth, 'regnetx: stemWidth');
  if (widths.length === 0 || widths.length !== depths.length) {
    throw new Error(`regnetx: widths and depths must be non-empty and of equal length, got ${widths.length} and ${depths.length}`);
  }
  widths.forEach((w, s) => {
    if (positiveInt(w, `regnetx: widths[${s}]`) % groupWidth !== 0) {
      throw new Error(`regnetx: widths[${s}] (${w}) must be a multiple of groupWidth (${groupWidth})`);
    }
  });
  depths.forEach((d, s) => positiveInt(d, `regnetx: depths[${s}]`));
  const b = new Builder(opts.seed);
  const input = tf.input({shape: opts.inputShape, name: 'input'});
  let x = b.convBnRelu(input, 'stem_conv', {filters: stemWidth, kernelSize: 3});
  let channels = stemWidth;
  widths.forEach((w, s) => {
    for (let i = 0; i < depths[s]; i++) {
      const p = `stage${s + 1}_block${i}`;
      const strides = s > 0 && i === 0 ? 2 : 1;
      let y = b.convBnRelu(x, `${p}_conv1`, {filters: w, kernelSize: 1});
      y = b.convBnRelu(y, `${p}_conv2`, {filters: w, kernelSize: 3, strides, groups: w / groupWidth});
      y = b.convBn(y, `${p}_conv3`, {filters: w, kernelSize: 1});
      const shortcut = strides !== 1 || channels !== w ? b.convBn(x, `${p}_proj`, {filters: w, kernelSize: 1, strides}) : x;
      x = b.relu(b.add([shortcut, y], `${p}_add`), `${p}_relu`);
      channels = w;
    }
  });
  return tf.model({inputs: input, outputs: b.head(x, opts.classes), name: 'regnetx'});
}
