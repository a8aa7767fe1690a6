import * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';

/** A pad (>= 0) or crop (< 0) of one axis: [before, after]. */
export type PadCrop = [number, number];

/**
 * Runs a backend's kernels (wasm's unless told) on TensorInfos and frees every intermediate it made when the composition ends.
 * @example composed(backend, (ops) => ops.transpose(x, [1, 0]));
 */
export class WasmOps {
  private readonly made: tf.TensorInfo[] = [];

  constructor(readonly backend: tf.KernelBackend, readonly backendName = 'wasm') {}

  /** Runs `name` on the backend; the result is freed at the end unless returned by the composition. */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const kernel = tf.getKernel(name, this.backendName);
    if (kernel == null) throw new Error(`src/backend: ${this.backendName} kernel ${name} is not registered`);
    const out = kernel.kernelFunc({inputs, backend: this.backend, attrs}) as tf.TensorInfo;
    this.made.push(out);
    return out;
  }

  /** A new tensor for a kernel of ours to fill, freed at the end unless returned by the composition. */
  output(shape: number[], dtype: tf.DataType = 'float32'): tf.TensorInfo {
    const out = (this.backend as BackendWasm).makeOutput(shape, dtype);
    this.made.push(out);
    return out;
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', {x}, {shape});
  }

  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.run('Transpose', {x}, {perm});
  }

  /** Pads with zeros where an entry is >= 0 and crops where it is < 0, per axis. */
  padOrCrop(x: tf.TensorInfo, edges: PadCrop[]): tf.TensorInfo {
    let out = x;
    if (edges.some(([a, b]) => a < 0 || b < 0)) {
      const begin = edges.map(([a]) => Math.max(0, -a));
      const size = x.shape.map((n, i) => n - begin[i] - Math.max(0, -edges[i][1]));
      out = this.stridedSlice(out, begin, size.map((n, i) => begin[i] + n), size.map(() => 1));
    }
    if (edges.some(([a, b]) => a > 0 || b > 0)) {
      out = this.run('PadV2', {x: out}, {paddings: edges.map(([a, b]) => [Math.max(0, a), Math.max(0, b)]), constantValue: 0});
    }
    return out;
  }

  /**
   * Crops x where an edge is < 0 and returns it with the rest, the pads, for a convolution's explicit
   * `pad` attr to apply (saves the copy a PadV2 makes).
   */
  cropForConv(x: tf.TensorInfo, edges: PadCrop[]): {x: tf.TensorInfo; pad: PadCrop[]} {
    return {
      x: this.padOrCrop(x, edges.map(([a, b]): PadCrop => [Math.min(0, a), Math.min(0, b)])),
      pad: edges.map(([a, b]): PadCrop => [Math.max(0, a), Math.max(0, b)]),
    };
  }

  stridedSlice(x: tf.TensorInfo, begin: number[], end: number[], strides: number[]): tf.TensorInfo {
    return this.run('StridedSlice', {x}, {begin, end, strides, beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0});
  }

  /** Inserts stride - 1 zeros after every row and column: [B, H, W, C] -> [B, H * sh, W * sw, C]. */
  zeroInsert(x: tf.TensorInfo, [sh, sw]: [number, number]): tf.TensorInfo {
    if (sh === 1 && sw === 1) return x;
    const [b, h, w, c] = x.shape;
    const x6 = this.reshape(x, [b, h, 1, w, 1, c]);
    const padded = this.run('PadV2', {x: x6}, {paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0});
    return this.reshape(padded, [b, h * sh, w * sw, c]);
  }

  /** Frees every intermediate except `keep`. */
  finish(keep: tf.TensorInfo): tf.TensorInfo {
    for (const t of this.made) {
      if (t !== keep) this.backend.disposeData(t.dataId);
    }
    return keep;
  }
}

/**
 * Runs `compose` with a fresh WasmOps and frees its intermediates, keeping the returned TensorInfo
 * (which must be made by `ops`, never one of the kernel's inputs).
 * @example const y = composed(backend, (ops) => ops.reshape(ops.transpose(x, [1, 0]), [-1]));
 */
export function composed(backend: tf.KernelBackend, compose: (ops: WasmOps) => tf.TensorInfo, backendName = 'wasm'): tf.TensorInfo {
  const ops = new WasmOps(backend, backendName);
  return ops.finish(compose(ops));
}

/** What tf passes a kernel function, typed by input names and attrs. */
export interface KernelArgs<Input extends string, Attrs> {
  inputs: Record<Input, tf.TensorInfo>;
  backend: tf.KernelBackend;
  attrs: Attrs;
}
