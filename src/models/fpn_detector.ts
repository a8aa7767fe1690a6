import * as tf from '@tensorflow/tfjs';
import {Builder, ModelOptions, ownSharedLayers, positiveInt} from './common';

type Sym = tf.SymbolicTensor;

/** Options of {@link fpnDetector}. */
export interface FpnDetectorOptions extends ModelOptions {
  /** Channels of the first backbone stage; stages have w, 2w, 4w, 8w. Default 16. */
  width?: number;
  /** Channels of the FPN levels and of the head towers. Default 2 * width. */
  fpnWidth?: number;
  /** Convs (3x3 + ReLU) in each head tower. Default 2. */
  towerDepth?: number;
  /** BatchNorm after every tower conv, one per level: the conv is shared, its statistics per level are not (as in EfficientDet). Default false. */
  headNorm?: boolean;
}

/** One FPN level: its stride and grid; its locations come level after level, row-major, in the output. */
export interface FpnLevel { stride: number; height: number; width: number }

/** Strides of the levels P3, P4, P5. */
const STRIDES = [8, 16, 32];

/**
 * The levels of {@link fpnDetector} for an input [H, W, C] (H, W multiples of 32).
 * @example fpnLevels([64, 64, 1]) // [{stride: 8, height: 8, width: 8}, {stride: 16, ...4x4}, {stride: 32, ...2x2}]
 */
export function fpnLevels(inputShape: [number, number, number]): FpnLevel[] {
  const [h, w] = inputShape;
  if (h % 32 !== 0 || w % 32 !== 0) throw new Error(`fpnDetector: inputShape height and width must be multiples of 32, got [${inputShape}]`);
  return STRIDES.map((stride) => ({stride, height: h / stride, width: w / stride}));
}

/**
 * Output channels per location of a detector with `classes` classes:
 * [classes logits, 4 box logits (log of l, t, r, b distances / stride), 1 centerness logit].
 * @example detectorChannels(10) // 15
 */
export const detectorChannels = (classes: number): number => classes + 5;

/**
 * FCOS-style single-stage detector: a ResNet backbone (stem stride 2, four stages of one basic
 * block each, stride 2 each), an FPN over C3..C5 (strides 8, 16, 32: lateral 1x1 convs, top-down
 * nearest UpSampling2D + Add, 3x3 output convs), and a classification tower and a box tower
 * SHARED across the levels (the same layer objects called on P3, P4, P5). The single output
 * [B, locations, classes + 5] concatenates the levels ({@link fpnLevels} order); see
 * {@link detectorChannels} for the channel layout.
 * @example const m = fpnDetector({inputShape: [64, 64, 1], classes: 10, seed: 1}); // output [B, 84, 15]
 */
