import * as tf from '@tensorflow/tfjs';
import {fusable, fusedBatchNorm} from './kernels/batch_norm';

// Changes to how three tf.layers classes are called, in one table. Each patch has a guard (when it applies)
// and a call (what runs then); otherwise the layer's previous call runs. They give the same values as tf.layers
// (test/patches.test.ts compares patched with unpatched calls on cpu and wasm). useBackend() installs them;
// useBackend(name, {patches: false}) or uninstallPatches() leaves tf.layers as it ships.

type LayerCall = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor;

/** The tf.layers fields the patches read (one interface for the three classes; each reads its own). */
interface PatchedLayer {
  // Conv2D
  kernel: tf.LayerVariable; bias?: tf.LayerVariable | null; strides: [number, number]; padding: string;
  dataFormat: string; dilationRate: number[]; activation: {getClassName(): string};
  // ReLU
  maxValue?: number;
  // BatchNormalization
  axis: number; epsilon: number; momentum: number; center: boolean; scale: boolean;
  gamma?: {read(): tf.Tensor} | null; beta?: {read(): tf.Tensor} | null; movingMean: tf.LayerVariable; movingVariance: tf.LayerVariable;
}

/** One patch: the class it changes, when it applies, and the call that runs then (`next` is the call it replaces). */
interface LayerPatch {
  className: string;
  /** A fresh layer of the class, to reach its prototype. */
  sample: () => tf.layers.Layer;
  /** What it does, for `gfp info` and the README. */
  purpose: string;
  guard: (layer: PatchedLayer, x: tf.Tensor, kwargs: Record<string, unknown>) => boolean;
  call: (layer: PatchedLayer, x: tf.Tensor, kwargs: Record<string, unknown>, next: LayerCall) => tf.Tensor;
}

/** Names of the patches, in the order they are installed. */
export type PatchName = 'conv2dPlainGradient' | 'relu6' | 'batchNormFused' | 'batchNormWithoutScale';

const recorded = (kwargs: Record<string, unknown>): boolean => !!kwargs?.training || tf.engine().state.gradientDepth > 0;

/** The patches. Two on BatchNormalization: batchNormWithoutScale wraps batchNormFused (installed before it). */
export const layerPatches: Record<PatchName, LayerPatch> = {
  // tf.layers runs every conv as a fused conv2d, whose gradient computes dx and dW together even where dx is not
  // needed (the first conv, on the model's input: a whole Conv2DBackpropInput per step). The plain conv2d's
  // gradient is asked for each input on its own. Same forward kernel on wasm (XNNPACK), same values.
  conv2dPlainGradient: {
    className: 'Conv2D',
    sample: () => tf.layers.conv2d({filters: 1, kernelSize: 1}),
    purpose: 'a bias-free linear Conv2D runs as the plain conv2d while gradients are recorded (no unneeded input gradient)',
    guard: (l, x) => tf.engine().state.gradientDepth > 0 && l.bias == null && l.activation.getClassName() === 'linear' &&
      l.dataFormat === 'channelsLast' && l.dilationRate.every((d) => d === 1) && (l.padding === 'same' || l.padding === 'valid') && x.rank === 4,
    call: (l, x) => tf.conv2d(x as tf.Tensor4D, l.kernel.read() as tf.Tensor4D, l.strides, l.padding as 'same' | 'valid'),
  },
  // tf.layers runs relu then clipByValue: two passes forward and four backward; relu6 is one each way
  // (its gradient is ours, gradients/clip_by_value.ts).
  relu6: {
    className: 'ReLU',
    sample: () => tf.layers.reLU({}),
    purpose: 'ReLU({maxValue: 6}) runs as one relu6',
    guard: (l) => l.maxValue === 6,
    call: (_l, x) => tf.relu6(x),
  },
  // In training tf.layers runs moments and batchNorm as ~6 whole-tensor ops forward and ~16 backward; the SIMD
  // kernels of kernels/batch_norm.ts take 3 passes forward and 2 backward, with the same moving-average updates.
  batchNormFused: {
    className: 'BatchNormalization',
    sample: () => tf.layers.batchNormalization({}),
    purpose: 'BatchNormalization in training runs as two fused SIMD kernels on wasm',
    guard: (l, x, kwargs) => !!kwargs?.training && fusable(l, x),
    call: (l, x) => tf.tidy(() => {
      const {y, mean, variance} = fusedBatchNorm(x, l.gamma!.read(), l.beta!.read(), l.epsilon);
      for (const [v, value] of [[l.movingMean, mean], [l.movingVariance, variance]] as const) {
        tf.tidy(() => {
          const old = v.read();
          v.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - l.momentum)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    }),
  },
  // With scale: false or center: false (Keras' InceptionV3) tf.layers still reads gamma and beta in training
  // ("Cannot read properties of undefined (reading 'read')"), and a null scale or offset handed to tf.batchNorm
  // leaves an undefined input on the gradient tape. For the call the missing gamma reads as ones and beta as zeros.
  batchNormWithoutScale: {
    className: 'BatchNormalization',
    sample: () => tf.layers.batchNormalization({}),
    purpose: 'BatchNormalization with scale: false or center: false can be trained and differentiated',
    guard: (l, _x, kwargs) => recorded(kwargs) && !(l.gamma && l.beta),
    call: (l, _x, kwargs, next) => {
      const {gamma, beta} = l;
      const shape = l.movingMean.shape as number[];
      l.gamma = gamma ?? {read: () => tf.ones(shape)};
      l.beta = beta ?? {read: () => tf.zeros(shape)};
      try {
        return next.call(l as unknown as tf.layers.Layer, _x, kwargs);
      } finally {
        [l.gamma, l.beta] = [gamma, beta];
      }
    },
  },
};

// per prototype, the call tf.layers shipped (kept while any patch is installed)
const shipped = new Map<{call: LayerCall}, LayerCall>();
let installed: PatchName[] = [];

const protoOf = (p: LayerPatch): {call: LayerCall} => Object.getPrototypeOf(p.sample());

/**
 * Install the layer patches (all by default), replacing any installed before; useBackend() calls it.
 * @example installPatches(['relu6']); installedPatches(); // ['relu6']
 */
export function installPatches(names: PatchName[] = Object.keys(layerPatches) as PatchName[]): void {
  for (const n of names) {
    if (!Object.hasOwn(layerPatches, n)) throw new Error(`unknown layer patch '${n}'; valid: ${Object.keys(layerPatches).join(', ')}`);
  }
  uninstallPatches();
  for (const [name, patch] of Object.entries(layerPatches) as [PatchName, LayerPatch][]) {
    if (!names.includes(name)) continue;
    const proto = protoOf(patch);
    if (!shipped.has(proto)) shipped.set(proto, proto.call);
    const next = proto.call;
    proto.call = function (this: PatchedLayer, inputs, kwargs) {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return patch.guard(this, x, kwargs) ? patch.call(this, x, kwargs, next) : next.call(this, inputs, kwargs);
    };
    installed.push(name);
  }
}

/**
 * Give the patched classes back the calls tf.layers shipped.
 * @example uninstallPatches(); installedPatches(); // []
 */
export function uninstallPatches(): void {
  for (const [proto, call] of shipped) proto.call = call;
  shipped.clear();
  installed = [];
}

/**
 * The installed patches, in installation order.
 * @example installedPatches().includes('relu6');
 */
export const installedPatches = (): PatchName[] => [...installed];
