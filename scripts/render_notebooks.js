#!/usr/bin/env node
// @ts-check
/**
 * `npm run notebooks:render` (after the build): execute notebooks/*.ipynb through Jupyter and the tslab kernel and
 * write executed copies to notebooks/executed/, readable where JavaScript does not run (GitHub, nbviewer):
 * - every chart output also carries a PNG of the chart (Plotly's own export, in headless Chromium) as `image/png`,
 *   and its HTML shows that PNG until a live Jupyter draws the chart (the chart's div and loader stay);
 * - the 11 MB plotly.js bundle that show() embeds once per kernel is dropped (a live Jupyter loads it from its server);
 * - a first markdown cell says it is a copy, of which notebook, in which mode, when and where.
 * A notebook whose cells fail leaves its copy as it was. Progress goes to stderr.
 *
 *   node scripts/render_notebooks.js [NAME ...]    e.g. 00_tour (default: every notebook)
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const {spawnSync} = require('child_process');
const {PNG} = require('pngjs');
const {env, findJupyter, installHint, kernelSpec, linkLibrary, notebooksDir, requireBuilt, root, say} = require('../kernel-setup/jupyter');

/** @typedef {'smoke' | 'full'} Mode */
/** @typedef {{output_type: string, name?: string, text?: string | string[], data?: Record<string, string | string[]>, metadata?: Record<string, unknown>}} Output */
/** @typedef {{cell_type: string, id?: string, source: string | string[], metadata: object, outputs?: Output[]}} Cell */
/** @typedef {{cells: Cell[], metadata: object}} Notebook */

/**
 * Notebooks whose full run takes under ~10 minutes on a busy 2-core machine (00: 8, 01 and 02: 1); the others run in
 * smoke mode. 05's full run (3 min) killed the tslab kernel in 2 of 3 runs (EBUSY in its ZeroMQ send after the pruning cell).
 */
/** @type {Record<string, Mode>} */
const modeOf = {'00_tour': 'full', '01_grouping': 'full', '02_fisher': 'full'};

/** What each mode means, for the copy's first cell. */
/** @type {Record<Mode, string>} */
const modeText = {
  smoke: '**smoke mode** (`GFP_SMOKE=1`: a few hundred images and a few steps, so its numbers show that every cell works, ' +
    'not what the method achieves; run the notebook itself for those)',
  full: '**full mode** (the sizes the notebook uses without `GFP_SMOKE`)',
};

const executedDir = path.join(notebooksDir, 'executed');
const chartWidth = 960;
/** The start of the plotly.js bundle: a text/html output holding it is the bundle that show() embeds. */
const bundleStart = fs.readFileSync(require.resolve('plotly.js-dist'), 'utf8').slice(0, 40);

const joined = (/** @type {string | string[] | undefined} */ s) => [s ?? ''].flat().join('');

/** @param {string} file @param {string} text */
function writeAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * Execute `notebook` with run_notebook.py into a temporary folder; the executed notebook, or an Error saying why not.
 * @param {string} python @param {string} notebook @param {Mode} mode
 * @returns {Notebook | Error}
 */
