/**
 * What Keras writes and tfjs 4.22 does not know, registered as tfjs classes so that such model.json files
 * load with tf.loadLayersModel (and export again): activations, the Normalization layer, global pooling
 * with keepdims, BatchNormalization's axis as a list. tf.loadLayersModel camel-cases string values of a
 * Keras config: 'hard_silu' is looked up as 'hardSilu'. Keras' 'gelu' (exact, erf form: approximate=False
 * by default) is tfjs's own 'gelu'.
 */
import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/** Keras 3 activation names tfjs lacks, as tf.loadLayersModel looks them up. */
export type KerasActivation = 'silu' | 'hardSilu' | 'hardSwish' | 'leakyRelu';

// x * relu6(x + 3) / 6
const hardSilu = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6));

/**
 * Each activation's formula, elementwise; registered as activation classes of these names.
 * @example tf.layers.conv2d({filters: 8, kernelSize: 3, activation: 'hardSilu' as never}); kerasActivations.silu(tf.ones([2]));
 */
export const kerasActivations: Record<KerasActivation, (x: tf.Tensor) => tf.Tensor> = {
  silu: (x) => tf.mul(x, tf.sigmoid(x)), // = swish
  hardSilu,
  hardSwish: hardSilu,
  leakyRelu: (x) => tf.leakyRelu(x, 0.2), // Keras 3's default negative_slope
};

for (const [name, fn] of Object.entries(kerasActivations)) {
  tf.serialization.registerClass(class extends tf.serialization.Serializable {
    static className = name;
    apply(x: tf.Tensor): tf.Tensor {
      return tf.tidy(() => fn(x));
    }
    override getConfig(): tf.serialization.ConfigDict {
      return {};
    }
  });
}

// Keras 2 writes BatchNormalization's axis as a list once the layer is built ("axis": [3]); tfjs expects a number
// (a list only works by coercion, and the pruner's rule and the fused kernels take it for another axis).
const BatchNormalizationBase = tf.layers.batchNormalization({}).constructor as typeof tf.layers.Layer;

/**
 * tfjs's BatchNormalization reading Keras' one-element axis list as that axis; registered under tfjs's class name.
 * @example new BatchNormalization({axis: [3], scale: false}).apply(tf.input({shape: [4, 4, 8]}))
 */
export class BatchNormalization extends BatchNormalizationBase {
  static className = 'BatchNormalization';
  constructor(args: LayerArgs & {axis?: number | number[]} = {}) {
    super({...args, axis: Array.isArray(args.axis) && args.axis.length === 1 ? args.axis[0] : args.axis} as LayerArgs);
  }
}
tf.serialization.registerClass(BatchNormalization);

/** Positive axes of `axis` (an int, a list, or null/[] for none) for an input of rank `rank`. */
const keptAxes = (axis: number | number[] | null | undefined, rank: number): number[] =>
  (axis == null ? [] : Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);

/** Constructor options of {@link Normalization} (Keras' config keys, camel-cased). */
export interface NormalizationArgs extends LayerArgs {
  /** Axes with their own mean and variance (Keras: -1); null or [] for one over everything. */
  axis?: number | number[] | null;
  /** Given in the config; otherwise `mean` and `variance` are weights (adapted statistics). */
  mean?: number | number[] | null;
  variance?: number | number[] | null;
  /** true: y = mean + x * std (undo the normalization). */
  invert?: boolean;
}

/**
 * Keras' Normalization preprocessing layer: y = (x - mean) / max(sqrt(variance), 1e-7), statistics of
 * shape [input dims on `axis`] (e.g. [c]), as weights 'mean' and 'variance' or in the config.
 * @example new Normalization({axis: -1, mean: [0.5, 0.4, 0.3], variance: [0.08, 0.07, 0.06]}).apply(tf.ones([1, 2, 2, 3]))
 */
export class Normalization extends tf.layers.Layer {
  static className = 'Normalization';
  readonly axis: number | number[] | null;
  readonly mean: number | number[] | null;
  readonly variance: number | number[] | null;
  readonly invert: boolean;
  private weightsOf?: {mean: tf.LayerVariable; variance: tf.LayerVariable};
  private broadcast: number[] = [];

