/**
 * Inference in a real browser: a localhost server hands headless Chromium (driven by
 * playwright-core) the project's own tfjs bundles, the model files and a small page runtime;
 * the page loads the model with tf.loadLayersModel and times it per backend.
 *
 * GroupConv2D in the page: the server sends the compiled dist/src/models/group_conv2d.js itself,
 * wrapped in a CommonJS shim whose require('@tensorflow/tfjs') returns the page's global `tf`.
 * That file imports nothing else, so the page registers the very class Node uses (no copy).
 */
import * as tf from '@tensorflow/tfjs';
import {existsSync, promises as fs, readFileSync} from 'fs';
import * as http from 'http';
import type {AddressInfo} from 'net';
import * as os from 'os';
import * as path from 'path';
import type {Browser, Page} from 'playwright-core';
import {saveModel} from '../train/checkpoint';
import {LatencyMeasurement, checkInteger, summarize} from './latency';

/** tfjs backends a browser page may offer. */
export type BrowserBackend = 'wasm' | 'webgl' | 'webgpu';

/** What one URL path serves: a file on disk or text made in memory. */
export type Asset = {file: string} | {text: string};
/** Assets by URL path relative to the page (no leading slash), e.g. 'lib/tf.min.js'. */
export type Assets = Record<string, Asset>;

/** Options of `measureInBrowser`. */
export interface BrowserMeasureOptions {
  /** Batch size(s) to time (default [1, 32]). */
  batchSize?: number | number[];
  /** Timed runs per batch size (default 10). */
  runs?: number;
  /** Untimed runs before them (default 2). */
  warmup?: number;
  /** Backends to try, in order (default all three); wasm must start, the others are skipped when the page lacks them. */
  backends?: BrowserBackend[];
  /**
   * wasm thread counts to time, each on a freshly loaded page (the pool is sized once per page; the page is
   * cross-origin isolated so threads can run). Default: tfjs's own choice (half the browser's cores).
   */
  threads?: number[];
}

/** Latency of a model on one backend of one browser, shaped like `Measurement.latency`. */
export interface BrowserMeasurement {
  /** Browser name and version, e.g. 'chromium 156.0.8078.108'. */
  browser: string;
  backend: BrowserBackend;
  /** What ran it: wasm SIMD/threads, the WebGL renderer (SwiftShader is software), the WebGPU adapter. */
  device: string;
  /** Threads of XNNPACK's pool (wasm), else null. */
  threads: number | null;
  /** Index of the model in the list given to measureInBrowser (0 for a single model). */
  model: number;
  latency: LatencyMeasurement[];
}

/** All backends tried by `measureInBrowser`: per backend (and thread count), one measurement per model in order. */
export interface BrowserRun {
  browser: string;
  measurements: BrowserMeasurement[];
  /** Backends the page could not start, with tfjs's reason. */
  unavailable: {backend: BrowserBackend; reason: string}[];
}

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

/** The compiled GroupConv2D module wrapped so that it runs against the page's global `tf`. */
function groupConv2dScript(): string {
  const file = path.join(__dirname, '..', 'models', 'group_conv2d.js');
  const source = readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  return [
    '(function (pageTf) {',
    '  var module = {exports: {}}, exports = module.exports;',
    "  var require = function (name) { if (name === '@tensorflow/tfjs') return pageTf; throw new Error('group_conv2d.js: cannot require ' + name + ' in the page'); };",
    source,
    '})(globalThis.tf);',
  ].join('\n');
}

/** model.json of a directory or a model.json path, with a clear error when missing. */
function modelJsonPath(spec: string): string {
  const file = existsSync(spec) && !spec.endsWith('.json') ? path.join(spec, 'model.json') : spec;
  if (!existsSync(file)) throw new Error(`no model.json at ${file}: expected a tfjs layers model directory (model.json + weights.bin) as written by saveModel or 'gfp prune'`);
  return file;
}

/**
 * Assets of a model: model.json and the weight files its manifest names, under `models/<id>/`.
 * @example modelAssets('pruned', 'runs/p') // {'models/pruned/model.json': {file: 'runs/p/model.json'}, ...}
 */
export function modelAssets(id: string, spec: string): Assets {
  const file = modelJsonPath(spec);
  const json = JSON.parse(readFileSync(file, 'utf8')) as tf.io.ModelJSON;
  const assets: Assets = {[`models/${id}/model.json`]: {file}};
  for (const p of (json.weightsManifest ?? []).flatMap((g) => g.paths)) {
    const weights = path.join(path.dirname(file), p);
    if (p.includes('..') || !existsSync(weights)) throw new Error(`${file}: weights file ${p} is missing (looked at ${weights})`);
    assets[`models/${id}/${p}`] = {file: weights};
  }
  return assets;
}

