import * as tf from '@tensorflow/tfjs';
import {composed, KernelArgs} from './wasm_ops';
import {convGeometry, gradientEdges} from './geometry';

/**
 * dx [B, H, W, Ci] of a depthwise conv: depthwise conv of the zero-inserted (conv-padded) dy
 * [B, Ho, Wo, Ci*m] with the flipped filter as [kh, kw, Ci*m, 1], then a sum over the m copies.
 */
function depthwiseConv2dNativeBackpropInput({inputs, backend, attrs}: KernelArgs<'dy' | 'filter', tf.DepthwiseConv2dNativeBackpropInputAttrs>): tf.TensorInfo {
  const {dy, filter} = inputs;
  const {inputShape, strides, pad, dimRoundingMode, dilations} = attrs;
  const g = convGeometry(inputShape, filter.shape, strides, pad, dimRoundingMode, true, dilations);
  const [kh, kw, ci, m] = filter.shape;
  return composed(backend, (ops) => {
    const {x: dyz, pad} = ops.cropForConv(ops.zeroInsert(dy, g.strides), gradientEdges(g));
    const w = ops.reshape(ops.run('Reverse', {x: filter}, {dims: [0, 1]}), [kh, kw, ci * m, 1]);
    const dxm = ops.run('DepthwiseConv2dNative', {x: dyz, filter: w}, {strides: 1, pad, dilations: 1}); // [B, H, W, Ci*m]
    if (m === 1) return dxm;
    const split = ops.reshape(dxm, [g.batch, g.inHeight, g.inWidth, ci, m]);
    return ops.run('Sum', {x: split}, {axis: [4], keepDims: false});
  });
}

/** DepthwiseConv2dNativeBackpropInput for wasm, which has none. */
export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
