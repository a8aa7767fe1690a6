#!/usr/bin/env node
// @ts-check
/** `npm run kernel:check` (`npx gfp-kernel-check` where the package is installed): execute a one-cell TypeScript notebook through Jupyter and the tslab kernel, and check its output. */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const {commands, findJupyter, installHint, kernelSpec, linkLibrary, requireBuilt, root, run, say} = require('./jupyter');

// Imports the library by its package name, type-checked by tslab, and prints what the check compares.
const cell = [
  "import * as gfp from 'group-fisher-pruning';",
  "const backend: string = await gfp.useBackend('auto');",
  "console.log(JSON.stringify({version: gfp.version, backend, zoo: gfp.models.zooNames().length}));",
].join('\n');

const notebook = {
  nbformat: 4, nbformat_minor: 5,
  metadata: {kernelspec: {name: 'tslab', display_name: 'TypeScript', language: 'typescript'}},
  cells: [{cell_type: 'code', id: 'check', metadata: {}, execution_count: null, outputs: [], source: cell}],
};

function main() {
  if (!findJupyter()) {
    process.stderr.write(`${installHint}\n`);
    return 1;
  }
  if (!kernelSpec()) {
    say('kernel:check', `the tslab kernel is not registered: run \`${commands.kernelInstall}\``);
    return 1;
  }
  requireBuilt();
  // a folder outside the repository, like a user's: the package name resolves through its own node_modules link
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-kernel-check-'));
  try {
    linkLibrary(dir);
    fs.writeFileSync(path.join(dir, 'check.ipynb'), JSON.stringify(notebook));
    const t0 = Date.now();
    const r = run('jupyter', ['nbconvert', '--to', 'notebook', '--execute', '--allow-errors', '--ExecutePreprocessor.timeout=120', '--output', 'executed', 'check.ipynb'], {cwd: dir});
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    if (r.status !== 0) {
      say('kernel:check', `jupyter nbconvert --execute failed after ${seconds} s:\n${r.stderr.trim()}`);
      return 1;
    }
    const outputs = JSON.parse(fs.readFileSync(path.join(dir, 'executed.ipynb'), 'utf8')).cells[0].outputs;
    // stream text, and for an error output (allowed above, so that the notebook is written) its name and message
    const text = outputs.map((/** @type {{text?: string | string[], ename?: string, evalue?: string}} */ o) =>
      o.ename !== undefined ? `${o.ename}: ${o.evalue}\n` : [o.text ?? ''].flat().join('')).join('');
    const printed = text.split('\n').find((/** @type {string} */ l) => l.startsWith('{'));
    const want = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
    const got = printed ? JSON.parse(printed) : null;
    if (outputs.some((/** @type {{output_type: string}} */ o) => o.output_type === 'error') || !got || got.version !== want || !got.backend || !(got.zoo > 0)) {
      say('kernel:check', `unexpected cell output (want version ${want}, a backend and the zoo's names):\n${text}`);
      return 1;
    }
    say('kernel:check', `ok: the tslab kernel ran a TypeScript cell importing group-fisher-pruning ${got.version} (backend ${got.backend}) in ${seconds} s`);
    return 0;
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

process.exitCode = main();
