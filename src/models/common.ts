import * as tf from '@tensorflow/tfjs';
import {GroupConv2D} from './group_conv2d';

/** Options every zoo builder takes. */
export interface ModelOptions {
  inputShape: [number, number, number];
  classes: number;
  /** Seeds every initializer (seed, seed+1, ... in build order): same seed, same weights. */
  seed?: number;
}

type Sym = tf.SymbolicTensor;

/** Options of {@link Builder.conv}; padding is always 'same', bias off (a BN follows). */
export interface ConvSpec { filters: number; kernelSize: number; strides?: number; groups?: number }

/**
 * Layer factory with the zoo conventions: He-normal convs, BN momentum 0.9 / epsilon 1e-5,
 * seeded initializers in build order.
 * @example const b = new Builder(1); const y = b.convBnRelu(tf.input({shape: [8, 8, 3]}), 'stem', {filters: 16, kernelSize: 3});
 */
export class Builder {
  private next: number | undefined;
  constructor(seed?: number) { this.next = seed; }

  // tfjs's random initializers take a seed of 0 for "no seed" (Math.random), so the seeds handed out start at 1
  private seed(): number | undefined { return this.next === undefined ? undefined : 1 + this.next++; }

  /** Conv2D (or GroupConv2D when groups > 1), no bias. */
  conv(x: Sym, name: string, spec: ConvSpec): Sym {
    const common = {
      name, filters: spec.filters, kernelSize: spec.kernelSize, strides: spec.strides ?? 1,
      padding: 'same' as const, useBias: false, kernelInitializer: tf.initializers.heNormal({seed: this.seed()}),
    };
    const groups = spec.groups ?? 1;
    const layer = groups > 1 ? new GroupConv2D({...common, groups}) : tf.layers.conv2d(common);
    return layer.apply(x) as Sym;
  }

  /** 3x3 DepthwiseConv2D, no bias. */
  depthwise(x: Sym, name: string, strides: number): Sym {
    return tf.layers.depthwiseConv2d({
      name, kernelSize: 3, strides, padding: 'same', useBias: false,
      depthwiseInitializer: tf.initializers.heNormal({seed: this.seed()}),
    }).apply(x) as Sym;
  }

  /** BatchNormalization over channels (momentum 0.9, epsilon 1e-5). */
  bn(x: Sym, name: string): Sym {
    return tf.layers.batchNormalization({name, momentum: 0.9, epsilon: 1e-5}).apply(x) as Sym;
  }

  /** ReLU, or ReLU6 with maxValue 6. */
  relu(x: Sym, name: string, maxValue?: number): Sym {
    return tf.layers.reLU({name, maxValue}).apply(x) as Sym;
  }

  /** conv -> BN (named `${name}` and `${name}_bn`). */
  convBn(x: Sym, name: string, spec: ConvSpec): Sym {
    return this.bn(this.conv(x, name, spec), `${name}_bn`);
  }

  /** conv -> BN -> ReLU (named `${name}`, `${name}_bn`, `${name}_relu`). */
  convBnRelu(x: Sym, name: string, spec: ConvSpec): Sym {
    return this.relu(this.convBn(x, name, spec), `${name}_relu`);
  }

  /** Elementwise Add of same-shaped tensors (residual merge). */
  add(xs: Sym[], name: string): Sym {
    return tf.layers.add({name}).apply(xs) as Sym;
  }

  /** Global average pool ('pool') + Dense ('logits'): outputs logits [B, classes]. */
  head(x: Sym, classes: number): Sym {
    const pooled = tf.layers.globalAveragePooling2d({name: 'pool'}).apply(x) as Sym;
    return tf.layers.dense({
      name: 'logits', units: classes, kernelInitializer: tf.initializers.glorotUniform({seed: this.seed()}),
    }).apply(pooled) as Sym;
  }
}

/**
 * Channel count scaled by a width multiplier, rounded to a multiple of `divisor` (never below
 * divisor, never under 90% of the scaled value), as in the MobileNetV2 reference code.
 * @example makeDivisible(32 * 0.5) // 16
 */
export function makeDivisible(v: number, divisor = 8): number {
  const r = Math.max(divisor, Math.floor(v / divisor + 0.5) * divisor);
  return r < 0.9 * v ? r + divisor : r;
}

/**
 * Returns `v`, or throws unless it is a positive integer; `where` names the builder and option.
 * @example positiveInt(opts.width, 'resnet: width')
 */
export function positiveInt(v: number, where: string): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${where} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Make model.dispose() free the weights of layers applied several times inside `model` alone.
 * NOTE: tfjs-layers counts one reference per symbolic call, so a shared layer's count stays above
 * zero after dispose and its weights leak; the layers given here belong to this one model.
 * @example ownSharedLayers(tf.model({inputs, outputs}));
 */
export function ownSharedLayers(model: tf.LayersModel): tf.LayersModel {
  for (const layer of model.layers) {
    const counted = layer as unknown as {_refCount: number | null};
    if ((counted._refCount ?? 0) > 1) counted._refCount = 1;
  }
  return model;
}
