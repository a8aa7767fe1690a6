import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {KernelArgs} from './wasm_ops';

/**
 * Reverse by block copies on the wasm heap: the axes after the innermost reversed one stay in order,
 * so each of their blocks is one copy. Flipping a conv filter's taps (dims [0, 1] of [kh, kw, Ci, Co],
 * every Conv2DBackpropInput) is 9 copies instead of wasm's per-element loop (~25 ns an element, which
 * made a 1x1 filter's no-op flip cost as much as the conv itself).
 */
function reverse({inputs: {x}, backend, attrs: {dims}}: KernelArgs<'x', tf.ReverseAttrs>): tf.TensorInfo {
  if (x.dtype === 'string') throw new Error('src/backend: wasm Reverse supports numeric and bool tensors, not string');
  const wasm = backend as BackendWasm;
  const out = wasm.makeOutput(x.shape, x.dtype);
  const size = tf.util.sizeFromShape(x.shape);
  if (size === 0) return out;
  const src = wasm.typedArrayFromHeap(x);
  const dst = wasm.typedArrayFromHeap(out);
  const axes = tf.util.parseAxisParam(dims, x.shape).filter((a) => x.shape[a] > 1);
  if (axes.length === 0) {
    dst.set(src);
    return out;
  }
  const last = Math.max(...axes);
  const strides = [...tf.util.computeStrides(x.shape), 1];
  const block = strides[last];
  const copy = (axis: number, inOff: number, outOff: number): void => {
    if (axis > last) {
      dst.set(src.subarray(inOff, inOff + block), outOff);
      return;
    }
    const n = x.shape[axis];
    const flip = axes.includes(axis);
    for (let i = 0; i < n; i++) copy(axis + 1, inOff + i * strides[axis], outOff + (flip ? n - 1 - i : i) * strides[axis]);
  };
  copy(0, 0, 0);
  return out;
}

/** Replaces wasm's Reverse (a per-element index loop). */
export const reverseConfig: tf.KernelConfig = {
  kernelName: tf.Reverse,
  backendName: 'wasm',
  kernelFunc: reverse as unknown as tf.KernelFunc,
};
