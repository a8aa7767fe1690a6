/**
 * `gfp demo`: one static page that runs a pruned model and its baseline side by side in the
 * browser on shipped Fashion-MNIST test images, with their latencies measured live.
 */
import * as tf from '@tensorflow/tfjs';
import {promises as fs} from 'fs';
import * as path from 'path';
import {fashionMnist} from '../data';
import {Assets, BrowserBackend, PageApi, pageAssets, pageScripts, serveAssets} from '../measure/browser';
import {countCosts} from '../measure';
import {loadModel} from '../train';
import {writeFilesAtomic} from '../train/checkpoint';
import {claimOut} from '../train/out_dir';

/** Options of `demo`. */
export interface DemoOptions {
  /** Baseline model directory or model.json, shown beside the pruned one. */
  baseline?: string;
  /** Write the page and its assets to this folder (refused when it holds files, unless `overwrite`). */
  out?: string;
  /** Write into an `out` that already holds files (same names are replaced). */
  overwrite?: boolean;
  /** Serve the page on 127.0.0.1. */
  serve?: boolean;
  /** Port to serve on (default 0: any free port). */
  port?: number;
  /** Test images shown and classified (default 32). */
  images?: number;
}

/** A written and/or served demo. */
export interface DemoSite {
  /** Folder holding index.html, when written. */
  out?: string;
  /** URL of the page, when served. */
  url?: string;
  /** Stop serving (no-op when only written). */
  close(): Promise<void>;
}

/** What the page script reads from index.html. */
interface DemoConfig {
  models: {id: string; label: string; macs: number; params: number}[];
  /** uint8 pixels [N, H, W, C], base64. */
  images: string;
  shape: [number, number, number];
  labels: number[];
  classNames: string[];
  backends: BrowserBackend[];
}

/** What the page exposes as `globalThis.gfpDemo` (read by tests, shown on screen). */
export interface DemoState {
  ready: boolean;
  backend: string;
  error?: string;
  models: Record<string, {accuracy: number; predicted: number[]; medianMs: Record<number, number>}>;
}

/**
 * The page script. Runs in the browser as source text (after lib/runtime.js), so it uses only
 * the page's globals: `gfp` (PageApi), the DOM and the config in <script id="config">.
 */
