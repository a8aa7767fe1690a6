#!/usr/bin/env node
// @ts-check
/**
 * `npm test`'s first step: make sure the Debian packages the notebook, live notebook and browser tests need are here.
 * As root on Debian it installs what is missing with apt-get; elsewhere it says what to install.
 */
'use strict';
const fs = require('fs');
const {aptPackages, findJupyter, run, say} = require('./jupyter');

function main() {
  const missing = [
    ...(findJupyter() ? [] : aptPackages),
    // classic Jupyter Notebook, which test/live_notebook.test.ts drives in Chromium
    ...(run('jupyter', ['notebook', '--version']).status === 0 ? [] : ['jupyter-notebook']),
    ...(fs.existsSync('/usr/bin/chromium') ? [] : ['chromium']),
  ];
  if (missing.length === 0) return 0;
  const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() !== 0 || run('sh', ['-c', 'command -v apt-get']).status !== 0) {
    say('system', `the tests need these Debian packages: ${missing.join(' ')}. Install them as root:\n  ${command}`);
    return 1;
  }
  say('system', `installing ${missing.join(' ')} (apt-get, as root)`);
  const r = run('sh', ['-c', `DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')}`], {stdio: 'inherit'});
  if (r.status !== 0) say('system', `apt-get failed (exit ${r.status}); run it by hand: ${command}`);
  return r.status === 0 ? 0 : 1;
}

process.exitCode = main();
