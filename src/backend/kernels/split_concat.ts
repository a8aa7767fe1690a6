import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {KernelArgs} from './wasm_ops';

const nativeSplitV = tf.getKernel(tf.SplitV, 'wasm')!;
const nativeConcat = tf.getKernel(tf.Concat, 'wasm')!;

type Heap = Float32Array | Int32Array | Uint8Array;

/** Runs of `run` elements, one per row of `rows`: dst[r * dstStride + dstOff + k] = src[r * srcStride + srcOff + k]. */
function copyRuns(src: Heap, srcStride: number, srcOff: number, dst: Heap, dstStride: number, dstOff: number, run: number, rows: number): void {
  for (let r = 0; r < rows; r++) {
    const s = r * srcStride + srcOff;
    const d = r * dstStride + dstOff;
    if (run >= 64) {
      dst.set(src.subarray(s, s + run), d);
    } else {
      for (let k = 0; k < run; k++) dst[d + k] = src[s + k];
    }
  }
}

/** [rows before axis, elements after axis] of `shape`. */
const around = (shape: number[], axis: number): [number, number] =>
  [tf.util.sizeFromShape(shape.slice(0, axis)), tf.util.sizeFromShape(shape.slice(axis + 1))];

/**
 * SplitV by run copies on the wasm heap (wasm's slices each part: 2-10x slower along the channel
 * axis, where GroupConv2D splits per group).
 */
function splitV(args: KernelArgs<'x', tf.SplitVAttrs>): tf.TensorInfo[] {
  const {inputs: {x}, backend, attrs: {numOrSizeSplits, axis}} = args;
  if (x.dtype === 'string') return nativeSplitV.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo[];
  const wasm = backend as BackendWasm;
  const a = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, a);
  const [rows, inner] = around(x.shape, a);
  const outs = sizes.map((s) => wasm.makeOutput(x.shape.map((d, i) => (i === a ? s : d)), x.dtype));
  // views after every makeOutput: growing the heap detaches earlier ones
  const src = wasm.typedArrayFromHeap(x) as Heap;
  let offset = 0;
  outs.forEach((out, g) => {
    if (sizes[g] > 0 && rows > 0 && inner > 0) {
      copyRuns(src, x.shape[a] * inner, offset * inner, wasm.typedArrayFromHeap(out) as Heap, sizes[g] * inner, 0, sizes[g] * inner, rows);
    }
    offset += sizes[g];
  });
  return outs;
}

/** Concat by run copies on the wasm heap (GroupConv2D joins its groups along the channel axis). */
function concat(args: {inputs: tf.TensorInfo[]; backend: tf.KernelBackend; attrs: tf.ConcatAttrs}): tf.TensorInfo {
  const {inputs, backend, attrs: {axis}} = args;
  if (inputs.some((t) => t.dtype === 'string' || t.dtype !== inputs[0].dtype)) {
    return nativeConcat.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  const wasm = backend as BackendWasm;
  const a = tf.util.parseAxisParam(axis, inputs[0].shape)[0];
  const shapes = inputs.map((t) => t.shape);
  tf.backend_util.assertParamsConsistent(shapes, a);
  const outShape = tf.backend_util.computeOutShape(shapes, a);
  const out = wasm.makeOutput(outShape, inputs[0].dtype);
  const [rows, inner] = around(outShape, a);
  if (rows === 0 || inner === 0) return out;
  const dst = wasm.typedArrayFromHeap(out) as Heap;
  let offset = 0;
  for (const t of inputs) {
    if (t.shape[a] > 0) copyRuns(wasm.typedArrayFromHeap(t) as Heap, t.shape[a] * inner, 0, dst, outShape[a] * inner, offset * inner, t.shape[a] * inner, rows);
    offset += t.shape[a];
  }
  return out;
}

/** Replaces wasm's SplitV. */
export const splitVConfig: tf.KernelConfig = {kernelName: tf.SplitV, backendName: 'wasm', kernelFunc: splitV as unknown as tf.KernelFunc};

/** Replaces wasm's Concat. */
export const concatConfig: tf.KernelConfig = {kernelName: tf.Concat, backendName: 'wasm', kernelFunc: concat as unknown as tf.KernelFunc};
