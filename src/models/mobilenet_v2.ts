import * as tf from '@tensorflow/tfjs';
import {Builder, makeDivisible, ModelOptions} from './common';

/** One stage of inverted residual blocks: expansion t, output channels c (before alpha), n blocks, first stride s. */
export interface InvertedStage { t: number; c: number; n: number; s: number }

/** Block layouts of {@link mobilenetV2}. */
export type MobileNetV2Variant = 'cifar' | 'small';

/**
 * Stage tables. ImageNet MobileNetV2 has a stride-2 stem and stride 2 at c=24, 32, 64, 160
 * (224 -> 7). For 28x28 / 32x32 inputs 'cifar' keeps the stem and the c=24 stage at stride 1,
 * so only c=32, 64, 160 downsample (28 -> 14 -> 7 -> 4, 32 -> 16 -> 8 -> 4); blocks as ImageNet (17).
 * 'small' has the same strides and 11 blocks: two in each of the c=24, 32, 64, 96 stages (each
 * with one residual Add), one elsewhere.
 */
export const mobilenetV2Stages: Record<MobileNetV2Variant, InvertedStage[]> = {
  cifar: [
    {t: 1, c: 16, n: 1, s: 1}, {t: 6, c: 24, n: 2, s: 1}, {t: 6, c: 32, n: 3, s: 2}, {t: 6, c: 64, n: 4, s: 2},
    {t: 6, c: 96, n: 3, s: 1}, {t: 6, c: 160, n: 3, s: 2}, {t: 6, c: 320, n: 1, s: 1},
  ],
  small: [
    {t: 1, c: 16, n: 1, s: 1}, {t: 6, c: 24, n: 2, s: 1}, {t: 6, c: 32, n: 2, s: 2}, {t: 6, c: 64, n: 2, s: 2},
    {t: 6, c: 96, n: 2, s: 1}, {t: 6, c: 160, n: 1, s: 2}, {t: 6, c: 320, n: 1, s: 1},
  ],
};

/** Options of {@link mobilenetV2}. */
export interface MobileNetV2Options extends ModelOptions {
  /** Width multiplier; channels are rounded to multiples of 8. Default 1. */
  alpha?: number;
  /** Block layout. Default 'cifar'. */
  variant?: MobileNetV2Variant;
  /** Channels of the last 1x1 conv before pooling. Default 1280 (scaled by alpha only when alpha > 1, as in the paper). */
  lastChannels?: number;
}

/**
 * MobileNetV2 (Sandler et al. 2018) for small inputs: inverted residual blocks (1x1 expand,
 * 3x3 depthwise, 1x1 linear projection; Add when stride 1 and same channels), ReLU6.
 * @example const m = mobilenetV2({alpha: 0.5, variant: 'small', inputShape: [28, 28, 1], classes: 10});
 */
export function mobilenetV2(opts: MobileNetV2Options): tf.LayersModel {
  const {alpha = 1, variant = 'cifar'} = opts;
  if (!(alpha > 0)) throw new Error(`mobilenetV2: alpha must be > 0, got ${alpha}`);
  const stages = mobilenetV2Stages[variant];
  if (stages === undefined) {
    throw new Error(`mobilenetV2: unknown variant '${variant}' (valid: ${Object.keys(mobilenetV2Stages).join(', ')})`);
  }
  const lastChannels = opts.lastChannels ?? (alpha > 1 ? makeDivisible(1280 * alpha) : 1280);
  const b = new Builder(opts.seed);
  const input = tf.input({shape: opts.inputShape, name: 'input'});
  let channels = makeDivisible(32 * alpha);
  let x = b.relu(b.convBn(input, 'stem_conv', {filters: channels, kernelSize: 3}), 'stem_conv_relu6', 6);
  stages.forEach((st, s) => {
    const out = makeDivisible(st.c * alpha);
    for (let i = 0; i < st.n; i++) {
      const p = `stage${s + 1}_block${i}`;
      const strides = i === 0 ? st.s : 1;
      let y = x;
      if (st.t !== 1) y = b.relu(b.convBn(y, `${p}_expand`, {filters: channels * st.t, kernelSize: 1}), `${p}_expand_relu6`, 6);
      y = b.relu(b.bn(b.depthwise(y, `${p}_dw`, strides), `${p}_dw_bn`), `${p}_dw_relu6`, 6);
      y = b.convBn(y, `${p}_project`, {filters: out, kernelSize: 1}); // linear bottleneck: no activation
      x = strides === 1 && channels === out ? b.add([x, y], `${p}_add`) : y;
      channels = out;
    }
  });
  x = b.relu(b.convBn(x, 'last_conv', {filters: lastChannels, kernelSize: 1}), 'last_conv_relu6', 6);
  return tf.model({inputs: input, outputs: b.head(x, opts.classes), name: `mobilenetv2_${variant}_${alpha}`});
}
