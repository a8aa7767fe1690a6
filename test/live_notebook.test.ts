/**
 * The tour, live, as a person runs it: Jupyter Notebook (classic, Debian's jupyter-notebook) on 127.0.0.1 with a
 * token, driven in headless Chromium with playwright-core, with every request off that server refused (no network).
 * Run All with GFP_SMOKE=1: every code cell runs, no errors, every chart draws. Then reload the page (plotly.js is
 * gone from it) and re-run a chart cell: it draws again. Screenshots go to runs/live/.
 */
import assert from 'node:assert/strict';
import {ChildProcess, spawn, spawnSync} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import {join} from 'node:path';
import {test} from 'node:test';
import type {Page} from 'playwright-core';
import {packageRoot} from '../src/data';
import {findChromium} from '../src/measure/browser';
import {Cell, joined, notebookProblems} from './notebook_check';

const root = packageRoot();
const shots = join(root, 'runs', 'live');
const notebook = '00_tour.ipynb';
const installHint = 'the live test needs Jupyter Notebook: apt-get install -y jupyter-notebook (.ci/run and kernel-setup/system.js do it)';

/** The parts of classic Notebook's page API the test uses (window.Jupyter). */
interface ClassicCell { cell_type: string; input_prompt_number: number | string | null | undefined; get_text(): string }
interface Classic {
  notebook: {
    _fully_loaded: boolean;
    kernel: {is_connected(): boolean; info_reply?: unknown} | null;
    get_cells(): ClassicCell[];
    execute_all_cells(): void;
    execute_cells(indices: number[]): void;
    set_autosave_interval(ms: number): void;
    set_dirty(dirty: boolean): void;
    toJSON(): {cells: Cell[]};
  };
}
/** The page's window with classic Notebook's API (a type only: page functions run in the browser). */
type W = {Jupyter: Classic};

/** A TCP port free on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `ready` every 250 ms until it is true; throws `what` (and `log()`) after `ms` or when `ready` throws. */
async function waitFor(what: string, ms: number, ready: () => Promise<boolean>, log = () => ''): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
    const done = await ready().catch((e: Error) => new Error(`${what}: ${e.message}\n${log()}`));
    if (done instanceof Error) throw done;
    if (done) return;
  }
  throw new Error(`${what} (waited ${ms / 1000} s)\n${log()}`);
}

/** Waits until no code cell is queued or running and the kernel is idle. */
async function waitIdle(page: Page, ms: number): Promise<void> {
  await page.waitForFunction(() => (window as unknown as W).Jupyter.notebook.get_cells().every((c) => c.input_prompt_number !== '*') &&
    document.getElementById('kernel_indicator_icon')?.classList.contains('kernel_idle_icon'), undefined, {timeout: ms, polling: 500});
}

/** Waits until every chart container in `scope` holds a Plotly SVG or a message; returns, per chart, true or the message. */
async function charts(page: Page, scope = '#notebook'): Promise<(true | string)[]> {
  await page.waitForFunction((sel) => Array.from(document.querySelectorAll(`${sel} .gfp-plot`))
    .every((el) => el.querySelector('svg.main-svg') || el.textContent), scope, {timeout: 60_000, polling: 250});
  return page.$$eval(`${scope} .gfp-plot`, (els) => els.map((el) => el.querySelector('svg.main-svg') ? true : el.textContent ?? ''));
}

/** Screenshots of each chart of the page, runs/live/<name>-<i>.png. */
async function shoot(page: Page, name: string, scope = '#notebook'): Promise<void> {
  const els = await page.$$(`${scope} .gfp-plot`);
  for (const [i, el] of els.entries()) await el.screenshot({path: join(shots, `${name}-${i + 1}.png`)});
}

