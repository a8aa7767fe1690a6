import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {conv2DBackpropFilterConfig} from './conv2d_backprop_filter';
import {conv2DBackpropInputConfig} from './conv2d_backprop_input';
import {depthwiseConv2dNativeBackpropFilterConfig} from './depthwise_conv2d_backprop_filter';
import {depthwiseConv2dNativeBackpropInputConfig} from './depthwise_conv2d_backprop_input';
import {tileConfig} from './tile';
import {sumConfig, meanConfig} from './reduce';
import {identityConfig, castConfig} from './identity';
import {clipByValueGradConfig} from './clip_by_value_grad';
import {fusedBatchNormConfig} from './fused_batch_norm';
import {splitVConfig, concatConfig} from './split_concat';
import {batchNormTrainConfigs} from './batch_norm';
import {reverseConfig} from './reverse';

/**
 * Our wasm kernels: those the backend lacks (three conv gradients, ClipByValue's gradient, the fused
 * BatchNorm in training that the batchNormFused layer patch runs) and
 * faster replacements (Conv2DBackpropInput, Tile, Reverse, Sum, Mean, Identity, Cast, FusedBatchNorm, SplitV, Concat).
 * @example wasmKernels.map((k) => k.kernelName);
 */
export const wasmKernels: tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  tileConfig,
  reverseConfig,
  sumConfig,
  meanConfig,
  identityConfig,
  castConfig,
  clipByValueGradConfig,
  fusedBatchNormConfig,
  splitVConfig,
  concatConfig,
  ...batchNormTrainConfigs,
];

/**
 * wasm's own kernels that ours replace, kept for tests and benchmarks; they were unregistered
 * before wasm started, so call their setupFunc(tf.backend()) once before running them.
 * @example replacedWasmKernels.forEach((k) => k.setupFunc?.(tf.backend()));
 */
export const replacedWasmKernels: tf.KernelConfig[] = wasmKernels
  .map((k) => tf.getKernel(k.kernelName, 'wasm'))
  .filter((k): k is tf.KernelConfig => k != null);

for (const k of wasmKernels) {
  if (tf.getKernel(k.kernelName, 'wasm') != null) tf.unregisterKernel(k.kernelName, 'wasm');
  tf.registerKernel(k);
}
