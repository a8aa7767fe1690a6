import {randomBytes} from 'crypto';
import {existsSync, readFileSync} from 'fs';
import {join} from 'path';

/** One Plotly trace as plain JSON (the fields the charts here set; Plotly accepts more). */
export interface Trace {
  type: string;
  name?: string;
  x?: (number | string | null)[];
  y?: (number | string | null)[];
  text?: string[];
  [key: string]: unknown;
}

/** A Plotly figure as plain JSON: what `Plotly.newPlot(div, data, layout)` takes. */
export interface Figure { data: Trace[]; layout: Record<string, unknown> }

/** Where show() writes HTML: tslab's `display`, or anything with an html() method. */
export interface HtmlSink { html(s: string): void }

/** Options of show(). */
export interface ShowOptions {
  /** Defaults to `require('tslab').display`. */
  display?: HtmlSink;
  /** Embed plotly.js again (e.g. after clearing the outputs without restarting the kernel). */
  embed?: boolean;
}

/**
 * HTML-escape text for element content and attribute values.
 * @example escapeHtml('<b>') // '&lt;b&gt;'
 */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] as string);

// JSON that is safe inside <script>: no "</script>" or "<!--" can appear.
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

let bundle: string | undefined;

/**
 * The plotly.js bundle of the plotly.js-dist package (11 MB, read once per process), as a <script> element.
 * @example const tag = plotlyScript(); tag.startsWith('<script>');
 */
export function plotlyScript(): string {
  bundle ??= readFileSync(require.resolve('plotly.js-dist'), 'utf8').replace(/<\/script/gi, '<\\/script');
  return `<script>${bundle}</script>`;
}

/** Options of figureDiv(). */
export interface FigureDivOptions {
  /**
   * Where a page without window.Plotly (reloaded, a second tab) may fetch plotly.js: paths relative to the
   * notebook's folder, tried in order through the Jupyter server's own /files/ route. Default none.
   */
  sources?: string[];
}

/**
 * Runs in the page (sent as source text): window.gfpPlotly, a promise of window.Plotly shared by the page's charts.
 * It adds a <script> for each source in turn (relative to the notebook's folder, under the server's /files/ route)
 * until one defines window.Plotly. The folder comes from the page: classic Notebook's <body data-base-url
 * data-notebook-path>, JupyterLab's and Notebook 7's #jupyter-config-data baseUrl and the document path in the URL.
 */
function loadPlotly(sources: string[]): Promise<unknown> {
  const w = window as unknown as {Plotly?: unknown; gfpPlotly?: Promise<unknown>};
  if (w.gfpPlotly) return w.gfpPlotly;
  const folder = (): {base: string; dir: string} | null => {
    const body = document.body.dataset;
    const config = document.getElementById('jupyter-config-data');
    const route = /\/(?:lab(?:\/workspaces\/[^/]+)?\/tree|doc(?:\/workspaces\/[^/]+)?\/tree|notebooks)\/(.+)$/.exec(location.pathname);
    const parent = (p: string) => p.split('/').slice(0, -1).join('/');
    if (body.baseUrl !== undefined && body.notebookPath !== undefined) return {base: decodeURIComponent(body.baseUrl), dir: parent(decodeURIComponent(body.notebookPath))};
    if (config && route) return {base: JSON.parse(config.textContent || '{}').baseUrl || '/', dir: parent(decodeURIComponent(route[1]))};
    return null;
  };
  const where = folder();
  const urls = where === null ? [] : sources.map((s) => where.base.replace(/\/?$/, '/') + 'files/' +
    (where.dir ? `${where.dir}/${s}` : s).split('/').map(encodeURIComponent).join('/'));
  const attempt = (i: number): Promise<unknown> => i >= urls.length
    ? Promise.reject(new Error(`plotly.js is not loaded in this page and the Jupyter server did not serve it (tried: ${urls.join(', ') || 'no notebook server page'})`))
    : new Promise((resolve, reject) => {
      const tag = document.createElement('script');
      tag.src = urls[i];
      tag.onload = () => (w.Plotly ? resolve(w.Plotly) : reject(new Error(`${urls[i]} did not define Plotly`)));
      tag.onerror = () => reject(new Error(`could not load ${urls[i]}`));
      document.head.appendChild(tag);
    }).catch((e: Error) => (i + 1 < urls.length ? attempt(i + 1) : Promise.reject(e)));
  w.gfpPlotly = attempt(0);
  w.gfpPlotly.catch(() => delete w.gfpPlotly); // a later chart tries again
  return w.gfpPlotly;
}

