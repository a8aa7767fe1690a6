/** The Chromium driver: find the browser, open the page on the static server, call the page runtime. */
import * as tf from '@tensorflow/tfjs';
import {existsSync} from 'fs';
import type {Browser, Page} from 'playwright-core';
import {checkInteger, LatencyMeasurement, summarize} from '../latency';
import {blankPage, pageAssets, Served, serveAssets} from './assets';
import type {BrowserBackend, PageApi} from './page_runtime';

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
