import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {BackendWasm, getThreadsCount, setThreadsCount} from '@tensorflow/tfjs-backend-wasm';

/** Most threads tfjs-backend-wasm runs: its threaded build starts 8 workers and XNNPACK's pool takes at most 8. */
export const MAX_THREADS = 8;

/** tfjs-backend-wasm's registration priority for 'wasm'. */
const WASM_PRIORITY = 2;

/** The emscripten module of the threaded build, as far as we use it. */
interface ThreadedModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread: {runningWorkers: {unref(): void}[]; unusedWorkers: {terminate(): void}[]};
  tfjs?: Record<string, unknown>;
}
type Imports = {env: Record<string, unknown>};
type Factory = (config: Record<string, unknown>) => Promise<ThreadedModule>;

let requested: number | undefined;
let running: number | undefined;

/** All available cores, at most MAX_THREADS. */
export const defaultThreads = (): number => Math.min(os.availableParallelism(), MAX_THREADS);

/**
 * Threads of the started wasm backend (1: the single-threaded build), or undefined before it starts.
 * @example await useBackend('wasm', {threads: 2}); wasmThreads(); // 2
 */
export const wasmThreads = (): number | undefined => running;

/**
 * Sets the threads the wasm backend starts with (undefined: all cores). Threads are fixed once it started:
 * asking for another count then throws.
 * @example requestThreads(2); await tf.setBackend('wasm');
 */
export function requestThreads(threads: number | undefined): void {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) {
    throw new Error(`threads ${threads}: expected an integer from 1 to ${MAX_THREADS} (this machine has ${os.availableParallelism()} cores)`);
  }
  const wanted = threads ?? defaultThreads();
  if (running !== undefined && threads !== undefined && running !== wanted) {
    throw new Error(`threads ${threads}: the wasm backend already runs ${running} thread(s) and cannot change in this process; start a new process`);
  }
  requested = threads;
}

/** tfjs-backend-wasm's threaded SIMD build in Node: emscripten's pthreads on worker_threads. */
async function threadedBackend(threads: number): Promise<BackendWasm> {
  const mainJs = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const binary = fs.readFileSync(mainJs.replace(/\.js$/, '.wasm'));
  const factory = require(mainJs) as Factory;
  const events = ['uncaughtException', 'unhandledRejection'];
  const listeners = events.map((e) => process.listeners(e as NodeJS.Signals));
  let fail: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => { fail = reject; });
  const module = await Promise.race([failed, factory({
    mainScriptUrlOrBlob: mainJs, // each worker reads the module's script from this file
    locateFile: (file: string, prefix: string) => file.endsWith('.worker.js') ? path.join(__dirname, 'wasm_worker.js') : prefix + file,
    instantiateWasm: (imports: Imports, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) => {
      // tfjs sizes XNNPACK's pool from half the logical cores (capped by the count asked): report twice ours
      const env = {...imports.env, emscripten_num_logical_cores: () => 2 * threads};
      WebAssembly.instantiate(binary, {...imports, env}).then((r) => receive(r.instance, r.module), fail);
      return {};
    },
  })]);
  // emscripten's handlers rethrow every error from its one-line script, which Node then prints whole: Node's own print
  events.forEach((e, i) => process.listeners(e as NodeJS.Signals).filter((l) => !listeners[i].includes(l)).forEach((l) => process.removeListener(e, l)));
  const fn = (name: string, ret: string | null, args: string[] = []) => module.cwrap(name, ret, args);
  module.tfjs = {init: fn('init', null), initWithThreadsCount: fn('init_with_threads_count', null, ['number']),
    getThreadsCount: fn('get_threads_count', 'number'), registerTensor: fn('register_tensor', null, ['number', 'number', 'number']),
    disposeData: fn('dispose_data', null, ['number']), dispose: fn('dispose', null)};
  setThreadsCount(threads);
  const backend = new BackendWasm(module as never);
  // the pool's threads wait for work forever: they must not keep Node alive; the spare workers are not needed
  for (const worker of module.PThread.runningWorkers) worker.unref();
  for (const worker of module.PThread.unusedWorkers.splice(0)) worker.terminate();
  return backend;
}

/**
 * Makes 'wasm' start with the threads asked (requestThreads; default all cores): the threaded SIMD build on
 * worker_threads, or tfjs-backend-wasm's own single-threaded build for 1 thread. Nothing changes where
 * wasm already started.
 */
export function registerThreadedWasm(): void {
  const stock = tf.findBackendFactory('wasm');
  if (stock == null || 'wasm' in tf.engine().registry) return;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', async () => {
    const threads = requested ?? defaultThreads();
    const backend = threads === 1 ? await stock() : await threadedBackend(threads);
    running = threads === 1 ? 1 : getThreadsCount();
    return backend;
  }, WASM_PRIORITY);
}