export function fpnDetector(opts: FpnDetectorOptions): tf.LayersModel {
  const {width = 16, towerDepth = 2} = opts;
  const fpnWidth = opts.fpnWidth ?? 2 * width;
  positiveInt(width, 'fpnDetector: width');
  positiveInt(fpnWidth, 'fpnDetector: fpnWidth');
  positiveInt(towerDepth, 'fpnDetector: towerDepth');
  positiveInt(opts.classes, 'fpnDetector: classes');
  const levels = fpnLevels(opts.inputShape);
  const b = new Builder(opts.seed);
  const input = tf.input({shape: opts.inputShape, name: 'input'});

  // backbone: 64x64 -> stem 32x32 -> 16x16 (w) -> C3 8x8 (2w) -> C4 4x4 (4w) -> C5 2x2 (8w)
  let x = b.convBnRelu(input, 'stem_conv', {filters: width, kernelSize: 3, strides: 2});
  const features: Sym[] = [];
  for (let s = 0; s < 4; s++) {
    const filters = width * 2 ** s;
    const p = `stage${s + 1}`;
    const y = b.convBnRelu(x, `${p}_conv1`, {filters, kernelSize: 3, strides: 2});
    const residual = b.convBn(y, `${p}_conv2`, {filters, kernelSize: 3});
    const shortcut = b.convBn(x, `${p}_proj`, {filters, kernelSize: 1, strides: 2});
    x = b.relu(b.add([shortcut, residual], `${p}_add`), `${p}_relu`);
    if (s > 0) features.push(x); // C3, C4, C5
  }

  // FPN: P5 = lat5; P4 = lat4 + up(P5); P3 = lat3 + up(P4); then a 3x3 conv per level
  const laterals = features.map((c, i) => b.conv(c, `fpn_lateral${i + 3}`, {filters: fpnWidth, kernelSize: 1}));
  const merged: Sym[] = [laterals[2]];
  for (let i = 1; i >= 0; i--) {
    const up = tf.layers.upSampling2d({size: [2, 2], name: `fpn_up${i + 4}`}).apply(merged[0]) as Sym;
    merged.unshift(b.add([laterals[i], up], `fpn_add${i + 3}`));
  }
  const pyramid = merged.map((m, i) => b.conv(m, `fpn_out${i + 3}`, {filters: fpnWidth, kernelSize: 3}));

  // heads: ONE set of layers called on every level (the pruner couples their inputs)
  let seed = opts.seed === undefined ? undefined : opts.seed + 1000;
  const conv = (name: string, filters: number, biasInitializer?: ReturnType<typeof tf.initializers.constant>, useBias = true) => tf.layers.conv2d({
    name, filters, kernelSize: 3, padding: 'same', useBias,
    kernelInitializer: tf.initializers.randomNormal({stddev: 0.01, seed: seed === undefined ? undefined : seed++}),
    biasInitializer,
  });
  const tower = (prefix: string) => Array.from({length: towerDepth}, (_, i) => ({
    conv: conv(`${prefix}_conv${i + 1}`, fpnWidth, undefined, !opts.headNorm),
    norms: opts.headNorm ? levels.map((_, l) => tf.layers.batchNormalization({name: `${prefix}_bn${i + 1}_p${l + 3}`})) : [],
    relu: tf.layers.reLU({name: `${prefix}_relu${i + 1}`}),
  }));
  const clsTower = tower('cls_tower');
  const boxTower = tower('box_tower');
  // class prior 0.01 at the start (focal-loss paper, sec. 4.1): bias = -log((1 - 0.01) / 0.01)
  const clsOut = conv('cls_logits', opts.classes, tf.initializers.constant({value: -Math.log(99)}));
  const boxOut = conv('box_ltrb', 4);
  const ctrOut = conv('centerness', 1);
  const run = (layers: ReturnType<typeof tower>, p: Sym, level: number): Sym => layers.reduce((h, l) => {
    const y = l.conv.apply(h) as Sym;
    return l.relu.apply(l.norms.length ? l.norms[level].apply(y) : y) as Sym;
  }, p);

  const channels = detectorChannels(opts.classes);
  const outputs = pyramid.map((p, i) => {
    const cls = clsOut.apply(run(clsTower, p, i)) as Sym;
    const boxFeatures = run(boxTower, p, i);
    const box = boxOut.apply(boxFeatures) as Sym;
    const ctr = ctrOut.apply(boxFeatures) as Sym;
    const joined = tf.layers.concatenate({name: `head_p${i + 3}`}).apply([cls, box, ctr]) as Sym; // [B, h, w, K + 5]
    const {height, width: w} = levels[i];
    return tf.layers.reshape({targetShape: [height * w, channels], name: `flat_p${i + 3}`}).apply(joined) as Sym;
  });
  const output = tf.layers.concatenate({axis: 1, name: 'detections'}).apply(outputs) as Sym; // [B, L, K + 5]
  // the heads are shared by every level: dispose() must still free them
  return ownSharedLayers(tf.model({inputs: input, outputs: output, name: 'fpn_detector'}));
}
