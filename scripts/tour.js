#!/usr/bin/env node
// @ts-check
/**
 * `npm run tour` (after the build): execute notebooks/00_tour.ipynb. With Jupyter and the tslab kernel: the executed
 * notebook and its HTML go to runs/tour/. Without them (or with --node): the same cells run in this process through
 * tslab's own compiler, and runs/tour/report.html holds the prose, outputs and charts. Progress goes to stderr.
 *
 *   node scripts/tour.js [--node] [--notebook PATH] [--out DIR]
 */
'use strict';
const fs = require('fs');
const path = require('path');
const util = require('util');
const {env, findJupyter, installHint, kernelSpec, linkLibrary, notebooksDir, requireBuilt, root, run, say} = require('../kernel-setup/jupyter');

/** @typedef {{cell_type: string, source: string | string[]}} Cell */
/** @typedef {{kind: 'stdout' | 'stderr' | 'html', text: string}} Output */

/** @param {string} name @param {string} fallback */
function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** @param {Cell} cell */
const sourceOf = (cell) => [cell.source].flat().join('');

/** @param {string} s */
const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => /** @type {Record<string, string>} */ ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'})[c]);

/**
 * The markdown the notebooks use (headings, paragraphs, "- " lists, `code`, **bold**, *italic*) as HTML.
 * @param {string} md
 */
