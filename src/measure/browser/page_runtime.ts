/** The page's side: what runs in the browser (as source text, never with Node imports) and the scripts it loads. */
import type * as tf from '@tensorflow/tfjs';

/** tfjs backends a browser page may offer. */
export type BrowserBackend = 'wasm' | 'webgl' | 'webgpu';

/** What the page runtime offers, as `globalThis.gfp` in the page. */
export interface PageApi {
  /** Switch backend; returns why it failed, or null. */
  setBackend(name: BrowserBackend): Promise<string | null>;
  /** Load (or reload, on the current backend) model `id` from a model.json URL. */
  load(id: string, url: string): Promise<void>;
  /** Logits of model `id` for inputs given flat with their shape [B, H, W, C]. */
  predict(id: string, flat: number[], shape: number[]): Promise<{data: number[]; shape: number[]}>;
  /**
   * Wall times (ms) per model of `runs` passes on random [batchSize, ...] inputs after `warmup` untimed ones;
   * the models take turns, run by run, so that the browser's load affects them alike.
   */
  time(ids: string[], batchSize: number, runs: number, warmup: number): Promise<number[][]>;
  /** Threads of the started wasm backend. */
  threads(): number;
  /** Per-sample input shape of model `id`. */
  inputShape(id: string): number[];
  /** What runs the backend: wasm SIMD/threads, the WebGL renderer (e.g. SwiftShader), the WebGPU adapter. */
  device(name: BrowserBackend): Promise<string>;
}

/**
 * Installs `globalThis.gfp` (a PageApi) in the page. Runs in the browser: it is sent as source
 * text, so it may use only the page's globals (`tf` from lib/tf.min.js), never Node imports.
 */
function pageRuntime(): void {
  type PageTf = typeof tf & {wasm: {setWasmPaths(prefix: string): void; setThreadsCount(n: number): void; getThreadsCount(): number}};
  const g = globalThis as unknown as {tf: PageTf; gfp: PageApi};
  const ptf = g.tf;
  ptf.wasm.setWasmPaths(new URL('lib/', location.href).href);
  const threads = Number(new URLSearchParams(location.search).get('threads'));
  if (threads > 0) ptf.wasm.setThreadsCount(threads); // see threadsScript
  const models: Record<string, tf.LayersModel> = {};
  const model = (id: string): tf.LayersModel => {
    if (!models[id]) throw new Error(`page: model '${id}' is not loaded`);
    return models[id];
  };
  // One pass, timed until the outputs are read back (as measureLatency does in Node).
  const timeOnce = async (m: tf.LayersModel, xs: tf.Tensor[]): Promise<number> => {
    const start = performance.now();
    const out = ptf.tidy(() => m.execute(xs, m.outputs.map((o) => o.name)));
    const outs = Array.isArray(out) ? out : [out];
    try {
      await Promise.all(outs.map((t) => t.data()));
    } finally {
      ptf.dispose(outs);
    }
    return performance.now() - start;
  };
  const devices: Record<BrowserBackend, () => Promise<string>> = {
    wasm: async () => `simd ${await ptf.env().getAsync('WASM_HAS_SIMD_SUPPORT')}, threads ${await ptf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')}` +
      `, cross-origin isolated ${globalThis.crossOriginIsolated}`,
    webgl: async () => {
      const gl = document.createElement('canvas').getContext('webgl2');
      const info = gl?.getExtension('WEBGL_debug_renderer_info');
      return info ? String(gl!.getParameter(info.UNMASKED_RENDERER_WEBGL)) : 'unknown renderer';
    },
    webgpu: async () => {
      const gpu = (navigator as unknown as {gpu?: {requestAdapter(): Promise<{info?: {vendor: string; architecture: string}} | null>}}).gpu;
      const info = (await gpu?.requestAdapter())?.info;
      return info ? `${info.vendor} ${info.architecture}`.trim() : 'unknown adapter';
    },
  };
  g.gfp = {
    async setBackend(name) {
      try {
        return (await ptf.setBackend(name)) ? null : `tf.setBackend('${name}') returned false`;
      } catch (e) {
        return String((e as Error).message ?? e);
      }
    },
    async load(id, url) {
      models[id]?.dispose();
      delete models[id];
      models[id] = await ptf.loadLayersModel(url);
    },
    async predict(id, flat, shape) {
      const y = ptf.tidy(() => model(id).predict(ptf.tensor(flat, shape)) as tf.Tensor);
      try {
        return {data: Array.from(await y.data()), shape: y.shape};
      } finally {
        y.dispose();
      }
    },
    async time(ids, batchSize, runs, warmup) {
      const ms = ids.map(model);
      const xs = ms.map((m) => m.inputs.map((i) => ptf.randomUniform([batchSize, ...(i.shape.slice(1) as number[])]))); // [B, ...] in [0, 1)
      const times = ids.map(() => [] as number[]);
      try {
        for (let r = -warmup; r < runs; r++) {
          for (const [k, m] of ms.entries()) {
            const t = await timeOnce(m, xs[k]);
            if (r >= 0) times[k].push(t);
          }
        }
      } finally {
        ptf.dispose(xs.flat());
      }
      return times;
    },
    threads() {
      return ptf.wasm.getThreadsCount();
    },
    inputShape(id) {
      return model(id).inputs[0].shape.slice(1) as number[];
    },
    device(name) {
      return devices[name]();
    },
  };
}

/** Source of the page runtime, for a <script>. */
export const pageRuntimeScript = `(${pageRuntime.toString()})();\n`;

/** Script tags (relative URLs) that every page loads, in order, before its own script. */
export const pageScripts = ['lib/tf.min.js', 'lib/tf-backend-wasm.min.js', 'lib/tf-backend-webgpu.min.js', 'lib/group_conv2d.js', 'lib/runtime.js'];