/**
 * A <div> and the <script> that draws `fig` into it with the page's window.Plotly; with `sources`, a page without it
 * first loads plotly.js from the Jupyter server (see FigureDivOptions).
 * @example html.push(figureDiv(pruningCurve(rows)));
 */
export function figureDiv(fig: Figure, opts: FigureDivOptions = {}): string {
  const id = `gfp-plot-${randomBytes(6).toString('hex')}`;
  return `<div id="${id}" class="gfp-plot"></div>\n<script>(function () {\n` +
    `  var el = document.getElementById(${JSON.stringify(id)});\n` +
    `  var draw = function () { Plotly.newPlot(el, ${scriptJson(fig.data)}, ${scriptJson(fig.layout)}, {responsive: true}); };\n` +
    `  if (window.Plotly) return draw();\n` +
    `  (${loadPlotly.toString()})(${scriptJson(opts.sources ?? [])}).then(draw, function (e) {\n` +
    `    el.textContent = e.message + ': call show(fig, {embed: true})';\n  });\n})();</script>`;
}

// Pages (display sinks) that already hold plotly.js; tslab's display object lives as long as the kernel.
const embedded = new WeakSet<HtmlSink>();

/**
 * tslab's `display` of the running notebook kernel; throws, saying what to do instead, outside one.
 * @example tslabDisplay().html('<b>pruned</b>');
 */
export function tslabDisplay(): HtmlSink {
  try {
    return (require('tslab') as {display: HtmlSink}).display;
  } catch (e) {
    throw new Error(`show() needs the tslab kernel (require('tslab') failed: ${(e as Error).message}); outside a notebook pass {display: {html: (s) => ...}} or use figureHtml()`);
  }
}

/**
 * Where plotly.js-dist lies under `folder` (the notebook's, which is the kernel's working directory), as paths
 * relative to it: the library's own copy when npm nested it, else the hoisted one.
 * @example plotlySources(process.cwd()) // ['node_modules/plotly.js-dist/plotly.js']
 */
export function plotlySources(folder: string): string[] {
  return ['node_modules/group-fisher-pruning/node_modules/plotly.js-dist/plotly.js', 'node_modules/plotly.js-dist/plotly.js']
    .filter((p) => existsSync(join(folder, p)));
}

/**
 * Draw a figure in a tslab notebook: plotly.js is embedded once per kernel (so that exported HTML draws offline),
 * then one <div> per figure whose script fetches plotly.js from the Jupyter server when the page lacks it
 * (after a reload, in a second tab).
 * @example show(importanceHistogram(p.normalize('memory')));
 */
export function show(fig: Figure, opts: ShowOptions = {}): void {
  const sink = opts.display ?? tslabDisplay();
  if (opts.embed || !embedded.has(sink)) {
    sink.html(plotlyScript());
    embedded.add(sink);
  }
  sink.html(figureDiv(fig, {sources: plotlySources(process.cwd())}));
}

/**
 * A standalone HTML page: plotly.js inlined once, then every figure (no network needed to view it).
 * @example await fs.writeFile('runs/tour/report.html', figureHtml([curve, hist], 'resnet20 pruned'));
 */
export function figureHtml(figs: Figure[], title: string): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>\n${plotlyScript()}\n` +
    `<style>body{font-family:sans-serif;margin:2em}.gfp-plot{margin-bottom:2em}</style></head>\n` +
    `<body><h1>${escapeHtml(title)}</h1>\n${figs.map((f) => figureDiv(f)).join('\n')}\n</body></html>\n`;
}
