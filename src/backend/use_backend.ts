import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import './kernels';
import './gradients';
import {installPatches, uninstallPatches} from './patches';
import {registerWebgpuKernels} from './kernels/webgpu';
import {registerThreadedWasm, requestThreads} from './threads';

registerThreadedWasm();

/** Backends this package can start; 'auto' takes the first that starts of tensorflow, webgpu, wasm, cpu. */
export type BackendName = 'auto' | 'wasm' | 'webgpu' | 'tensorflow' | 'cpu';
type ConcreteBackend = Exclude<BackendName, 'auto'>;

/** Options of {@link useBackend}. */
export interface BackendOptions {
  /** Threads of the wasm backend (1 to 8; default all available cores), fixed once wasm started in this process. */
  threads?: number;
  /** Install the tf.layers patches of patches.ts (faster training calls, BatchNorm without scale). Default true. */
  patches?: boolean;
}

/** Preference order of 'auto'. */
const AUTO_ORDER: ConcreteBackend[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

/** Milliseconds to wait for a WebGPU adapter before giving up. */
const ADAPTER_TIMEOUT_MS = 10_000;

/** A loader makes its backend registered with tf and returns null, or returns why it cannot. */
type Loader = () => Promise<string | null>;

/** Requires `pkg` only when it is really that package (npm aliases point tfjs-node at plain tfjs). */
function requireGenuine(pkg: string): string | null {
  try {
    const name = (require(`${pkg}/package.json`) as {name: string}).name;
    if (name !== pkg) return `${pkg} is an alias of ${name}`;
    require(pkg);
    return null;
  } catch (e) {
    return `${pkg} does not load (${(e as Error).message.split('\n')[0]})`;
  }
}

async function loadTensorflow(): Promise<string | null> {
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const reason = requireGenuine(pkg);
    if (tf.findBackendFactory('tensorflow') != null) return null;
    reasons.push(reason ?? `${pkg} loaded but registered no 'tensorflow' backend`);
  }
  return reasons.join('; ');
}

// NOTE: a real import(): `webgpu` is an ES module and tsc would turn import() into require().
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<Record<string, unknown>>;

interface Gpu { requestAdapter(): Promise<{isFallbackAdapter?: boolean; info?: {isFallbackAdapter?: boolean}} | null> }

/**
 * GFP_WEBGPU_SOFTWARE=1 accepts a software Vulkan adapter (Mesa's lavapipe, version 24 or later; Debian 12's
 * 22.3 lacks what Dawn needs): far slower than wasm, but it runs the webgpu path, e.g. in tests, without a GPU.
 */
const acceptSoftware = (): boolean => process.env.GFP_WEBGPU_SOFTWARE === '1';

async function loadWebgpu(): Promise<string | null> {
  const devices = ['/dev/nvidia0', '/dev/dri'];
  if (process.platform === 'linux' && !acceptSoftware() && !devices.some((d) => fs.existsSync(d))) {
    return `no GPU device (${devices.join(', ')}) on this machine`;
  }
  try {
    const webgpu = await importEsm(require.resolve('webgpu'));
    const gpu = (webgpu.create as (flags: string[]) => Gpu)([]);
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ADAPTER_TIMEOUT_MS).unref());
    const adapter = await Promise.race([gpu.requestAdapter(), timeout]);
    if (adapter === 'timeout') return `no WebGPU adapter within ${ADAPTER_TIMEOUT_MS} ms`;
    if (adapter == null) return 'the webgpu package found no adapter (Vulkan driver missing?)';
    if ((adapter.isFallbackAdapter || adapter.info?.isFallbackAdapter) && !acceptSoftware()) return 'only a software (fallback) WebGPU adapter (GFP_WEBGPU_SOFTWARE=1 accepts it)';
    Object.assign(globalThis, webgpu.globals);
    const g = globalThis as {navigator?: {gpu?: Gpu}};
    if (g.navigator?.gpu == null) g.navigator = {...g.navigator, gpu};
    require('@tensorflow/tfjs-backend-webgpu');
    if (tf.findBackendFactory('webgpu') == null) return '@tensorflow/tfjs-backend-webgpu registered no backend';
    registerWebgpuKernels();
    return null;
  } catch (e) {
    return `webgpu does not load (${(e as Error).message.split('\n')[0]})`;
  }
}

async function loadRegistered(name: string): Promise<string | null> {
  return tf.findBackendFactory(name) != null ? null : `no '${name}' backend is registered`;
}

const loaders: Record<ConcreteBackend, Loader> = {
  tensorflow: loadTensorflow,
  webgpu: loadWebgpu,
  wasm: () => loadRegistered('wasm'),
  cpu: () => loadRegistered('cpu'),
};

const loaded = new Map<ConcreteBackend, Promise<string | null>>();

/** Why `name` cannot load here, or null when it can (each loader runs once). */
function whyNot(name: ConcreteBackend): Promise<string | null> {
  if (!loaded.has(name)) loaded.set(name, loaders[name]());
  return loaded.get(name)!;
}

/**
 * Names of the backends that load on this machine, in 'auto' preference order.
 * @example const names = await backendsAvailable(); // e.g. ['wasm', 'cpu']
 */
export async function backendsAvailable(): Promise<string[]> {
  const names: string[] = [];
  for (const name of AUTO_ORDER) {
    if ((await whyNot(name)) == null) names.push(name);
  }
  return names;
}

/**
 * Starts a tf backend and returns its name; 'auto' takes the fastest that starts here. `threads` sets how many
 * cores wasm uses (other backends ignore it); the layer patches (patches.ts) are installed unless `patches: false`.
 * @example const name = await useBackend('wasm', {threads: 2}); // 'wasm' on two cores
 */
export async function useBackend(name: BackendName = 'auto', options: BackendOptions = {}): Promise<string> {
  requestThreads(options.threads);
  if (options.patches === false) uninstallPatches();
  else installPatches();
  if (name === 'auto') {
    for (const candidate of AUTO_ORDER) {
      if ((await whyNot(candidate)) == null && (await tf.setBackend(candidate))) return candidate;
    }
    throw new Error(`useBackend('auto'): no backend started (tried ${AUTO_ORDER.join(', ')})`);
  }
  if (!(name in loaders)) {
    throw new Error(`useBackend: unknown backend '${name}'; valid names: auto, ${AUTO_ORDER.join(', ')}`);
  }
  const reason = await whyNot(name);
  if (reason == null && (await tf.setBackend(name))) return name;
  const available = (await backendsAvailable()).join(', ');
  throw new Error(`useBackend('${name}'): cannot start: ${reason ?? 'its initialisation failed'}; available here: ${available}`);
}
