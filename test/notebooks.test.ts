/**
 * Every notebooks/*.ipynb runs headless through Jupyter and the tslab kernel with GFP_SMOKE=1 and no cell errors;
 * its HTML export, opened in headless Chromium (when installed), draws every chart. Screenshots go to runs/notebooks/.
 */
import {execFile} from 'child_process';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'fs';
import {tmpdir} from 'os';
import {basename, join} from 'path';
import {promisify} from 'util';
import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {packageRoot} from '../src/data';

const run = promisify(execFile);
const root = packageRoot();
const notebooksDir = join(root, 'notebooks');
const chromium = '/usr/bin/chromium';
const env = {...process.env, GFP_SMOKE: '1', PYDEVD_DISABLE_FILE_VALIDATION: '1'};
const installHint = 'install Jupyter (Debian: apt-get install -y jupyter-client jupyter-nbconvert python3-nbclient python3-ipykernel; ' +
  '.ci/run does it), then run `npm run kernel:install`';

interface Output { output_type: string; ename?: string; evalue?: string }
interface Cell { cell_type: string; source: string | string[]; outputs?: Output[] }

const joined = (s: string | string[]): string => [s].flat().join('');

/** The registered kernelspecs, or a failure saying how to install Jupyter. */
async function kernelspecs(): Promise<Record<string, unknown>> {
  try {
    const {stdout} = await run('jupyter', ['kernelspec', 'list', '--json'], {env});
    return JSON.parse(stdout).kernelspecs;
  } catch (e) {
    assert.fail(`jupyter is not usable (${(e as Error).message.split('\n')[0]}): ${installHint}`);
  }
}

/** Each error output of the executed notebook with its cell's source, as text. */
function cellErrors(cells: Cell[]): string[] {
  return cells.flatMap((cell, i) => (cell.outputs ?? []).filter((o) => o.output_type === 'error')
    .map((o) => `cell ${i}:\n${joined(cell.source)}\n--- ${o.ename}: ${o.evalue}`));
}

const chromiumFlags = (profile: string): string[] => ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`, '--virtual-time-budget=30000'];

const notebooks = existsSync(notebooksDir) ? readdirSync(notebooksDir).filter((f) => f.endsWith('.ipynb')).sort() : [];

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
      // the config records a failed tslab cell as an error output (see kernel-setup/nbconvert_config.py)
      await run('jupyter', ['nbconvert', '--config', join(root, 'kernel-setup', 'nbconvert_config.py'), '--to', 'notebook', '--execute', '--allow-errors', '--ExecutePreprocessor.timeout=240',
        '--output-dir', dir, join(notebooksDir, file)], {env, maxBuffer: 1 << 26});
      const executed = join(dir, `${name}.ipynb`);
      const cells: Cell[] = JSON.parse(readFileSync(executed, 'utf8')).cells;
      assert.deepEqual(cellErrors(cells), [], 'no cell raised an error');

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
