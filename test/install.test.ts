/**
 * The package as a user gets it: packed by `npm pack`, installed from the tarball into fresh folders outside the
 * repository (the npm registry and its cache are all it may reach), the kernel set up from there with the package's
 * own `gfp-kernel-install`, and a notebook run through Jupyter and that folder's tslab.
 * - A user's own folder holding only group-fisher-pruning: danfojs-node (an optional peer) stays out, since its
 *   dependencies (xlsx from a CDN, tfjs-node downloading libtensorflow) fail without our overrides.
 * - A copy of notebooks/: its package.json declares every package the notebooks import, with the overrides.
 */
import {execFile} from 'child_process';
import {cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'fs';
import {rm} from 'fs/promises';
import {isBuiltin} from 'module';
import {tmpdir} from 'os';
import {join} from 'path';
import {promisify} from 'util';
import {after, describe, test} from 'node:test';
import * as assert from 'node:assert/strict';
import {packageRoot} from '../src/data';

const exec = promisify(execFile);
const root = packageRoot();
const notebooksDir = join(root, 'notebooks');
const installHint = 'install Jupyter (Debian: apt-get install -y jupyter-client jupyter-nbconvert python3-nbclient python3-ipykernel; .ci/run does it)';

// a user's shell: none of the npm_* variables that `npm test` sets
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

interface Cell { cell_type: string; source: string | string[]; outputs?: {output_type: string; text?: string | string[]; ename?: string; evalue?: string}[] }
const joined = (s: string | string[] | undefined): string => [s ?? ''].flat().join('');

/** Run a command; on failure, fail the test with its exit status and the end of its output. */
async function run(cmd: string, args: string[], opts: {cwd: string; env?: NodeJS.ProcessEnv}): Promise<{stdout: string; seconds: number}> {
  const t0 = Date.now();
  try {
    const {stdout} = await exec(cmd, args, {env: userEnv, maxBuffer: 1 << 26, ...opts});
    return {stdout, seconds: (Date.now() - t0) / 1000};
  } catch (e) {
    const err = e as {code?: number; stdout?: string; stderr?: string};
    assert.fail(`\`${cmd} ${args.join(' ')}\` in ${opts.cwd} failed (exit ${err.code}):\n${`${err.stdout ?? ''}${err.stderr ?? ''}`.slice(-3000)}`);
  }
}

const packDir = mkdtempSync(join(tmpdir(), 'gfp-pack-'));
after(() => rmSync(packDir, {recursive: true, force: true}));
let packed: Promise<string> | undefined;
/** The tarball `npm pack` makes of the built package (once per file). */
function tarball(): Promise<string> {
  packed ??= run('npm', ['pack', '--json', '--pack-destination', packDir, root], {cwd: packDir}).then(({stdout}) => join(packDir, JSON.parse(stdout)[0].filename));
  return packed;
}

/** `npm install <tarball>` in `dir` (a package.json is there), then the kernel set-up from there into dir/jupyter. */
async function installInto(dir: string): Promise<{env: NodeJS.ProcessEnv; seconds: number; setupSeconds: number}> {
  const {seconds} = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', await tarball()], {cwd: dir});
  // the kernelspec goes under dir/jupyter, found through JUPYTER_PATH: the machine's own registration stays as it is
  const env = {...userEnv, PYDEVD_DISABLE_FILE_VALIDATION: '1', JUPYTER_PATH: [join(dir, 'jupyter', 'share', 'jupyter'), userEnv.JUPYTER_PATH].filter(Boolean).join(':')};
  const setup = await run(join(dir, 'node_modules', '.bin', 'gfp-kernel-install'), [`--prefix=${join(dir, 'jupyter')}`], {cwd: dir, env});
  const spec = JSON.parse(readFileSync(join(dir, 'jupyter', 'share', 'jupyter', 'kernels', 'tslab', 'kernel.json'), 'utf8'));
  assert.equal(spec.argv[0], join(dir, 'node_modules', '.bin', 'tslab'), `the kernel runs the folder's own tslab\n${setup.stdout}`);
  return {env, seconds, setupSeconds: setup.seconds};
}

/** Execute a one-cell TypeScript notebook in `dir` with the tslab kernel; the JSON line it printed. */
async function runCell(dir: string, env: NodeJS.ProcessEnv, source: string): Promise<{got: Record<string, unknown>; seconds: number}> {
  const notebook = {nbformat: 4, nbformat_minor: 5, metadata: {kernelspec: {name: 'tslab', display_name: 'TypeScript', language: 'typescript'}},
    cells: [{cell_type: 'code', id: 'user', metadata: {}, execution_count: null, outputs: [], source}]};
  writeFileSync(join(dir, 'user.ipynb'), JSON.stringify(notebook));
  // errors allowed so that the executed notebook is written: a failed cell (thrown, or a tslab compile error on stderr) prints no JSON line
  const {seconds} = await run('jupyter', ['nbconvert', '--to', 'notebook', '--execute', '--allow-errors', '--ExecutePreprocessor.timeout=180', '--output', 'executed', 'user.ipynb'], {cwd: dir, env});
  const cells: Cell[] = JSON.parse(readFileSync(join(dir, 'executed.ipynb'), 'utf8')).cells;
  const outputs = cells[0].outputs ?? [];
  const text = outputs.map((o) => (o.output_type === 'error' ? `${o.ename}: ${o.evalue}\n` : joined(o.text))).join('');
  const line = text.split('\n').find((l) => l.startsWith('{'));
  assert.ok(line && !outputs.some((o) => o.output_type === 'error'), `the cell ran and printed its JSON line; its output:\n${text}`);
  return {got: JSON.parse(line), seconds};
}

async function jupyterOk(): Promise<void> {
  await exec('jupyter', ['nbconvert', '--version'], {env: userEnv}).catch((e: Error) => assert.fail(`jupyter nbconvert is not usable (${e.message.split('\n')[0]}): ${installHint}`));
}

// Imports the package and tfjs by name; runs a small prune on the shipped data; shows what report tables say without danfo.
const userCell = `import * as gfp from 'group-fisher-pruning';
import * as tf from '@tensorflow/tfjs';
const backend = await gfp.useBackend('auto');
const tensors = tf.memory().numTensors;
const {test} = await gfp.data.fashionMnist({limit: {test: 64}});
const model = gfp.models.resnet({depth: 8, inputShape: [28, 28, 1], classes: 10});
const p = gfp.pruner(model);
const spaces = p.group().length;
await p.score(test.batches(32), {steps: 2});
p.normalize('memory');
const pruned = p.prune({units: 1}).length;
let danfoError = '';
try { gfp.report.layerTable(gfp.countCosts(model)); } catch (e) { danfoError = (e as Error).message; }
p.dispose();
model.dispose();
console.log(JSON.stringify({version: gfp.version, backend, tfBackend: tf.getBackend(), spaces, pruned, leaked: tf.memory().numTensors - tensors, danfoError}));`;

/** The packages that notebooks/*.ipynb import (builtins left out): '@scope/name' or 'name'. */
function notebookImports(): string[] {
  const names = readdirSync(notebooksDir).filter((f) => f.endsWith('.ipynb')).flatMap((f) => {
    const cells: Cell[] = JSON.parse(readFileSync(join(notebooksDir, f), 'utf8')).cells;
    const code = cells.filter((c) => c.cell_type === 'code').map((c) => joined(c.source)).join('\n');
    return [...code.matchAll(/(?:\bfrom\s+|\brequire\(|\bimport\()\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
  });
  return [...new Set(names.filter((n) => !isBuiltin(n) && !n.startsWith('.')).map((n) => n.split('/').slice(0, n.startsWith('@') ? 2 : 1).join('/')))].sort();
}

// the two folders install and run side by side (npm's cache is safe to share)
describe('the packed package in folders of its own', {concurrency: true}, () => {
  test('npm install of the packed package into a fresh folder, the kernel set up from there: a notebook importing it and tfjs runs', {timeout: 10 * 60_000}, async () => {
    await jupyterOk();
    const dir = mkdtempSync(join(tmpdir(), 'gfp-user-'));
    try {
      writeFileSync(join(dir, 'package.json'), JSON.stringify({name: 'my-experiments', private: true}, null, 2));
      const {env, seconds, setupSeconds} = await installInto(dir);
      for (const absent of ['danfojs-node', 'xlsx', '@tensorflow/tfjs-node']) {
        assert.ok(!existsSync(join(dir, 'node_modules', absent)), `${absent} is not installed into a user's folder`);
      }
      const {got, seconds: cellSeconds} = await runCell(dir, env, userCell);
      console.log(`# a user's folder: npm install ${seconds.toFixed(1)} s, kernel set-up ${setupSeconds.toFixed(1)} s, notebook ${cellSeconds.toFixed(1)} s`);
      const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
      assert.equal(got.version, version);
      assert.equal(got.tfBackend, got.backend, "the notebook's tfjs is the library's: it sees the backend the library started");
      assert.ok((got.spaces as number) > 0 && got.pruned === 1, `grouped and pruned one unit: ${JSON.stringify(got)}`);
      assert.equal(got.leaked, 0, 'no tensor leaked');
      assert.match(got.danfoError as string, /need danfojs-node, which is not installed.*"overrides"/, 'report tables say what to add without danfo');
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  test('notebooks/package.json declares every package the notebooks import; a copy of the folder installs them with the packed package and imports them', {timeout: 10 * 60_000}, async () => {
    const manifest = JSON.parse(readFileSync(join(notebooksDir, 'package.json'), 'utf8'));
    const imports = notebookImports();
    assert.ok(imports.includes('group-fisher-pruning') && imports.includes('@tensorflow/tfjs'), `found the notebooks' imports: ${imports.join(', ')}`);
    assert.deepEqual(imports.filter((n) => !(n in manifest.dependencies)), [], 'every imported package is a dependency in notebooks/package.json');

    await jupyterOk();
    const dir = mkdtempSync(join(tmpdir(), 'gfp-notebooks-'));
    try {
      cpSync(notebooksDir, dir, {recursive: true, filter: (src) => !src.includes('node_modules')});
      const {env, seconds, setupSeconds} = await installInto(dir);
      // every package the notebooks import, imported by name in one cell; danfo also through the library's report tables
      const names = imports.map((n, i) => [n, `m${i}`]);
      const danfo = names.find(([n]) => n === 'danfojs-node')?.[1];
      const cell = [
        ...names.map(([n, v]) => `import * as ${v} from '${n}';`),
        `const gfp = ${names.find(([n]) => n === 'group-fisher-pruning')![1]};`,
        "await gfp.useBackend('auto');",
        "const table = gfp.report.layerTable(gfp.countCosts(gfp.models.resnet({depth: 8, inputShape: [28, 28, 1], classes: 10})));",
        `console.log(JSON.stringify({loaded: [${names.map(([, v]) => `Object.keys(${v}).length > 0`).join(', ')}], rows: table.shape[0], ` +
          `danfoFrame: ${danfo ? `table instanceof ${danfo}.DataFrame` : 'null'}}));`,
      ].join('\n');
      const {got, seconds: cellSeconds} = await runCell(dir, env, cell);
      console.log(`# a copy of notebooks/: npm install ${seconds.toFixed(1)} s, kernel set-up ${setupSeconds.toFixed(1)} s, notebook ${cellSeconds.toFixed(1)} s`);
      assert.deepEqual(got.loaded, imports.map(() => true), `every package loaded: ${imports.join(', ')}`);
      assert.ok((got.rows as number) > 0, 'the layer table has rows');
      if (danfo) assert.equal(got.danfoFrame, true, "the library's tables are the notebook's danfo DataFrames");
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});
