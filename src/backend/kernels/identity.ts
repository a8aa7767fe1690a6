import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {KernelArgs} from './wasm_ops';

const nativeIdentity = tf.getKernel(tf.Identity, 'wasm')!;
const nativeCast = tf.getKernel(tf.Cast, 'wasm')!;

/** x itself under a new reference (tensor data is immutable, as wasm's Reshape already relies on). */
function share(x: tf.TensorInfo, backend: tf.KernelBackend): tf.TensorInfo {
  backend.incRef(x.dataId);
  return {dataId: x.dataId, shape: [...x.shape], dtype: x.dtype};
}

function identity(args: KernelArgs<'x', Record<string, never>>): tf.TensorInfo {
  const {inputs: {x}, backend} = args;
  return x.dtype === 'string' ? nativeIdentity.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo : share(x, backend);
}

function cast(args: KernelArgs<'x', tf.CastAttrs>): tf.TensorInfo {
  const {inputs: {x}, backend, attrs: {dtype}} = args;
  return x.dtype === dtype && dtype !== 'string' ? share(x, backend) : nativeCast.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

/** Replaces wasm's Identity (a copy; tf.clone and Cast's gradient run it on whole activations). */
export const identityConfig: tf.KernelConfig = {kernelName: tf.Identity, backendName: 'wasm', kernelFunc: identity as unknown as tf.KernelFunc};

/** Replaces wasm's Cast: a same-dtype cast (tf.moments casts x to float32) shares x instead of copying. */
export const castConfig: tf.KernelConfig = {kernelName: tf.Cast, backendName: 'wasm', kernelFunc: cast as unknown as tf.KernelFunc};