/**
 * The page's libraries (tfjs, its wasm backend and binaries, webgpu when installed, GroupConv2D, runtime) and the given models.
 * @example const assets = pageAssets({baseline: 'runs/r20', pruned: 'runs/p'});
 */
export function pageAssets(models: Record<string, string>): Assets {
  const lib = (pkg: string, file: string): string => require.resolve(`${pkg}/dist/${file}`);
  const wasmDir = path.dirname(lib('@tensorflow/tfjs-backend-wasm', 'tf-backend-wasm.min.js'));
  const assets: Assets = {
    'lib/tf.min.js': {file: lib('@tensorflow/tfjs', 'tf.min.js')},
    'lib/tf-backend-wasm.min.js': {file: path.join(wasmDir, 'tf-backend-wasm.min.js')},
    'lib/group_conv2d.js': {text: groupConv2dScript()},
    'lib/runtime.js': {text: pageRuntimeScript},
    // the optional webgpu backend; a stub keeps the page's script list fixed when it is not installed
    'lib/tf-backend-webgpu.min.js': {text: '// @tensorflow/tfjs-backend-webgpu is not installed\n'},
  };
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    assets[`lib/${f}`] = {file: path.join(wasmDir, f)};
  }
  try {
    assets['lib/tf-backend-webgpu.min.js'] = {file: lib('@tensorflow/tfjs-backend-webgpu', 'tf-backend-webgpu.min.js')};
  } catch {
    // optional dependency absent: keep the stub
  }
  for (const [id, spec] of Object.entries(models)) Object.assign(assets, modelAssets(id, spec));
  return assets;
}