test(`live: Jupyter Notebook runs notebooks/${notebook} in Chromium, draws every chart, and draws again after a reload`, {timeout: 10 * 60_000}, async () => {
  assert.equal(spawnSync('jupyter', ['notebook', '--version'], {encoding: 'utf8'}).status, 0, installHint);
  mkdirSync(shots, {recursive: true});
  const jupyterDirs = mkdtempSync(join(os.tmpdir(), 'gfp-live-jupyter-'));
  // the notebook's folder sits inside the repository, so that its imports resolve as in notebooks/ (through the
  // repository's node_modules) while the page's autosave writes only to this copy
  const work = mkdtempSync(join(root, 'runs', 'live-work-'));
  let server: ChildProcess | undefined;
  let log = '';
  let browser: import('playwright-core').Browser | undefined;
  const [port, token] = [await freePort(), randomBytes(16).toString('hex')];
  const base = `http://127.0.0.1:${port}`;
  try {
    copyFileSync(join(root, 'notebooks', notebook), join(work, notebook));
    mkdirSync(join(work, 'node_modules'));
    symlinkSync(root, join(work, 'node_modules', 'group-fisher-pruning'), 'dir');
    // this project's tslab as the 'tslab' kernel, registered only for this server
    mkdirSync(join(jupyterDirs, 'path', 'kernels', 'tslab'), {recursive: true});
    writeFileSync(join(jupyterDirs, 'path', 'kernels', 'tslab', 'kernel.json'), JSON.stringify({
      argv: [join(root, 'node_modules', '.bin', 'tslab'), 'kernel', '--config-path', '{connection_file}'],
      display_name: 'TypeScript', language: 'typescript'}));
    const env = {...process.env, GFP_SMOKE: '1', PYDEVD_DISABLE_FILE_VALIDATION: '1', JUPYTER_PATH: join(jupyterDirs, 'path'),
      JUPYTER_CONFIG_DIR: join(jupyterDirs, 'config'), JUPYTER_DATA_DIR: join(jupyterDirs, 'data'), JUPYTER_RUNTIME_DIR: join(jupyterDirs, 'runtime')};
    server = spawn('jupyter', ['notebook', '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0',
      `--NotebookApp.token=${token}`, `--notebook-dir=${work}`, ...(process.getuid?.() === 0 ? ['--allow-root'] : [])], {env, detached: true, stdio: ['ignore', 'pipe', 'pipe']});
    server.stdout?.on('data', (d) => (log += d));
    server.stderr?.on('data', (d) => (log += d));
    await waitFor(`Jupyter Notebook did not answer on ${base}`, 60_000, async () => {
      if (server?.exitCode !== null) throw new Error(`jupyter notebook exited (${server?.exitCode})`);
      return fetch(`${base}/api/status?token=${token}`).then((r) => r.ok, () => false);
    }, () => log);

    const {chromium} = await import('playwright-core');
    browser = await chromium.launch({executablePath: findChromium(), headless: true, args: ['--no-sandbox', '--disable-gpu']});
    const context = await browser.newContext({viewport: {width: 1280, height: 1000}});
    const refused: string[] = [];
    await context.route('**/*', (route) => new URL(route.request().url()).host === `127.0.0.1:${port}`
      ? route.continue() : (refused.push(route.request().url()), route.abort()));
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const open = async () => {
      await page.goto(`${base}/notebooks/${notebook}?token=${token}`);
      await page.waitForFunction(() => {
        const nb = (window as unknown as W).Jupyter?.notebook;
        return nb?._fully_loaded && nb.kernel?.is_connected() && nb.kernel.info_reply !== undefined;
      }, undefined, {timeout: 120_000, polling: 250});
      // nothing is saved: the reloaded page gets the notebook without outputs, so without plotly.js
      await page.evaluate(() => (window as unknown as W).Jupyter.notebook.set_autosave_interval(0));
    };
    await open();

    await page.evaluate(() => (window as unknown as W).Jupyter.notebook.execute_all_cells());
    await waitIdle(page, 6 * 60_000);
    const cells = (await page.evaluate(() => (window as unknown as W).Jupyter.notebook.toJSON().cells));
    assert.deepEqual(notebookProblems(cells), [], 'every code cell ran, with no error');
    // progress and summaries are output, not pink error boxes; a progress line is rewritten in place, not repeated
    const streams = cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'stream');
    assert.deepEqual(streams.filter((o) => o.name === 'stderr').map((o) => joined(o.text)), [], 'nothing on stderr');
    const states = joined(streams.map((o) => joined(o.text))).split('\n').map((l) => /^(.+) \d+\/\d+ \(/.exec(l)?.[1]).filter(Boolean);
    assert.ok(states.length > 0, 'the tour shows progress');
    assert.deepEqual(states, [...new Set(states)], 'one line per phase');
    const expected = cells.flatMap((c) => c.outputs ?? []).filter((o) => joined((o as {data?: Record<string, string[]>}).data?.['text/html']).includes('class="gfp-plot"')).length;
    assert.ok(expected > 0, 'the tour draws charts');
    const drawn = await charts(page);
    await shoot(page, 'tour');
    // the whole notebook: classic Notebook scrolls inside #site, so the window grows to its height for the shot
    const height = await page.evaluate(() => (document.getElementById('notebook')?.scrollHeight ?? 0) + 200);
    await page.setViewportSize({width: 1280, height: Math.min(height, 16_000)});
    await page.screenshot({path: join(shots, 'tour-notebook.png')});
    await page.setViewportSize({width: 1280, height: 1000});
    assert.deepEqual(drawn, Array(expected).fill(true), 'every chart drew an SVG');

    // reload while the kernel runs: the page forgets plotly.js; a re-run chart cell fetches it from the server
    await page.evaluate(() => (window as unknown as W).Jupyter.notebook.set_dirty(false));
    await open();
    assert.equal(await page.evaluate(() => 'Plotly' in window), false, 'the reloaded page has no plotly.js');
    const index = (await page.evaluate(() => (window as unknown as W).Jupyter.notebook.get_cells().map((c) => c.get_text())))
      .findIndex((text) => text.includes('viz.show('));
    assert.ok(index >= 0, 'a cell that draws a chart');
    await page.evaluate((i) => (window as unknown as W).Jupyter.notebook.execute_cells([i]), index);
    await waitIdle(page, 120_000);
    const rerun = (await page.evaluate(() => (window as unknown as W).Jupyter.notebook.toJSON().cells))[index];
    assert.deepEqual(notebookProblems([rerun]), [], 'the re-run cell ran, with no error');
    const scope = `.cell:nth-child(${index + 1})`;
    const again = await charts(page, scope);
    await shoot(page, 'tour-after-reload', scope);
    assert.ok(again.length > 0 && again.every((c) => c === true), `the re-run chart cell drew after the reload: ${JSON.stringify(again)}`);
    assert.deepEqual(pageErrors, [], 'no script error in the page');
    console.log(`# ${expected} charts drawn; after the reload, cell ${index} drew ${again.length}; requests refused (no network): ${refused.length}`);
  } finally {
    await browser?.close();
    if (server?.pid !== undefined && server.exitCode === null) {
      // shut the kernels down through the server, then the server (its own process group)
      const kernels = await fetch(`${base}/api/kernels?token=${token}`).then((r) => r.json() as Promise<{id: string}[]>).catch(() => []);
      await Promise.all(kernels.map((k) => fetch(`${base}/api/kernels/${k.id}?token=${token}`, {method: 'DELETE'}).catch(() => undefined)));
      const gone = new Promise<void>((resolve) => server?.once('exit', () => resolve()));
      process.kill(-server.pid, 'SIGTERM');
      const timer = setTimeout(() => server?.pid !== undefined && process.kill(-server.pid, 'SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(work, {recursive: true, force: true});
    rmSync(jupyterDirs, {recursive: true, force: true});
  }
});
