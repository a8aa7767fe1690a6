import * as fs from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';

/** The exports of assembly/kernels.ts; pointers are byte offsets in the wasm backend's heap. */
export interface SimdKernels {
  /** Chunks [j0, j1) of `chunks` fixed chunks of the b images, chunk j's dW into partials + j dW sizes. */
  depthwiseFilterGradChunks(x: number, dy: number, partials: number, b: number, h: number, w: number, c: number, m: number,
    ho: number, wo: number, kh: number, kw: number, sh: number, sw: number, pt: number, pl: number, chunks: number, j0: number, j1: number): void;
  depthwiseInputGrad(dy: number, filter: number, dx: number, b: number, h: number, w: number, c: number,
    ho: number, wo: number, kh: number, kw: number, sh: number, sw: number, pt: number, pl: number): void;
  clipGrad(x: number, dy: number, dx: number, n: number, lo: number, hi: number, openLow: boolean): void;
  /** Partial channel sums of `chunks` fixed chunks of n pixels (chunks [j0, j1) here), for the two below. */
  momentChunks(a: number, sa: number, b: number, sb: number, s: number, n: number, c: number, chunks: number, j0: number, j1: number): void;
  /** Pixels [r0, r1) from the chunk sums s; `stats`: also write mean and variance. */
  batchNormForward(x: number, gamma: number, beta: number, y: number, mean: number, variance: number, s: number, st: number,
    n: number, c: number, eps: number, chunks: number, r0: number, r1: number, stats: boolean): void;
  batchNormBackward(x: number, dy: number, mean: number, variance: number, gamma: number, dx: number, dgamma: number, dbeta: number,
    s: number, abd: number, n: number, c: number, eps: number, chunks: number, r0: number, r1: number, stats: boolean): void;
  /** Adds tiles [t0, t1) of every tap (4 input x 8 output channels each, input-channel major) into dw, zeroed by the caller. */
  convFilterGrad(x: number, dy: number, dw: number, b: number, h: number, w: number, ci: number, co: number,
    ho: number, wo: number, kh: number, kw: number, sh: number, sw: number, pt: number, pl: number, t0: number, t1: number): void;
  channelSums(x: number, out: number, scratch: number, outer: number, n: number, c: number, scale: number): void;
}

type Internals = {wasm: {asm?: {memory?: WebAssembly.Memory}; wasmMemory?: WebAssembly.Memory}; dataIdMap: {get(id: object): {memoryOffset: number}}};

/** Our kernels' compiled module, its instance's exports and the wasm memory they work on. */
export interface SimdModule { kernels: SimdKernels; module: WebAssembly.Module; memory: WebAssembly.Memory }

const loaded = new WeakMap<object, SimdModule | null>();
let enabled = true;

/**
 * Turn our SIMD kernels off (or back on) to time or test the composed paths they replace.
 * @example useSimd(false); // the XNNPACK / JS paths from now on
 */
export function useSimd(on: boolean): void {
  enabled = on;
}

/** Our SIMD module on this backend's memory (simd_shared.wasm for the threaded build's shared memory), or null. */
export function simdModule(backend: BackendWasm): SimdModule | null {
  if (!enabled) return null;
  if (!loaded.has(backend)) {
    let simd: SimdModule | null = null;
    const wasm = (backend as unknown as Internals).wasm;
    const memory = wasm.asm?.memory ?? wasm.wasmMemory; // the threaded build imports its memory
    const file = path.join(__dirname, memory?.buffer instanceof SharedArrayBuffer ? 'simd_shared.wasm' : 'simd.wasm');
    if (memory instanceof WebAssembly.Memory && fs.existsSync(file)) {
      const module = new WebAssembly.Module(fs.readFileSync(file));
      simd = {module, memory, kernels: new WebAssembly.Instance(module, {env: {memory}}).exports as unknown as SimdKernels};
    }
    loaded.set(backend, simd);
  }
  return loaded.get(backend)!;
}

/**
 * Our SIMD kernels instantiated on this wasm backend's own memory (built by `npm run build` into simd.wasm
 * and simd_shared.wasm beside this file), or null where they cannot be (no file, a tfjs that hides its
 * memory): callers then take their slower composed path.
 * @example const k = simdKernels(backend); if (k) k.clipGrad(offsetOf(backend, x), ...);
 */
export const simdKernels = (backend: BackendWasm): SimdKernels | null => simdModule(backend)?.kernels ?? null;

/** Byte offset of a tensor's data in the wasm heap. */
export const offsetOf = (backend: BackendWasm, t: tf.TensorInfo): number => (backend as unknown as Internals).dataIdMap.get(t.dataId).memoryOffset;

/** Runs `kernel` with a float32 scratch of `floats` values in the wasm heap (its byte offset), freed afterwards. */
export function withScratch<T>(wasm: BackendWasm, floats: number, kernel: (scratch: number) => T): T {
  const scratch = wasm.makeOutput([floats], 'float32');
  try {
    return kernel(offsetOf(wasm, scratch));
  } finally {
    wasm.disposeData(scratch.dataId);
  }
}