/** A page that loads the libraries and nothing else. */
const blankPage = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>gfp</title>\n${pageScripts.map((s) => `<script src="${s}"></script>`).join('\n')}\n`;

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.wasm': 'application/wasm', '.bin': 'application/octet-stream',
};

/** A running localhost server. */
export interface Served { url: string; close(): Promise<void> }

/** The asset name a request path asks for, or undefined for a path that does not decode (e.g. "/%"). */
function assetKey(url: string | undefined): string | undefined {
  try {
    return decodeURIComponent(new URL(url ?? '/', 'http://127.0.0.1').pathname).slice(1) || 'index.html';
  } catch {
    return undefined;
  }
}

// Cross-origin isolated (COOP + COEP), so the browser allows SharedArrayBuffer and threaded wasm.
const isolation = {'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp'};

/**
 * Serve `assets` (GET only, nothing else) on 127.0.0.1; port 0 picks a free one. Every request gets an
 * answer: 400 for a path that does not decode, 421 for a Host other than 127.0.0.1 / localhost (DNS rebinding),
 * 404 for anything else that is not an asset.
 * @example const s = await serveAssets(pageAssets({m: 'runs/p'})); console.log(s.url); await s.close();
 */
export async function serveAssets(assets: Assets, port = 0): Promise<Served> {
  const server = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (host !== '127.0.0.1' && host !== 'localhost') {
      res.writeHead(421).end('only 127.0.0.1 is served');
      return;
    }
    const key = assetKey(req.url);
    if (key === undefined) {
      res.writeHead(400).end('malformed path');
      return;
    }
    const asset = assets[key];
    if (req.method !== 'GET' || asset === undefined) {
      res.writeHead(404).end();
      return;
    }
    const send = (body: string | Buffer): void => {
      res.writeHead(200, {'content-type': contentTypes[path.extname(key)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...isolation}).end(body);
    };
    if ('text' in asset) send(asset.text);
    else fs.readFile(asset.file).then(send, () => res.writeHead(500).end(`cannot read ${asset.file}`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const {port: bound} = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const installHint = 'install it with `apt-get install chromium` (Debian/Ubuntu), or set GFP_CHROMIUM to a Chrome/Chromium executable';
const chromiumPaths = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/**
 * Path of the Chromium to drive: $GFP_CHROMIUM, else the first of the usual system paths; throws the install hint when none exists.
 * @example findChromium() // '/usr/bin/chromium'
 */
export function findChromium(): string {
  const fromEnv = process.env.GFP_CHROMIUM;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`GFP_CHROMIUM is ${fromEnv}, which does not exist; ${installHint}`);
    return fromEnv;
  }
  const found = chromiumPaths.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`no Chromium found (looked at ${chromiumPaths.join(', ')}); ${installHint}`);
  return found;
}

// tfjs's wasm backend sizes XNNPACK's pool from the page's cores (half of navigator.hardwareConcurrency, whatever
// setThreadsCount asks), so a page opened with ?threads=N reports 2N cores before any script runs (the count of
// the machine's cores is unchanged: it only sizes the pool).
const threadsScript = `{
  const n = Number(new URLSearchParams(location.search).get('threads'));
  if (n > 0) Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', {get: () => 2 * n});
}`;

// Headless, offline, throwaway profile (playwright makes and removes a temp user-data-dir).
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/**
 * A headless Chromium page on a localhost server holding the page libraries and some models.
 * @example const s = await BrowserSession.open({m: 'runs/p'}); await s.useBackend('wasm'); await s.load('m'); await s.close();
 */
export class BrowserSession {
  private readonly errors: string[] = [];
  private readonly warnings: string[] = [];

  private constructor(readonly browser: string, private readonly chromium: Browser, readonly page: Page, private readonly served: Served) {
    page.on('pageerror', (e) => this.errors.push(e.message));
    page.on('console', (m) => ({error: this.errors, warning: this.warnings} as Record<string, string[]>)[m.type()]?.push(m.text()));
  }

  /**
   * Serve the libraries and `models` (id -> model directory or model.json), launch Chromium, open the page.
   * @example const s = await BrowserSession.open({baseline: 'runs/r20'});
   */
  static async open(models: Record<string, string>): Promise<BrowserSession> {
    const executablePath = findChromium();
    const served = await serveAssets({...pageAssets(models), 'index.html': {text: blankPage}});
    let chromium: Browser | undefined;
    try {
      const {chromium: launcher} = await import('playwright-core');
      chromium = await launcher.launch({executablePath, headless: true, args: chromiumArgs}).catch((e: Error) => {
        throw new Error(`cannot start ${executablePath}: ${e.message.split('\n')[0]}; ${installHint}`);
      });
      const page = await chromium.newPage();
      await page.addInitScript(threadsScript);
      const session = new BrowserSession(`chromium ${chromium.version()}`, chromium, page, served);
      await page.goto(served.url);
      if (!(await page.evaluate(() => 'gfp' in globalThis))) {
        throw new Error(`the page at ${served.url} did not load its scripts (${session.errors.join('; ') || 'no page error reported'})`);
      }
      return session;
    } catch (e) {
      await chromium?.close();
      await served.close();
      throw e;
    }
  }

  /** Call a PageApi method in the page; errors carry the page's own messages. */
  private async call<K extends keyof PageApi>(method: K, ...args: Parameters<PageApi[K]>): Promise<Awaited<ReturnType<PageApi[K]>>> {
    try {
      return await this.page.evaluate(
        ({method, args}) => ((globalThis as unknown as {gfp: Record<string, (...a: unknown[]) => unknown>}).gfp[method](...args)),
        {method, args: args as unknown[]},
      ) as Awaited<ReturnType<PageApi[K]>>;
    } catch (e) {
      const seen = this.errors.length ? ` (page errors: ${this.errors.join('; ')})` : '';
      throw new Error(`browser page, ${method}: ${(e as Error).message.split('\n')[0]}${seen}`);
    }
  }

  /**
   * Switch the page to `backend`; returns why it is unavailable, or undefined when it started.
   * @example if (await s.useBackend('webgl')) console.log('no webgl');
   */
  async useBackend(backend: BrowserBackend): Promise<string | undefined> {
    const seen = this.warnings.length;
    const reason = await this.call('setBackend', backend);
    // tfjs logs the cause of a failed backend start as console warnings
    return reason === null ? undefined : [reason, ...this.warnings.slice(seen).map((w) => w.split('\n')[0])].join('; ');
  }

  /**
   * Load (again, on the current backend) the model served under `id`.
   * @example await s.load('baseline');
   */
  async load(id: string): Promise<void> {
    await this.call('load', id, `${this.served.url}models/${id}/model.json`);
  }

  /**
   * Logits of model `id` for `x` [B, H, W, C], computed in the page; the caller disposes the result.
   * @example const y = await s.predict('m', tf.zeros([2, 28, 28, 1]));
   */
  async predict(id: string, x: tf.Tensor): Promise<tf.Tensor> {
    const {data, shape} = await this.call('predict', id, Array.from(await x.data()), x.shape);
    return tf.tensor(data, shape);
  }

  /**
   * Latency of models `ids` at one batch size on the current backend, timed interleaved like `compareLatency` in Node.
   * @example const [base, small] = await s.time(['base', 'small'], 1, {runs: 10, warmup: 2});
   */
  async time(ids: string[], batchSize: number, opts: {runs: number; warmup: number}): Promise<LatencyMeasurement[]> {
    return (await this.call('time', ids, batchSize, opts.runs, opts.warmup)).map((t) => summarize(batchSize, t));
  }

  /**
   * Load the page again: a fresh tfjs with no backend started and no model loaded, whose wasm backend will run
   * `threads` threads (default: tfjs's choice, half the browser's cores).
   * @example await s.reload(2); await s.useBackend('wasm'); await s.threads(); // 2
   */
  async reload(threads?: number): Promise<void> {
    if (threads !== undefined) checkInteger('threads', threads, 1);
    await this.page.goto(threads === undefined ? this.served.url : `${this.served.url}?threads=${threads}`);
    if (!(await this.page.evaluate(() => 'gfp' in globalThis))) throw new Error(`the page did not load its scripts again (${this.errors.join('; ') || 'no page error reported'})`);
  }

  /**
   * Threads of the started wasm backend.
   * @example await s.threads() // 2
   */
  async threads(): Promise<number> {
    return this.call('threads');
  }

  /**
   * Per-sample input shape of model `id` as the page loaded it.
   * @example await s.inputShape('m') // [28, 28, 1]
   */
  async inputShape(id: string): Promise<number[]> {
    return this.call('inputShape', id);
  }

  /**
   * What runs `backend` in this browser (see PageApi.device).
   * @example await s.device('webgl') // e.g. 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...), SwiftShader driver)'
   */
  async device(backend: BrowserBackend): Promise<string> {
    return this.call('device', backend);
  }

  /**
   * Close the browser and the server.
   * @example await s.close();
   */
  async close(): Promise<void> {
    try {
      await this.chromium.close();
    } finally {
      await this.served.close();
    }
  }
}

/**
 * Inference latency of a model (directory, model.json or in-memory model) in headless Chromium, per backend the page
 * offers (and per wasm thread count asked for). Several models are timed interleaved, run by run.
 * @example const r = await measureInBrowser('runs/p', {batchSize: [1, 32], runs: 10}); console.log(r.measurements[0].latency[0].medianMs);
 * @example const r = await measureInBrowser([baseline, pruned], {backends: ['wasm'], threads: [1, 2]}); // 4 measurements
 */
export async function measureInBrowser(model: string | tf.LayersModel | (string | tf.LayersModel)[], opts: BrowserMeasureOptions = {}): Promise<BrowserRun> {
  const models = [model].flat();
  if (models.length === 0) throw new Error('measureInBrowser: no model given');
  const batchSizes = [opts.batchSize ?? [1, 32]].flat();
  const runs = opts.runs ?? 10;
  const warmup = opts.warmup ?? 2;
  batchSizes.forEach((b) => checkInteger('batchSize', b, 1));
  checkInteger('runs', runs, 1);
  checkInteger('warmup', warmup, 0);
  (opts.threads ?? []).forEach((t) => checkInteger('threads', t, 1));
  const tmp = models.some((m) => typeof m !== 'string') ? await fs.mkdtemp(path.join(os.tmpdir(), 'gfp-browser-')) : undefined;
  try {
    const ids = models.map((_, i) => `m${i}`);
    const dirs: Record<string, string> = {};
    for (const [i, m] of models.entries()) {
      dirs[ids[i]] = typeof m === 'string' ? m : path.join(tmp!, ids[i]);
      if (typeof m !== 'string') await saveModel(m, dirs[ids[i]]);
    }
    const session = await BrowserSession.open(dirs);
    try {
      const run: BrowserRun = {browser: session.browser, measurements: [], unavailable: []};
      const threadCounts: (number | undefined)[] = opts.threads?.length ? opts.threads : [undefined];
      for (const [k, threads] of threadCounts.entries()) {
        if (threads !== undefined) await session.reload(threads);
        // the other backends do not depend on the wasm pool: timed with the first count only
        for (const backend of k === 0 ? opts.backends ?? ['wasm', 'webgl', 'webgpu'] : ['wasm' as const]) {
          const reason = await session.useBackend(backend);
          if (reason !== undefined && backend === 'wasm') throw new Error(`measureInBrowser: the wasm backend did not start in ${session.browser}: ${reason}`);
          if (reason !== undefined) {
            run.unavailable.push({backend, reason});
            continue;
          }
          for (const id of ids) await session.load(id);
          const latency = models.map(() => [] as LatencyMeasurement[]);
          for (const b of batchSizes) (await session.time(ids, b, {runs, warmup})).forEach((l, i) => latency[i].push(l));
          const device = await session.device(backend);
          const used = backend === 'wasm' ? await session.threads() : null;
          latency.forEach((l, i) => run.measurements.push({browser: session.browser, backend, device, threads: used, model: i, latency: l}));
        }
      }
      return run;
    } finally {
      await session.close();
    }
  } finally {
    if (tmp !== undefined) await fs.rm(tmp, {recursive: true, force: true});
  }
}
