// @ts-check
/** What the notebook tooling shares: where things are, whether Jupyter and the tslab kernel are here, the library link. */
'use strict';
const {spawnSync} = require('child_process');
const fs = require('fs');
const path = require('path');

/** The package root (the folder of the package.json named group-fisher-pruning): a checkout, or node_modules/group-fisher-pruning. */
const root = path.resolve(__dirname, '..');
/** The notebooks folder of a checkout (the package does not ship it); its node_modules/group-fisher-pruning links back to the root. */
const notebooksDir = path.join(root, 'notebooks');
/** True in a repository checkout, false where the package was installed into a project. */
const isCheckout = fs.existsSync(notebooksDir);
/** The commands that set up and check the kernel, as the reader runs them here. */
const commands = isCheckout
  ? {install: 'npm ci', kernelInstall: 'npm run kernel:install', kernelCheck: 'npm run kernel:check'}
  : {install: 'npm install', kernelInstall: 'npx gfp-kernel-install', kernelCheck: 'npx gfp-kernel-check'};

/**
 * The tslab launcher in the node_modules/.bin beside the tslab this package resolves (the project's own, hoisted or
 * nested), registered as the kernel's command; root/node_modules/.bin/tslab when tslab is not installed.
 * @example fs.existsSync(tslabLauncher())
 */
function tslabLauncher() {
  try {
    const tslabDir = path.dirname(require.resolve('tslab/package.json', {paths: [root]}));
    return path.join(path.dirname(tslabDir), '.bin', 'tslab');
  } catch {
    return path.join(root, 'node_modules', '.bin', 'tslab');
  }
}
const tslabBin = tslabLauncher();

/** Debian packages that provide what the notebooks need (headless execution and HTML export). */
const aptPackages = ['jupyter-client', 'jupyter-nbconvert', 'python3-nbclient', 'python3-ipykernel'];
const installHint =
  `Jupyter (with nbconvert and nbclient) is not installed. On Debian/Ubuntu, as root:\n` +
  `  apt-get update && apt-get install -y ${aptPackages.join(' ')}\n` +
  `elsewhere: pip install jupyter_client nbconvert nbclient ipykernel. Then run: ${commands.kernelInstall}`;

// pydevd (imported by ipykernel on Python 3.11) prints a "frozen modules" warning on every start otherwise.
const env = {...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1'};

/**
 * Run a command, capturing its output as text.
 * @example run('jupyter', ['--version']).status === 0
 * @param {string} cmd @param {string[]} args @param {import('child_process').SpawnSyncOptions} [opts]
 */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {encoding: 'utf8', env, ...opts});
  return {status: r.error ? null : r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), error: r.error};
}

/**
 * The `jupyter` on PATH and the Python it runs on, when it can execute notebooks (nbconvert, nbclient); else null.
 * @example const j = findJupyter(); if (!j) console.error(installHint);
 * @returns {{jupyter: string, python: string} | null}
 */
function findJupyter() {
  const which = run('sh', ['-c', 'command -v jupyter']);
  const jupyter = which.stdout.trim();
  if (which.status !== 0 || !jupyter) return null;
  // the python of jupyter's shebang (PATH may put another python3 first, e.g. pyenv's)
  const shebang = fs.readFileSync(fs.realpathSync(jupyter), 'utf8').split('\n', 1)[0];
  const python = /^#!\s*(\S+python[\d.]*)\s*$/.test(shebang) ? shebang.replace(/^#!\s*/, '').trim() : 'python3';
  const modules = run(python, ['-c', 'import jupyter_client, nbconvert, nbclient, nbformat']);
  return modules.status === 0 ? {jupyter, python} : null;
}

/**
 * The registered `tslab` kernelspec ({argv, ...}) or null.
 * @example kernelSpec()?.argv[0] === tslabBin
 * @returns {{argv: string[], display_name: string, language: string} | null}
 */
function kernelSpec() {
  const r = run('jupyter', ['kernelspec', 'list', '--json']);
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout).kernelspecs?.tslab?.spec ?? null;
}

/**
 * Make `<dir>/node_modules/group-fisher-pruning` a link to the repository root (idempotent), so that notebooks in
 * `dir` import the library by its package name, as a user's notebook would.
 * @example linkLibrary(notebooksDir)
 * @param {string} dir
 */
function linkLibrary(dir) {
  const link = path.join(dir, 'node_modules', 'group-fisher-pruning');
  const target = path.relative(path.dirname(link), root);
  fs.mkdirSync(path.dirname(link), {recursive: true});
  const current = fs.lstatSync(link, {throwIfNoEntry: false});
  if (current?.isSymbolicLink() && fs.readlinkSync(link) === target) return link;
  if (current) fs.rmSync(link, {recursive: true, force: true});
  fs.symlinkSync(target, link, 'dir');
  return link;
}

/**
 * Throws, saying to build, when the library's CommonJS entry point is missing.
 * @example requireBuilt()
 */
function requireBuilt() {
  const main = path.join(root, 'dist', 'src', 'index.js');
  if (!fs.existsSync(main)) throw new Error(`${path.relative(root, main)} is missing: run \`npm run build\` first`);
}

/**
 * One line of progress on stderr.
 * @example say('kernel', 'registered')
 * @param {string} who @param {string} line
 */
function say(who, line) {
  process.stderr.write(`[${who}] ${line}\n`);
}

module.exports = {root, notebooksDir, isCheckout, commands, tslabBin, aptPackages, installHint, env, run, findJupyter, kernelSpec, linkLibrary, requireBuilt, say};