function execute(python, notebook, mode) {
  const name = path.basename(notebook, '.ipynb');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-render-'));
  try {
    const {GFP_SMOKE, ...rest} = env;
    const r = spawnSync(python, [path.join(root, 'kernel-setup', 'run_notebook.py'), notebook, dir, '1800'],
      {stdio: ['ignore', 'inherit', 'inherit'], env: mode === 'smoke' ? {...rest, GFP_SMOKE: '1'} : rest});
    if (r.status !== 0) return new Error(`notebooks/${name}.ipynb did not run cleanly (exit ${r.status ?? r.error?.message}; its error is above)`);
    return JSON.parse(fs.readFileSync(path.join(dir, `${name}.ipynb`), 'utf8'));
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

/**
 * Draw each chart's HTML (a figureDiv: a div and its script) in one headless Chromium page holding plotly.js and
 * export it with Plotly.toImage; base64 PNGs, in order.
 * @param {string[]} charts
 * @returns {Promise<string[]>}
 */
async function chartPngs(charts) {
  const {findChromium} = require('../dist/src');
  const {chromium} = require('playwright-core');
  const browser = await chromium.launch({executablePath: findChromium(), headless: true, args: ['--no-sandbox', '--disable-gpu']});
  try {
    const page = await browser.newPage();
    await page.setContent(`<body style="margin:0"><div id="host" style="width:${chartWidth}px"></div></body>`);
    await page.addScriptTag({path: require.resolve('plotly.js-dist')});
    const pngs = [];
    for (const html of charts) {
      const url = await page.evaluate(async (html) => {
        const host = /** @type {HTMLElement} */ (document.getElementById('host'));
        host.innerHTML = html;
        // scripts set through innerHTML do not run: replace each with a fresh element
        for (const old of host.querySelectorAll('script')) {
          const s = document.createElement('script');
          s.textContent = old.textContent;
          old.replaceWith(s);
        }
        const el = /** @type {HTMLElement & {_fullLayout?: {width: number, height: number}}} */ (host.querySelector('.gfp-plot'));
        for (const start = Date.now(); !el._fullLayout || !el.querySelector('.main-svg'); await new Promise((r) => setTimeout(r, 50))) {
          if (Date.now() - start > 30_000) throw new Error(`the chart did not draw in 30 s: ${el.textContent}`);
        }
        const {width, height} = el._fullLayout;
        return /** @type {{toImage: Function}} */ (/** @type {any} */ (window).Plotly).toImage(el, {format: 'png', width, height, scale: 1});
      }, html);
      // re-encoded as RGB on white with the strongest deflate: about 30% smaller than Chromium's RGBA
      const png = PNG.sync.read(Buffer.from(url.replace(/^data:image\/png;base64,/, ''), 'base64'));
      pngs.push(PNG.sync.write(png, {colorType: 2, bgColor: {red: 255, green: 255, blue: 255}, deflateLevel: 9}).toString('base64'));
    }
    return pngs;
  } finally {
    await browser.close();
  }
}

/**
 * The chart's HTML followed by its PNG, which shows where the chart does not draw (no JavaScript, or no plotly.js);
 * the style hides the PNG once the chart drew and the loader's message when it could not.
 * @param {string} html @param {string} png
 */
const withStaticImage = (html, png) => `${html}\n<img class="gfp-static" alt="the chart, as a static image" style="max-width:100%" ` +
  `src="data:image/png;base64,${png}">\n<style>.gfp-plot:has(.main-svg) ~ .gfp-static{display:none}` +
  `.gfp-plot:not(:has(.plot-container)){font-size:0}</style>`;

/**
 * The executed copy: the plotly.js bundle dropped, a PNG beside every chart, a first cell saying what this is.
 * @param {Notebook} nb @param {string} name @param {Mode} mode @param {string} backend
 * @returns {Promise<Notebook>}
 */
async function executedCopy(nb, name, mode, backend) {
  const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
  const html = (/** @type {Output} */ o) => joined(o.data?.['text/html']);
  const charts = outputs.filter((o) => html(o).includes('class="gfp-plot"'));
  const pngs = await chartPngs(charts.map(html));
  charts.forEach((o, i) => {
    o.data = {...o.data, 'text/html': withStaticImage(html(o), pngs[i]), 'image/png': pngs[i]};
  });
  for (const cell of nb.cells) {
    if (!cell.outputs) continue;
    /** @type {Output[]} */
    const kept = [];
    for (const o of cell.outputs.filter((o) => !html(o).includes(bundleStart))) {
      const last = kept[kept.length - 1];
      if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name) last.text = joined(last.text) + joined(o.text);
      else kept.push(o);
    }
    // one stream output per run of them, with progress lines overwritten in place reduced to what a terminal shows
    // (the text after the last \r), as nbconvert's coalesce_streams does
    for (const o of kept) if (o.output_type === 'stream') o.text = joined(o.text).replace(/[^\n]*\r(?=[^\n])/g, '');
    cell.outputs = kept;
  }
  const cpu = os.cpus();
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const header = `> **Executed copy** of [\`notebooks/${name}.ipynb\`](../${name}.ipynb), made by \`npm run notebooks:render\` ` +
    `on ${when} UTC in ${modeText[mode]}, on the ${backend} backend (tfjs ${require('@tensorflow/tfjs').version_core}, ` +
    `Node ${process.version}, ${cpu.length} CPU cores: ${cpu[0]?.model.trim()}, ${os.platform()} ${os.arch()}).\n` +
    `> Charts are static images here; in Jupyter they draw live. Edit and run the source notebook, not this copy.`;
  return {...nb, cells: [{cell_type: 'markdown', id: 'executed-copy', metadata: {}, source: header}, ...nb.cells]};
}

async function main() {
  requireBuilt();
  const jupyter = findJupyter();
  if (!jupyter) throw new Error(installHint);
  if (!kernelSpec()) throw new Error('the tslab kernel is not registered with Jupyter: run `npm run kernel:install`');
  linkLibrary(notebooksDir);
  const all = fs.readdirSync(notebooksDir).filter((f) => f.endsWith('.ipynb')).map((f) => path.basename(f, '.ipynb')).sort();
  const names = process.argv.slice(2).map((a) => path.basename(a, '.ipynb'));
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length) throw new Error(`no notebooks/${unknown[0]}.ipynb; notebooks: ${all.join(', ')}`);
  // the backend the notebooks' useBackend('auto') picks on this machine
  const backend = await require('../dist/src').useBackend('auto');
  fs.mkdirSync(executedDir, {recursive: true});
  const failed = [];
  for (const name of names.length ? names : all) {
    const mode = modeOf[name] ?? 'smoke';
    const start = Date.now();
    say('render', `notebooks/${name}.ipynb in ${mode} mode`);
    const nb = execute(jupyter.python, path.join(notebooksDir, `${name}.ipynb`), mode);
    if (nb instanceof Error) {
      say('render', nb.message);
      failed.push(name);
      continue;
    }
    const file = path.join(executedDir, `${name}.ipynb`);
    writeAtomic(file, `${JSON.stringify(await executedCopy(nb, name, mode, backend), null, 1)}\n`);
    say('render', `${path.relative(root, file)}: ${(fs.statSync(file).size / 1024).toFixed(0)} KiB, ${((Date.now() - start) / 1000).toFixed(0)} s`);
  }
  if (failed.length) throw new Error(`not rendered (their copies are unchanged): ${failed.join(', ')}`);
}

if (require.main === module) {
  main().catch((e) => {
    say('render', e.message);
    process.exit(1);
  });
}
module.exports = {executedCopy};