function markdown(md) {
  const inline = (/** @type {string} */ s) => escapeHtml(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>').replace(/\*([^*]+)\*/g, '<i>$1</i>');
  return md.split(/\n\s*\n/).map((block) => {
    const heading = /^(#{1,4})\s+(.*)$/s.exec(block);
    if (heading) return `<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`;
    if (/^- /.test(block)) return `<ul>${block.split(/\n(?=- )/).map((item) => `<li>${inline(item.slice(2))}</li>`).join('')}</ul>`;
    return `<p>${inline(block)}</p>`;
  }).join('\n');
}

/**
 * Run the notebook's code cells in order with tslab's executor (same TypeScript check and cell semantics as the
 * kernel), capturing console output and display.html() per cell.
 * @param {Cell[]} cells @param {string} dir the notebook's folder
 * @returns {Promise<{outputs: Output[][], failed: number}>} failed: index of the failing cell, or -1
 */
async function runCells(cells, dir) {
  // tslab resolves modules and type-checks from the current folder, like the kernel started in the notebook's folder
  process.chdir(dir);
  const {createConverter} = require('tslab/dist/converter');
  const {createExecutor} = require('tslab/dist/executor');
  const tslabJupyter = require('tslab/dist/jupyter');
  const converter = createConverter({isJS: false, isBrowser: false});
  const writes = {stdout: process.stdout.write, stderr: process.stderr.write};
  /** @type {Output[]} */
  let current = [];
  // record in the current cell's outputs; echo text to the real stderr as progress
  const emit = (/** @type {Output['kind']} */ kind, /** @type {string} */ text) => {
    const last = current[current.length - 1];
    if (last?.kind === kind && kind !== 'html') last.text += text;
    else current.push({kind, text});
    if (kind !== 'html') writes.stderr.call(process.stderr, text);
  };
  // what tslab's display.html() calls in the kernel
  tslabJupyter.lastWriteDisplayData = (/** @type {{data: Record<string, string | Uint8Array>}} */ msg) => {
    const html = msg.data['text/html'];
    if (typeof html === 'string') emit('html', html);
    else emit('stdout', `[display: ${Object.keys(msg.data).join(', ')}]\n`);
  };
  const executor = createExecutor(dir, {node: converter, browser: converter, close: () => converter.close()}, {
    log: (/** @type {unknown[]} */ ...a) => emit('stdout', `${util.format(...a)}\n`),
    error: (/** @type {unknown[]} */ ...a) => emit('stderr', `${util.format(...a)}\n`),
  });
  const code = cells.flatMap((c, i) => (c.cell_type === 'code' ? [i] : []));
  /** @type {Output[][]} */
  const outputs = cells.map(() => []);
  let failed = -1;
  try {
    for (const [n, i] of code.entries()) {
      const src = sourceOf(cells[i]);
      say('tour', `cell ${n + 1}/${code.length}: ${(src.split('\n').find((l) => l.trim() && !l.startsWith('//')) ?? '').slice(0, 90)}`);
      current = outputs[i];
      // the cell's own console.log / process.stdout go to its outputs (and to stderr, as progress)
      process.stdout.write = /** @type {any} */ ((/** @type {string | Uint8Array} */ s) => (emit('stdout', String(s)), true));
      process.stderr.write = /** @type {any} */ ((/** @type {string | Uint8Array} */ s) => (emit('stderr', String(s)), true));
      let ok = false;
      try {
        ok = await executor.execute(src);
      } finally {
        Object.assign(process.stdout, {write: writes.stdout});
        Object.assign(process.stderr, {write: writes.stderr});
      }
      if (!ok) {
        failed = i;
        break;
      }
    }
  } finally {
    executor.close();
  }
  return {outputs, failed};
}

/**
 * The report page: prose, code and outputs in notebook order (plotly.js comes with the first chart's output).
 * @param {string} title @param {Cell[]} cells @param {Output[][]} outputs @param {number} failed
 */
function reportHtml(title, cells, outputs, failed) {
  const body = cells.map((cell, i) => {
    if (cell.cell_type === 'markdown') return `<section class="md">${markdown(sourceOf(cell))}</section>`;
    if (cell.cell_type !== 'code') return '';
    const outs = outputs[i].map((o) => (o.kind === 'html' ? `<div class="html">${o.text}</div>` : `<pre class="${o.kind}">${escapeHtml(o.text)}</pre>`));
    return `<section class="code${i === failed ? ' failed' : ''}"><pre class="src">${escapeHtml(sourceOf(cell))}</pre>\n${outs.join('\n')}</section>`;
  });
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>\n<style>` +
    'body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}pre{padding:.5em;overflow-x:auto;margin:.3em 0}' +
    '.src{background:#f5f5f5;border-left:3px solid #999}.stderr{background:#fff4f4}.failed .src{border-left-color:#d00}.md code{background:#f0f0f0}' +
    `</style></head>\n<body>\n${body.join('\n')}\n</body></html>\n`;
}

async function main() {
  const notebook = path.resolve(option('--notebook', path.join(notebooksDir, '00_tour.ipynb')));
  const out = path.resolve(option('--out', path.join(root, 'runs', 'tour')));
  requireBuilt();
  // the notebook's folder must see the library by its package name (the kernel starts there)
  linkLibrary(path.dirname(notebook));
  fs.mkdirSync(out, {recursive: true});
  const t0 = Date.now();
  const jupyter = process.argv.includes('--node') ? null : findJupyter();
  const kernel = jupyter ? kernelSpec() : null;
  if (jupyter && kernel) {
    say('tour', `executing ${path.relative(root, notebook)} with Jupyter and the tslab kernel${process.env.GFP_SMOKE === '1' ? ' (GFP_SMOKE=1)' : ''}`);
    const r = run(jupyter.python, [path.join(root, 'kernel-setup', 'run_notebook.py'), notebook, out], {stdio: 'inherit', env});
    const name = path.basename(notebook, '.ipynb');
    say('tour', `${r.status === 0 ? 'done' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(0)} s: ` +
      `${path.relative(root, path.join(out, `${name}.ipynb`))}, ${path.relative(root, path.join(out, `${name}.html`))}`);
    return r.status === 0 ? 0 : 1;
  }
  if (!process.argv.includes('--node')) {
    say('tour', jupyter ? 'the tslab kernel is not registered (npm run kernel:install)' : installHint);
    say('tour', 'running the notebook\'s cells in Node.js instead');
  }
  /** @type {{cells: Cell[]}} */
  const nb = JSON.parse(fs.readFileSync(notebook, 'utf8'));
  const {outputs, failed} = await runCells(nb.cells, path.dirname(notebook));
  const title = sourceOf(nb.cells.find((c) => c.cell_type === 'markdown') ?? {cell_type: '', source: 'Tour'}).split('\n')[0].replace(/^#+\s*/, '');
  const report = path.join(out, 'report.html');
  fs.writeFileSync(report, reportHtml(title, nb.cells, outputs, failed));
  const codeCells = nb.cells.filter((c) => c.cell_type === 'code');
  const at = `cell ${codeCells.indexOf(nb.cells[failed]) + 1}/${codeCells.length}`;
  say('tour', `${failed < 0 ? 'done' : `FAILED at ${at}`} in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${path.relative(root, report)}`);
  return failed < 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  say('tour', String(e?.stack ?? e));
  process.exit(1);
});
