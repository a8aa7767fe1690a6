/**
 * Every notebooks/*.ipynb runs headless through Jupyter and the tslab kernel with GFP_SMOKE=1: every code cell runs,
 * with no error output and no error text on stderr; its HTML export, opened in headless Chromium (when installed),
 * draws every chart. Screenshots go to runs/notebooks/. A throwaway bad notebook shows the check catches each failure.
 */
import {execFile} from 'child_process';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'fs';
import {tmpdir} from 'os';
import {basename, join} from 'path';
import {promisify} from 'util';
import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {packageRoot} from '../src/data';
import {Cell, executeNotebook, notebookProblems, tslabNotebook} from './notebook_check';

const run = promisify(execFile);
const root = packageRoot();
const notebooksDir = join(root, 'notebooks');
const chromium = '/usr/bin/chromium';
const env = {...process.env, GFP_SMOKE: '1', PYDEVD_DISABLE_FILE_VALIDATION: '1'};
const installHint = 'install Jupyter (Debian: apt-get install -y jupyter-client jupyter-nbconvert python3-nbclient python3-ipykernel; ' +
  '.ci/run does it), then run `npm run kernel:install`';

/** The registered kernelspecs, or a failure saying how to install Jupyter. */
async function kernelspecs(): Promise<Record<string, unknown>> {
  try {
    const {stdout} = await run('jupyter', ['kernelspec', 'list', '--json'], {env});
    return JSON.parse(stdout).kernelspecs;
  } catch (e) {
    assert.fail(`jupyter is not usable (${(e as Error).message.split('\n')[0]}): ${installHint}`);
  }
}

const chromiumFlags = (profile: string): string[] => ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`, '--virtual-time-budget=30000'];

const notebooks = existsSync(notebooksDir) ? readdirSync(notebooksDir).filter((f) => f.endsWith('.ipynb')).sort() : [];

test('the check finds cells that did not run, raised, or wrote an error on stderr', () => {
  const cell = (source: string, extra: Partial<Cell>): Cell => ({cell_type: 'code', source, outputs: [], ...extra});
  const ran = {metadata: {execution: {'shell.execute_reply': '2026-12-06T00:00:00Z'}}};
  assert.deepEqual(notebookProblems([
    cell('a()', ran),
    cell('b()', {execution_count: 2, outputs: [{output_type: 'stream', name: 'stderr', text: ['training 1/2\r', 'training 2/2\n']}]}),
    {cell_type: 'markdown', source: '# text'},
    cell('   ', {}),
  ]), [], 'a clean notebook; progress on stderr is not an error; markdown and empty cells need not run');
  assert.deepEqual(notebookProblems([
    cell('never()', {}),
    cell('thrown()', {...ran, outputs: [{output_type: 'error', ename: 'Error', evalue: 'boom'}]}),
    cell('warned()', {...ran, outputs: [{output_type: 'stream', name: 'stderr', text: 'Error: no such file'}]}),
    cell('typed()', {...ran, outputs: [{output_type: 'stream', name: 'stderr', text: "2:5 - Type 'string' is not assignable"}]}),
  ]), [
    'cell 0 (never()) did not run',
    'cell 1 (thrown()) raised Error: boom',
    'cell 2 (warned()) wrote an error on stderr: Error: no such file',
    "cell 3 (typed()) wrote an error on stderr: 2:5 - Type 'string' is not assignable",
  ]);
});

test('a throwaway notebook with a compile error and an error on stderr fails the check; the cells after it are not silently empty', {timeout: 2 * 60_000}, async () => {
  const specs = await kernelspecs();
  assert.ok('tslab' in specs, `the tslab kernel is not registered with Jupyter: run \`npm run kernel:install\``);
  const dir = mkdtempSync(join(tmpdir(), 'gfp-bad-notebook-'));
  try {
    const notebook = join(dir, 'bad.ipynb');
    writeFileSync(notebook, tslabNotebook([
      "console.log('fine');",
      "console.error('Error: the data folder is missing');",
      "const n: number = 'three';",
      "console.log('after');",
    ]));
    const cells = await executeNotebook(notebook, join(dir, 'out'), env, 60);
    const problems = notebookProblems(cells);
    assert.equal(problems.filter((p) => p.startsWith('cell 0 ')).length, 0, problems.join('\n'));
    assert.ok(problems.includes("cell 1 (console.error('Error: the data folder is missing');) wrote an error on stderr: Error: the data folder is missing"), problems.join('\n'));
    assert.ok(problems.some((p) => /^cell 2 .* raised CellError: \d+:\d+ - Type 'string' is not assignable to type 'number'/.test(p)), problems.join('\n'));
    // tslab aborts what was queued behind a failed cell: the config records it, or it ran
    const after = cells[3].outputs ?? [];
    assert.ok(problems.some((p) => /^cell 3 .* raised CellNotRun/.test(p)) || after.some((o) => o.name === 'stdout'), JSON.stringify(after));
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('there are notebooks to run', () => {
  assert.ok(notebooks.includes('00_tour.ipynb'), `notebooks/00_tour.ipynb is missing (found: ${notebooks.join(', ') || 'none'})`);
});

for (const file of notebooks) {
  test(`notebooks/${file} executes with GFP_SMOKE=1 and draws its charts`, {timeout: 5 * 60_000}, async () => {
    const specs = await kernelspecs();
    assert.ok('tslab' in specs, `the tslab kernel is not registered with Jupyter: run \`npm run kernel:install\``);
    assert.ok(existsSync(join(notebooksDir, 'node_modules', 'group-fisher-pruning', 'package.json')),
      'notebooks/node_modules/group-fisher-pruning is missing: run `npm run kernel:install`');
    const name = basename(file, '.ipynb');
    const dir = mkdtempSync(join(tmpdir(), 'gfp-notebook-'));
    try {
      // the kernel starts in notebooks/ (the input's folder), where the library link is
      const cells = await executeNotebook(join(notebooksDir, file), dir, env);
      assert.deepEqual(notebookProblems(cells), [], 'every cell ran, with no error');
      const executed = join(dir, `${name}.ipynb`);

      await run('jupyter', ['nbconvert', '--to', 'html', '--output-dir', dir, executed], {env, maxBuffer: 1 << 26});
      const html = join(dir, `${name}.html`);
      const charts = (readFileSync(html, 'utf8').match(/<div id="gfp-plot-[0-9a-f]+"/g) ?? []).length;
      if (!existsSync(chromium)) {
        console.log(`# ${chromium} not found: the ${charts} charts of ${file} were not rendered (.ci/run installs chromium)`);
        return;
      }
      const {stdout: dom} = await run(chromium, [...chromiumFlags(join(dir, 'profile-dom')), '--dump-dom', `file://${html}`], {maxBuffer: 1 << 28});
      // one segment per chart container: from its id to the next chart's; a drawn Plotly chart holds <svg class="main-svg">
      const drawn = dom.split(/<div id="gfp-plot-[0-9a-f]+"/).slice(1);
      assert.equal(drawn.length, charts, 'Chromium sees every chart container');
      drawn.forEach((segment, i) => assert.ok(segment.includes('class="main-svg"'), `chart ${i + 1} of ${charts} in ${file} drew no SVG`));

      const shots = join(root, 'runs', 'notebooks');
      mkdirSync(shots, {recursive: true});
      const png = join(shots, `${name}.png`);
      await run(chromium, [...chromiumFlags(join(dir, 'profile-shot')), '--window-size=1280,9000', `--screenshot=${png}`, `file://${html}`]);
      assert.ok(existsSync(png), `screenshot ${png} was written`);
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });
}
