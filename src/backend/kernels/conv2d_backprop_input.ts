import * as tf from '@tensorflow/tfjs';
import {composed, KernelArgs} from './wasm_ops';
import {convGeometry, gradientEdges} from './geometry';

/**
 * dx [B, H, W, Ci] of a conv2d as the XNNPACK forward conv of the zero-inserted (conv-padded)
 * dy [B, Ho, Wo, Co] with the flipped, transposed filter [kh, kw, Co, Ci].
 * NOTE: one conv per stride phase (no zero rows) measured no better overall: its interleave
 * (JS Concat of Ci-long runs, or wasm's rank-5/6 Transpose) costs what the zeros cost.
 */
function conv2DBackpropInput({inputs, backend, attrs}: KernelArgs<'dy' | 'filter', tf.Conv2DBackpropInputAttrs>): tf.TensorInfo {
  const {dy, filter} = inputs;
  const {inputShape, strides, pad, dimRoundingMode} = attrs;
  const g = convGeometry(inputShape, filter.shape, strides, pad, dimRoundingMode, false);
  return composed(backend, (ops) => {
    const {x: dyz, pad} = ops.cropForConv(ops.zeroInsert(dy, g.strides), gradientEdges(g));
    const w = ops.transpose(ops.run('Reverse', {x: filter}, {dims: [0, 1]}), [0, 1, 3, 2]); // [kh, kw, Co, Ci]
    return ops.run('Conv2D', {x: dyz, filter: w}, {strides: 1, pad, dataFormat: 'NHWC', dilations: 1});
  });
}

/** Replaces wasm's own Conv2DBackpropInput (a scalar loop, 5-10x slower at ResNet shapes). */
export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};
