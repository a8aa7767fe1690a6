import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {KernelArgs} from './wasm_ops';

/**
 * Tile by block copies on the wasm heap: each axis, innermost first, copies its input rows and
 * then doubles the finished block with copyWithin until it is repeated reps[axis] times.
 */
function tile({inputs: {x}, backend, attrs: {reps}}: KernelArgs<'x', tf.TileAttrs>): tf.TensorInfo {
  if (x.dtype === 'string') throw new Error('src/backend: wasm Tile supports numeric and bool tensors, not string');
  const wasm = backend as BackendWasm;
  const outShape = x.shape.map((n, i) => n * reps[i]);
  const out = wasm.makeOutput(outShape, x.dtype);
  if (outShape.some((n) => n === 0)) return out;
  const src = wasm.readSync(x.dataId) as tf.TypedArray;
  const dst = wasm.typedArrayFromHeap(out);
  const inStrides = [...tf.util.computeStrides(x.shape), 1];
  const outStrides = [...tf.util.computeStrides(outShape), 1];
  const rank = x.shape.length;
  // Writes x[inOff + ...] tiled along axes >= axis at dst[outOff + ...].
  const fill = (axis: number, inOff: number, outOff: number): void => {
    const rows = x.shape[axis];
    if (axis === rank - 1) {
      dst.set(src.subarray(inOff, inOff + rows), outOff);
    } else {
      for (let i = 0; i < rows; i++) fill(axis + 1, inOff + i * inStrides[axis], outOff + i * outStrides[axis]);
    }
    const block = rows * outStrides[axis];
    for (let done = block; done < block * reps[axis]; done *= 2) {
      dst.copyWithin(outOff + done, outOff, outOff + Math.min(done, block * reps[axis] - done));
    }
  };
  if (rank === 0) dst.set(src);
  else fill(0, 0, 0);
  return out;
}

/** Replaces wasm's Tile (a per-element index loop; tf's BatchNorm gradient tiles whole activations). */
export const tileConfig: tf.KernelConfig = {
  kernelName: tf.Tile,
  backendName: 'wasm',
  kernelFunc: tile as unknown as tf.KernelFunc,
};
