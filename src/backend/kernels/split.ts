import * as path from 'path';
import {Worker} from 'worker_threads';
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm';
import {wasmThreads} from '../threads';
import {SLOT} from './pool_layout';
import {SimdKernels, simdModule} from './simd';

/** Milliseconds to wait for the helper threads to start before running single-threaded. */
const START_TIMEOUT_MS = 20_000;

/** Helper threads running our SIMD kernels beside the calling thread, on the backend's shared memory. */
interface Pool { ctl: Int32Array; args: Float64Array; names: string[]; helpers: number; seq: number }
const pools = new WeakMap<object, Pool | null>();

/** Waits until ctl[i] === value (or `ms` passed); whether it got there. */
function waitFor(ctl: Int32Array, i: number, value: number, ms = Infinity): boolean {
  const end = performance.now() + ms;
  for (let v; (v = Atomics.load(ctl, i)) !== value;) {
    const left = end - performance.now();
    if (left <= 0) return false;
    Atomics.wait(ctl, i, v, left);
  }
  return true;
}

/** The pool of this backend: wasmThreads() - 1 helpers on the threaded build, else null. Started once. */
function poolOf(backend: BackendWasm): Pool | null {
  if (!pools.has(backend)) {
    const simd = simdModule(backend);
    const helpers = (wasmThreads() ?? 1) - 1;
    let pool: Pool | null = null;
    if (simd && helpers > 0 && simd.memory.buffer instanceof SharedArrayBuffer) {
      const control = new SharedArrayBuffer(helpers * SLOT.ints * 4);
      const args = new SharedArrayBuffer(helpers * SLOT.args * 8);
      const names = Object.keys(simd.kernels);
      const ctl = new Int32Array(control);
      const workers = Array.from({length: helpers}, (_, index) => new Worker(path.join(__dirname, 'pool_worker.js'),
        {workerData: {memory: simd.memory, module: simd.module, control, args, index, names}}));
      for (const w of workers) w.unref(); // they wait for work forever: Node must still exit
      // each helper marks `done` -1 once its kernels are instantiated
      const started = workers.every((_, i) => waitFor(ctl, i * SLOT.ints + SLOT.done, -1, START_TIMEOUT_MS));
      if (started) pool = {ctl, args: new Float64Array(args), names, helpers, seq: 0};
      else for (const w of workers) void w.terminate();
    }
    pools.set(backend, pool);
  }
  return pools.get(backend)!;
}

/**
 * Threads our SIMD kernels split their work across on this backend (starts them on first use).
 * @example kernelThreads(tf.backend() as BackendWasm); // 2 on two wasm threads
 */
export const kernelThreads = (backend: BackendWasm): number => 1 + (poolOf(backend)?.helpers ?? 0);

/**
 * Runs SIMD kernel `name` over parts [0, parts) cut into one contiguous range per wasm thread: this thread
 * takes the first range, helper threads the others, and it returns when all are done. argsOf(begin, end, i)
 * gives the kernel's arguments for range i; the ranges must write disjoint memory. With `serial` (work too
 * small to pay for waking the helpers) this thread runs all of it as range 0.
 * @example splitKernel(wasm, 'clipGrad', n, (b, e) => [x + 4 * b, dy + 4 * b, dx + 4 * b, e - b, 0, 6, true]);
 */
export function splitKernel<K extends keyof SimdKernels>(backend: BackendWasm, name: K, parts: number,
  argsOf: (begin: number, end: number, range: number) => Parameters<SimdKernels[K]>, serial = false): void {
  const kernel = simdModule(backend)!.kernels[name] as (...a: unknown[]) => void;
  const pool = poolOf(backend);
  const n = serial ? 1 : Math.max(1, Math.min(parts, 1 + (pool?.helpers ?? 0)));
  const bound = (i: number) => Math.floor((i * parts) / n);
  if (pool == null || n === 1) {
    kernel(...argsOf(0, parts, 0));
    return;
  }
  const seq = ++pool.seq;
  for (let i = 1; i < n; i++) {
    const base = (i - 1) * SLOT.ints;
    const args = argsOf(bound(i), bound(i + 1), i).map(Number);
    pool.args.set(args, (i - 1) * SLOT.args);
    pool.ctl[base + SLOT.kernel] = pool.names.indexOf(name);
    pool.ctl[base + SLOT.count] = args.length;
    Atomics.store(pool.ctl, base + SLOT.asked, seq);
    Atomics.notify(pool.ctl, base + SLOT.asked);
  }
  let error: unknown;
  try {
    kernel(...argsOf(0, bound(1), 0));
  } catch (e) {
    error = e;
  }
  for (let i = 1; i < n; i++) {
    waitFor(pool.ctl, (i - 1) * SLOT.ints + SLOT.done, seq);
    if (pool.ctl[(i - 1) * SLOT.ints + SLOT.failed]) error ??= new Error(`SIMD kernel ${name} failed on helper thread ${i}`);
  }
  if (error !== undefined) throw error;
}
