import * as tf from '@tensorflow/tfjs';
import {Builder, ModelOptions, positiveInt} from './common';

/** Options of {@link concatNet}. */
export interface ConcatNetOptions extends ModelOptions {
  /** Channels each dense layer adds. Default 12. */
  growth?: number;
  /** Dense layers per block; a 1x1 transition (+ 2x2 average pool) sits between blocks. Default [3, 3, 3]. */
  blocks?: number[];
  /** Stem channels. Default 16. */
  stemWidth?: number;
  /** Transition output channels = floor(compression * input channels). Default 0.5. */
  compression?: number;
}

/**
 * Small DenseNet-style net (Huang et al. 2017): in each block every 3x3 conv reads the
 * Concatenate of the block input and all earlier layer outputs, and its output is appended.
 * Post-activation order (conv -> BN -> ReLU, then concat) so every BN directly follows its conv
 * and convs read concats of several producers.
 * @example const m = concatNet({inputShape: [28, 28, 1], classes: 10});
 */
export function concatNet(opts: ConcatNetOptions): tf.LayersModel {
  const {growth = 12, blocks = [3, 3, 3], stemWidth = 16, compression = 0.5} = opts;
  positiveInt(growth, 'concatNet: growth');
  positiveInt(stemWidth, 'concatNet: stemWidth');
  if (blocks.length === 0) throw new Error('concatNet: blocks must list at least one block, e.g. [3, 3, 3]');
  blocks.forEach((n, i) => positiveInt(n, `concatNet: blocks[${i}]`));
  if (!(compression > 0 && compression <= 1)) throw new Error(`concatNet: compression must be in (0, 1], got ${compression}`);
  const b = new Builder(opts.seed);
  const input = tf.input({shape: opts.inputShape, name: 'input'});
  let x = b.convBnRelu(input, 'stem_conv', {filters: stemWidth, kernelSize: 3});
  let channels = stemWidth;
  blocks.forEach((n, k) => {
    const features = [x]; // block input, then each layer's output
    for (let i = 0; i < n; i++) {
      const p = `block${k + 1}_layer${i}`;
      features.push(b.convBnRelu(x, `${p}_conv`, {filters: growth, kernelSize: 3}));
      // [B, H, W, channels + (i+1)*growth]: one flat concat of all producers so far
      x = tf.layers.concatenate({name: `${p}_concat`, axis: -1}).apply([...features]) as tf.SymbolicTensor; // copy: apply keeps the array
      channels += growth;
    }
    if (k < blocks.length - 1) {
      channels = Math.max(1, Math.floor(channels * compression));
      x = b.convBnRelu(x, `trans${k + 1}_conv`, {filters: channels, kernelSize: 1});
      x = tf.layers.averagePooling2d({name: `trans${k + 1}_pool`, poolSize: 2, strides: 2, padding: 'same'}).apply(x) as tf.SymbolicTensor;
    }
  });
  return tf.model({inputs: input, outputs: b.head(x, opts.classes), name: 'concatnet'});
}
