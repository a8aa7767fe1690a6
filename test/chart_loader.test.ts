/**
 * Chart outputs in a page without plotly.js (a reloaded notebook, a second tab): the loader in each output fetches
 * plotly.js once from the Jupyter server's /files/ route, found from the page (classic Notebook's body data,
 * JupyterLab's config JSON and URL), and draws; without a server it says what to do. A small HTTP server plays Jupyter.
 */
import assert from 'node:assert/strict';
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import * as http from 'node:http';
import type {AddressInfo} from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {after, before, test} from 'node:test';
import type {Browser} from 'playwright-core';
import {findChromium} from '../src/measure/browser';
import {Figure, figureDiv, plotlySources, show} from '../src/viz';

const plotlyFile = require.resolve('plotly.js-dist');
const fig = (title: string): Figure => ({data: [{type: 'bar', x: ['a', 'b'], y: [1, 2]}], layout: {title: {text: title}}});
const classicPage = (body: string) => `<!doctype html><html><head></head>` +
  `<body data-base-url="/base/" data-notebook-path="my%20work/tour.ipynb">${body}</body></html>`;
const labPage = (body: string) => `<!doctype html><html><head>` +
  `<script id="jupyter-config-data" type="application/json">{"baseUrl": "/base/"}</script></head><body>${body}</body></html>`;

let browser: Browser;
let server: http.Server;
let origin: string;
const pages: Record<string, string> = {};
const requests: string[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/base/files/my%20work/node_modules/plotly.js-dist/plotly.js') {
      res.writeHead(200, {'content-type': 'application/javascript'}).end(readFileSync(plotlyFile));
    } else if (req.url !== undefined && req.url in pages) {
      res.writeHead(200, {'content-type': 'text/html'}).end(pages[req.url]);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const {chromium} = await import('playwright-core');
  browser = await chromium.launch({executablePath: findChromium(), headless: true, args: ['--no-sandbox', '--disable-gpu']});
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** Opens `url` and returns, per chart container, whether it holds a drawn Plotly SVG or else its text. */
async function charts(url: string): Promise<(true | string)[]> {
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}${url}`);
    await page.waitForFunction(() => Array.from(document.querySelectorAll('.gfp-plot'))
      .every((el) => el.querySelector('svg.main-svg') || el.textContent), undefined, {timeout: 30_000});
    return await page.$$eval('.gfp-plot', (els) => els.map((el) => el.querySelector('svg.main-svg') ? true : el.textContent ?? ''));
  } finally {
    await page.close();
  }
}

const sources = ['node_modules/group-fisher-pruning/node_modules/plotly.js-dist/plotly.js', 'node_modules/plotly.js-dist/plotly.js'];

test('classic Notebook page without plotly.js: charts load it once from <base>files/<notebook folder>/, trying each source', async () => {
  pages['/base/notebooks/my%20work/tour.ipynb'] = classicPage(figureDiv(fig('one'), {sources}) + figureDiv(fig('two'), {sources}));
  requests.length = 0;
  assert.deepEqual(await charts('/base/notebooks/my%20work/tour.ipynb'), [true, true]);
  assert.deepEqual(requests.filter((r) => r.includes('/files/')), [
    '/base/files/my%20work/node_modules/group-fisher-pruning/node_modules/plotly.js-dist/plotly.js', // 404: the next source
    '/base/files/my%20work/node_modules/plotly.js-dist/plotly.js',
  ]);
});

test('JupyterLab page: the base URL from #jupyter-config-data, the folder from /lab/tree/<path>', async () => {
  pages['/base/lab/tree/my%20work/tour.ipynb'] = labPage(figureDiv(fig('lab'), {sources}));
  assert.deepEqual(await charts('/base/lab/tree/my%20work/tour.ipynb'), [true]);
});

test('a page that is no notebook server, or a server without the file, shows why and what to do', async () => {
  pages['/plain.html'] = `<!doctype html><body>${figureDiv(fig('plain'), {sources})}</body>`;
  const [plain] = await charts('/plain.html');
  assert.match(String(plain), /^plotly\.js is not loaded in this page .*\(tried: no notebook server page\): call show\(fig, \{embed: true\}\)$/);
  pages['/base/notebooks/elsewhere/x.ipynb'] = classicPage(figureDiv(fig('x'), {sources: ['missing.js']})).replace('my%20work/tour.ipynb', 'elsewhere/x.ipynb');
  const [missing] = await charts('/base/notebooks/elsewhere/x.ipynb');
  assert.match(String(missing), /could not load \/base\/files\/elsewhere\/missing\.js: call show\(fig, \{embed: true\}\)$/);
});

test('plotlySources lists the plotly.js-dist files under the notebook folder, nested install first; show() passes them', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gfp-loader-'));
  const cwd = process.cwd();
  try {
    assert.deepEqual(plotlySources(dir), []);
    for (const p of [...sources].reverse()) {
      mkdirSync(path.join(dir, path.dirname(p)), {recursive: true});
      writeFileSync(path.join(dir, p), '');
    }
    assert.deepEqual(plotlySources(dir), sources);
    rmSync(path.join(dir, 'node_modules', 'group-fisher-pruning'), {recursive: true});
    symlinkSync(path.dirname(path.dirname(path.dirname(plotlyFile))), path.join(dir, 'node_modules', 'group-fisher-pruning'));
    process.chdir(dir);
    const out: string[] = [];
    show(fig('cwd'), {display: {html: (s) => out.push(s)}});
    assert.equal(out.length, 2, 'the embed, then the chart');
    assert.ok(out[1].includes(`(${JSON.stringify(sources)})`), 'the chart carries the sources found from the kernel folder');
  } finally {
    process.chdir(cwd);
    rmSync(dir, {recursive: true, force: true});
  }
});
