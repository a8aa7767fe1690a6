import {randomBytes} from 'crypto';
import {readFileSync} from 'fs';

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

/**
 * A <div> and the <script> that draws `fig` into it with the page's window.Plotly.
 * @example html.push(figureDiv(pruningCurve(rows)));
 */
export function figureDiv(fig: Figure): string {
  const id = `gfp-plot-${randomBytes(6).toString('hex')}`;
  return `<div id="${id}" class="gfp-plot"></div>\n<script>(function () {\n` +
    `  var el = document.getElementById(${JSON.stringify(id)});\n` +
    `  if (!window.Plotly) { el.textContent = 'plotly.js is not loaded in this page: call show(fig, {embed: true})'; return; }\n` +
    `  Plotly.newPlot(el, ${scriptJson(fig.data)}, ${scriptJson(fig.layout)}, {responsive: true});\n})();</script>`;
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
 * Draw a figure in a tslab notebook: plotly.js is embedded once per kernel, then one <div> per figure.
 * @example show(importanceHistogram(p.normalize('memory')));
 */
export function show(fig: Figure, opts: ShowOptions = {}): void {
  const sink = opts.display ?? tslabDisplay();
  if (opts.embed || !embedded.has(sink)) {
    sink.html(plotlyScript());
    embedded.add(sink);
  }
  sink.html(figureDiv(fig));
}

/**
 * A standalone HTML page: plotly.js inlined once, then every figure (no network needed to view it).
 * @example await fs.writeFile('runs/tour/report.html', figureHtml([curve, hist], 'resnet20 pruned'));
 */
export function figureHtml(figs: Figure[], title: string): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>\n${plotlyScript()}\n` +
    `<style>body{font-family:sans-serif;margin:2em}.gfp-plot{margin-bottom:2em}</style></head>\n` +
    `<body><h1>${escapeHtml(title)}</h1>\n${figs.map(figureDiv).join('\n')}\n</body></html>\n`;
}