function demoPage(): void {
  const g = globalThis as unknown as {gfp: PageApi; gfpDemo: DemoState};
  const cfg = JSON.parse(document.getElementById('config')!.textContent!) as DemoConfig;
  const [h, w, c] = cfg.shape;
  const bytes = Uint8Array.from(atob(cfg.images), (ch) => ch.charCodeAt(0)); // [N, H, W, C]
  const n = cfg.labels.length;
  const state: DemoState = {ready: false, backend: '', models: {}};
  g.gfpDemo = state;
  const el = (tag: string, text = '', cls = ''): HTMLElement => Object.assign(document.createElement(tag), {textContent: text, className: cls});
  const status = document.getElementById('status')!;

  // one tile per image: the picture, its label, each model's guess
  const grid = document.getElementById('images')!;
  const guesses: HTMLElement[][] = [];
  for (let i = 0; i < n; i++) {
    const tile = el('div', '', 'tile');
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const img = canvas.getContext('2d')!.createImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      const v = bytes[(i * h * w + p) * c]; // first channel
      img.data.set([v, v, v, 255], p * 4);
    }
    canvas.getContext('2d')!.putImageData(img, 0, 0);
    tile.append(canvas, el('div', cfg.classNames[cfg.labels[i]], 'truth'));
    guesses.push(cfg.models.map(() => tile.appendChild(el('div', '…', 'guess'))));
    grid.append(tile);
  }

  // one card per model: costs, accuracy on the shown images, live latency
  const cards = document.getElementById('models')!;
  const fields = cfg.models.map((m) => {
    const card = el('div', '', 'card');
    const acc = el('div', 'accuracy …');
    const lat = el('div', 'latency …', 'latency');
    card.append(el('h2', m.label), el('div', `${(m.macs / 1e6).toFixed(2)} M MACs · ${(m.params / 1e3).toFixed(1)} k params`), acc, lat);
    cards.append(card);
    return {acc, lat};
  });

  const batchSizes = [1, n];
  const recent: Record<string, Record<number, number[]>> = {};
  const median = (v: number[]): number => {
    const s = [...v].sort((a, b) => a - b);
    return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
  };
  const flat = Array.from(bytes, (v) => v / 255);
  let generation = 0; // bumps on backend change; stale timing loops stop

  async function start(backend: BrowserBackend): Promise<void> {
    const mine = ++generation;
    state.ready = false;
    status.textContent = `starting ${backend}…`;
    const failed = await g.gfp.setBackend(backend);
    if (failed !== null) {
      state.error = `${backend}: ${failed}`;
      status.textContent = `${backend} is not available here: ${failed}`;
      return;
    }
    state.backend = backend;
    for (const [k, m] of cfg.models.entries()) {
      await g.gfp.load(m.id, `models/${m.id}/model.json`);
      const {data, shape} = await g.gfp.predict(m.id, flat, [n, h, w, c]);
      const classes = shape[1];
      const predicted = cfg.labels.map((_, i) => {
        const row = data.slice(i * classes, (i + 1) * classes);
        return row.indexOf(Math.max(...row));
      });
      predicted.forEach((p, i) => {
        guesses[i][k].textContent = `${m.label}: ${cfg.classNames[p]}`;
        guesses[i][k].className = `guess ${p === cfg.labels[i] ? 'right' : 'wrong'}`;
      });
      const accuracy = predicted.filter((p, i) => p === cfg.labels[i]).length / n;
      fields[k].acc.textContent = `accuracy on these ${n} images: ${(100 * accuracy).toFixed(1)}%`;
      state.models[m.id] = {accuracy, predicted, medianMs: {}};
      recent[m.id] = Object.fromEntries(batchSizes.map((b) => [b, []]));
      await g.gfp.time([m.id], 1, 0, 2); // warm-up
    }
    status.textContent = `backend ${backend}: timing…`;
    state.ready = true;
    // round-robin over models and batch sizes, one timed pass each; medians of the last 15
    for (let i = 0; mine === generation; i++) {
      const k = i % cfg.models.length;
      const b = batchSizes[Math.floor(i / cfg.models.length) % batchSizes.length];
      const id = cfg.models[k].id;
      const [[ms]] = await g.gfp.time([id], b, 1, 0);
      if (mine !== generation) break;
      const times = recent[id][b];
      times.push(ms);
      if (times.length > 15) times.shift();
      state.models[id].medianMs[b] = median(times);
      fields[k].lat.textContent = batchSizes.map((s) => `batch ${s}: ${state.models[id].medianMs[s]?.toFixed(1) ?? '…'} ms`).join(' · ');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const select = document.getElementById('backend') as HTMLSelectElement;
  for (const b of cfg.backends) select.append(Object.assign(document.createElement('option'), {value: b, textContent: b}));
  select.onchange = () => void start(select.value as BrowserBackend).catch((e: Error) => (status.textContent = state.error = e.message));
  void start(cfg.backends[0]).catch((e: Error) => (status.textContent = state.error = e.message));
}

const style = `body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
#models{display:flex;gap:1em;margin:1em 0}.card{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;min-width:18em}
.card h2{margin:.2em 0;font-size:1.1em}.latency{font-weight:600;margin-top:.4em}
#images{display:flex;flex-wrap:wrap;gap:.5em}.tile{width:7.5em;font-size:11px;text-align:center}
.tile canvas{width:56px;height:56px;image-rendering:pixelated}.truth{font-weight:600}.right{color:#15803d}.wrong{color:#b91c1c}`;

/** index.html: the libraries, the config (with the images) and the page script. */
function indexHtml(cfg: DemoConfig): string {
  const json = JSON.stringify(cfg).replace(/</g, '\\u003c');
  return `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>gfp demo: pruned vs baseline</title><style>${style}</style></head>
<body><h1>Group Fisher Pruning: pruned vs baseline in your browser</h1>
<label>tfjs backend <select id="backend"></select></label> <span id="status">loading…</span>
<div id="models"></div><div id="images"></div>
<script id="config" type="application/json">${json}</script>
${pageScripts.map((s) => `<script src="${s}"></script>`).join('\n')}
<script>(${demoPage.toString()})();</script>
</body></html>
`;
}

/** Config of the models: label, MACs and params counted in Node; checks the input shape. */
async function describeModels(models: Record<string, string>, shape: [number, number, number]): Promise<DemoConfig['models']> {
  const out: DemoConfig['models'] = [];
  for (const [id, spec] of Object.entries(models)) {
    const model = await loadModel(spec);
    try {
      const input = model.inputs[0].shape.slice(1);
      if (input.join(',') !== shape.join(',')) {
        throw new Error(`gfp demo: model ${spec} takes inputs [${input.join(', ')}], but the demo images are Fashion-MNIST [${shape.join(', ')}]`);
      }
      const {macs, params} = countCosts(model);
      out.push({id, label: id, macs, params});
    } finally {
      model.dispose();
    }
  }
  return out;
}

/** The first `count` Fashion-MNIST test images as uint8 pixels, base64, with their labels. */
async function testImages(count: number): Promise<Pick<DemoConfig, 'images' | 'shape' | 'labels' | 'classNames'>> {
  const {test} = await fashionMnist({limit: {train: 1, test: count}});
  if (test.normalization !== undefined) throw new Error('gfp demo: expected un-normalised Fashion-MNIST pixels in [0, 1]');
  const {xs, ys, labels} = test.batches(count).next().value!; // xs [N, 28, 28, 1] = pixels / 255
  try {
    const pixels = Uint8Array.from(await xs.data(), (v) => Math.round(v * 255));
    return {images: Buffer.from(pixels).toString('base64'), shape: test.shape, labels: Array.from(labels), classNames: test.classNames ?? []};
  } finally {
    tf.dispose([xs, ys]);
  }
}

/** Write every asset under `dir`, each file atomically. */
async function writeAssets(dir: string, assets: Assets): Promise<void> {
  for (const [rel, asset] of Object.entries(assets)) {
    const target = path.join(dir, rel);
    await writeFilesAtomic(path.dirname(target), [[path.basename(target), 'text' in asset ? asset.text : await fs.readFile(asset.file)]]);
  }
}

/**
 * Build the demo page for the pruned model in `dir` (and `opts.baseline`), then write it to `opts.out` and/or serve it.
 * @example const site = await demo('runs/p', {baseline: 'runs/r20', serve: true}); console.log(site.url);
 */
export async function demo(dir: string, opts: DemoOptions = {}): Promise<DemoSite> {
  if (!opts.out && !opts.serve) throw new Error('gfp demo: give --out <dir> to write the page, --serve to serve it, or both');
  const count = opts.images ?? 32;
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new Error(`gfp demo: --images must be an integer in 1..1000, got ${count}`);
  const models: Record<string, string> = {...(opts.baseline ? {baseline: opts.baseline} : {}), pruned: dir}; // shown left to right
  const assets = pageAssets(models); // checks the model files first
  const release = opts.out ? await claimOut(opts.out, {overwrite: opts.overwrite, models: Object.values(models), resumable: false}) : undefined;
  try {
    const images = await testImages(count);
    const cfg: DemoConfig = {models: await describeModels(models, images.shape), ...images, backends: ['wasm', 'webgl', 'webgpu']};
    assets['index.html'] = {text: indexHtml(cfg)};
    if (opts.out) await writeAssets(opts.out, assets);
  } finally {
    release?.();
  }
  const served = opts.serve ? await serveAssets(assets, opts.port ?? 0) : undefined;
  return {out: opts.out, url: served?.url, close: async () => served?.close()};
}

/**
 * Body of `gfp demo DIR`: writes and/or serves the page, prints where; when serving, runs until Ctrl-C.
 * @example await demoCommand('runs/p', {baseline: 'runs/r20', serve: true});
 */
export async function demoCommand(dir: string, opts: DemoOptions): Promise<void> {
  const site = await demo(dir, opts);
  if (site.out) process.stdout.write(`wrote ${path.join(site.out, 'index.html')} (serve the folder over http; file:// cannot load the wasm backend)\n`);
  if (site.url === undefined) return;
  process.stdout.write(`serving the demo at ${site.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  await site.close();
}
