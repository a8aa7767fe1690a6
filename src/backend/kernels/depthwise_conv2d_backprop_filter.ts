import * as tf from '@tensorflow/tfjs';
import {composed, KernelArgs} from './wasm_ops';
import {convGeometry, inputEdges} from './geometry';

/**
 * dW [kh, kw, Ci, m] of a depthwise conv as one depthwise conv with the batch folded into the
 * channels: x [1, Hp, Wp, B*Ci] by dy as filter [Ho, Wo, B*Ci, m], dilation = stride, then a sum over B.
 */
function depthwiseConv2dNativeBackpropFilter({inputs, backend, attrs}: KernelArgs<'x' | 'dy', tf.DepthwiseConv2dNativeBackpropFilterAttrs>): tf.TensorInfo {
  const {x, dy} = inputs;
  const {filterShape, strides, pad, dimRoundingMode, dilations} = attrs;
  const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, true, dilations);
  const [kh, kw, ci, m] = filterShape;
  const b = g.batch;
  return composed(backend, (ops) => {
    const xp = ops.padOrCrop(x, inputEdges(g)); // [B, Hp, Wp, Ci]
    const xFolded = ops.reshape(ops.transpose(xp, [1, 2, 0, 3]), [1, xp.shape[1], xp.shape[2], b * ci]);
    const dyFolded = ops.reshape(ops.transpose(dy, [1, 2, 0, 3]), [g.outHeight, g.outWidth, b * ci, m]);
    const perImage = ops.run('DepthwiseConv2dNative', {x: xFolded, filter: dyFolded}, {strides: 1, pad: 'valid', dilations: g.strides}); // [1, kh, kw, B*Ci*m]
    const dw = ops.run('Sum', {x: ops.reshape(perImage, [kh, kw, b, ci * m])}, {axis: [2], keepDims: false});
    return ops.reshape(dw, [kh, kw, ci, m]);
  });
}

/** DepthwiseConv2dNativeBackpropFilter for wasm, which has none. */
export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