  constructor(args: NormalizationArgs = {}) {
    super(args);
    this.axis = args.axis === undefined ? -1 : args.axis;
    this.mean = args.mean ?? null;
    this.variance = args.variance ?? null;
    this.invert = args.invert ?? false;
    if ((this.mean == null) !== (this.variance == null)) {
      throw new Error(`Normalization '${this.name}': give both mean and variance in the config, or neither (then they are weights)`);
    }
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const axes = keptAxes(this.axis, shape.length);
    if (axes.some((a) => a < 1 || a >= shape.length || shape[a] == null)) {
      throw new Error(`Normalization '${this.name}': axis ${JSON.stringify(this.axis)} does not name known non-batch axes of input [${shape.join(', ')}]`);
    }
    // statistics [dims on axes], read as [1, ..., dim on axis, ..., 1]
    this.broadcast = shape.map((d, a) => (axes.includes(a) ? (d as number) : 1));
    if (this.mean == null) {
      const stats = axes.map((a) => shape[a] as number);
      this.weightsOf = {
        mean: this.addWeight('mean', stats, 'float32', tf.initializers.zeros(), undefined, false),
        variance: this.addWeight('variance', stats, 'float32', tf.initializers.ones(), undefined, false),
      };
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const stat = (value: number | number[] | null, w?: tf.LayerVariable): tf.Tensor => {
        const t = w ? w.read() : tf.tensor(value as number | number[]);
        return t.size === 1 ? t.reshape([]) : t.reshape(this.broadcast);
      };
      const mean = stat(this.mean, this.weightsOf?.mean);
      const std = tf.maximum(tf.sqrt(stat(this.variance, this.weightsOf?.variance)), 1e-7);
      return this.invert ? tf.add(mean, tf.mul(x, std)) : tf.div(tf.sub(x, mean), std);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), axis: this.axis, mean: this.mean, variance: this.variance, invert: this.invert};
  }
}
tf.serialization.registerClass(Normalization);

/** Global pooling layers Keras writes with `keepdims`, and their reductions over h and w. */
export type GlobalPooling = 'GlobalAveragePooling2D' | 'GlobalMaxPooling2D';
const reductions: Record<GlobalPooling, (x: tf.Tensor, axes: number[], keepDims: boolean) => tf.Tensor> = {
  GlobalAveragePooling2D: (x, axes, keepDims) => tf.mean(x, axes, keepDims),
  GlobalMaxPooling2D: (x, axes, keepDims) => tf.max(x, axes, keepDims),
};

/** Constructor options of the global pooling layers (tfjs's plus Keras' keepdims). */
export interface GlobalPoolingArgs extends LayerArgs { dataFormat?: 'channelsFirst' | 'channelsLast'; keepdims?: boolean }

// A layer class for one global pooling.
function globalPooling2D(className: GlobalPooling): new (args?: GlobalPoolingArgs) => tf.layers.Layer {
  const reduce = reductions[className];
  return class extends tf.layers.Layer {
    static className = className;
    readonly dataFormat: 'channelsFirst' | 'channelsLast';
    readonly keepdims: boolean;

    constructor(args: GlobalPoolingArgs = {}) {
      super(args);
      this.dataFormat = args.dataFormat ?? 'channelsLast';
      this.keepdims = args.keepdims ?? false;
      if (this.dataFormat !== 'channelsLast' && this.dataFormat !== 'channelsFirst') {
        throw new Error(`${className} '${this.name}': dataFormat must be 'channelsLast' or 'channelsFirst', got '${String(this.dataFormat)}'`);
      }
    }

    // [b, h, w, c] (channelsLast) or [b, c, h, w]: the spatial axes
    private axes(): number[] {
      return this.dataFormat === 'channelsLast' ? [1, 2] : [2, 3];
    }

    override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
      const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
      if (shape.length !== 4) throw new Error(`${className} '${this.name}': expects input [batch, h, w, c], got [${shape.join(', ')}]`);
      const axes = this.axes();
      return this.keepdims ? shape.map((d, a) => (axes.includes(a) ? 1 : d)) : shape.filter((_, a) => !axes.includes(a));
    }

    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.tidy(() => reduce(Array.isArray(inputs) ? inputs[0] : inputs, this.axes(), this.keepdims));
    }

    override getConfig(): tf.serialization.ConfigDict {
      return {...super.getConfig(), dataFormat: this.dataFormat, keepdims: this.keepdims};
    }
  };
}

/**
 * tfjs's GlobalAveragePooling2D plus Keras' `keepdims` (output [b, 1, 1, c] rather than [b, c], as
 * squeeze-excite blocks use it); registered under tfjs's class name, so loaded models get it.
 * @example new GlobalAveragePooling2D({keepdims: true}).apply(tf.ones([2, 4, 4, 3])) // [2, 1, 1, 3]
 */
export const GlobalAveragePooling2D = globalPooling2D('GlobalAveragePooling2D');

/**
 * tfjs's GlobalMaxPooling2D plus Keras' `keepdims`; registered under tfjs's class name.
 * @example new GlobalMaxPooling2D({keepdims: true}).apply(tf.ones([2, 4, 4, 3])) // [2, 1, 1, 3]
 */
export const GlobalMaxPooling2D = globalPooling2D('GlobalMaxPooling2D');
tf.serialization.registerClass(GlobalAveragePooling2D as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);
tf.serialization.registerClass(GlobalMaxPooling2D as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);
