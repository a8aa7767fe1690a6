import * as tf from '@tensorflow/tfjs';
import {composed, KernelArgs, WasmOps} from './wasm_ops';
import {convGeometry, ConvGeometry, inputEdges} from './geometry';

/**
 * x [B, H, W, C] as its columns [B*Ho*Wo, kh*kw*C] (im2col): one strided slice of the padded x per
 * filter tap, concatenated on channels, so that column k*C + c is tap k of channel c.
 */
function columns(ops: WasmOps, x: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const xp = ops.padOrCrop(x, inputEdges(g));
  const [sh, sw] = g.strides;
  const c = x.shape[3];
  const taps: tf.TensorInfo[] = [];
  for (let i = 0; i < g.filterHeight; i++) {
    for (let j = 0; j < g.filterWidth; j++) {
      taps.push(ops.stridedSlice(xp, [0, i, j, 0], [g.batch, i + (g.outHeight - 1) * sh + 1, j + (g.outWidth - 1) * sw + 1, c], [1, sh, sw, 1]));
    }
  }
  const cols = taps.length === 1 ? taps[0] : ops.run('Concat', taps as unknown as tf.NamedTensorInfoMap, {axis: 3});
  return ops.reshape(cols, [g.batch * g.outHeight * g.outWidth, taps.length * c]);
}

/** The geometry when our kernel applies (float32 NHWC, dilation 1), else null: the backend's own kernel runs. */
function geometryOf(x: tf.TensorInfo, dy: tf.TensorInfo, attrs: tf.NamedAttrMap, filterShape: number[], depthwise: boolean): ConvGeometry | null {
  const dilations = [attrs.dilations ?? 1].flat();
  if (x.dtype !== 'float32' || dy.dtype !== 'float32' || (attrs.dataFormat ?? 'NHWC') !== 'NHWC' || dilations.some((d) => d !== 1)) return null;
  return convGeometry(x.shape, filterShape, attrs.strides as [number, number], attrs.pad, attrs.dimRoundingMode, depthwise);
}

/**
 * dW [kh, kw, Ci, Co] = columns(x)^T dy as ONE matmul with the long B*Ho*Wo as its inner dimension, which
 * webgpu splits across workgroups. Its own kernel gives each filter weight one thread summing B*Ho*Wo
 * products: 150 of the 237 ms of a ResNet-20 training step (batch 64) on an H200.
 */
function conv2DBackpropFilter(args: KernelArgs<'x' | 'dy', tf.Conv2DBackpropFilterAttrs>): tf.TensorInfo {
  const {inputs: {x, dy}, backend, attrs} = args;
  const g = geometryOf(x, dy, attrs as unknown as tf.NamedAttrMap, attrs.filterShape, false);
  if (g == null) return own('Conv2DBackpropFilter')(args);
  const [kh, kw, ci, co] = attrs.filterShape;
  const n = g.batch * g.outHeight * g.outWidth;
  return composed(backend, (ops) => {
    const a = ops.reshape(columns(ops, x, g), [1, n, kh * kw * ci]);
    const dw = ops.run('BatchMatMul', {a, b: ops.reshape(dy, [1, n, co])}, {transposeA: true, transposeB: false});
    return ops.reshape(dw, [kh, kw, ci, co]);
  }, 'webgpu');
}

/**
 * Depthwise dW [kh, kw, C, 1] = sum over B*Ho*Wo of columns(x) * dy (dy repeated per tap), the sum as a
 * matmul by a row of ones (split like the one above). Channel multipliers above 1 run the backend's own.
 */
function depthwiseConv2dNativeBackpropFilter(args: KernelArgs<'x' | 'dy', tf.DepthwiseConv2dNativeBackpropFilterAttrs>): tf.TensorInfo {
  const {inputs: {x, dy}, backend, attrs} = args;
  const g = attrs.filterShape[3] === 1 ? geometryOf(x, dy, attrs as unknown as tf.NamedAttrMap, attrs.filterShape, true) : null;
  if (g == null) return own('DepthwiseConv2dNativeBackpropFilter')(args);
  const [kh, kw, c] = attrs.filterShape;
  const n = g.batch * g.outHeight * g.outWidth;
  return composed(backend, (ops) => {
    const dyCols = ops.run('Tile', {x: ops.reshape(dy, [n, c])}, {reps: [1, kh * kw]});
    const products = ops.run('Multiply', {a: columns(ops, x, g), b: dyCols});
    const ones = ops.run('Fill', {}, {shape: [1, 1, n], value: 1, dtype: 'float32'});
    const dw = ops.run('BatchMatMul', {a: ones, b: ops.reshape(products, [1, n, kh * kw * c])}, {transposeA: false, transposeB: false});
    return ops.reshape(dw, [kh, kw, c, 1]);
  }, 'webgpu');
}

/** Our webgpu kernels: conv filter gradients composed of the backend's slices, concat and matmul. */
export const webgpuKernels: readonly tf.KernelConfig[] = [
  {kernelName: 'Conv2DBackpropFilter', backendName: 'webgpu', kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc},
  {kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: 'webgpu', kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc},
];

/** The webgpu backend's own kernels that ours replace, once {@link registerWebgpuKernels} has run. */
export const replacedWebgpuKernels: tf.KernelConfig[] = [];

function own(name: string): (args: unknown) => tf.TensorInfo {
  const k = replacedWebgpuKernels.find((r) => r.kernelName === name);
  if (k == null) throw new Error(`src/backend: webgpu has no kernel ${name} of its own`);
  return k.kernelFunc as unknown as (args: unknown) => tf.TensorInfo;
}

/**
 * Registers our webgpu kernels over the backend's own (call after @tensorflow/tfjs-backend-webgpu has
 * registered its kernels); their own stay in {@link replacedWebgpuKernels}.
 * @example registerWebgpuKernels(); tf.getKernel('Conv2DBackpropFilter', 'webgpu') === webgpuKernels[0];
 */
export function registerWebgpuKernels(): void {
  for (const k of webgpuKernels) {
    const theirs = tf.getKernel(k.kernelName, 'webgpu');
    if (theirs === k) continue;
    if (theirs != null) {
      replacedWebgpuKernels.push(theirs);
      tf.unregisterKernel(k.kernelName, 'webgpu');
    }
    tf.registerKernel(k);
  }
}
