#!/usr/bin/env node
// @ts-check
/** `npm run kernel:install`: register this project's tslab as Jupyter's TypeScript kernel and link the library for notebooks/. */
'use strict';
const fs = require('fs');
const path = require('path');
const {findJupyter, installHint, kernelSpec, linkLibrary, notebooksDir, root, run, say, tslabBin} = require('./jupyter');

function main() {
  const link = linkLibrary(notebooksDir);
  say('kernel:install', `${path.relative(root, link)} -> ${fs.readlinkSync(link)}`);
  if (!fs.existsSync(tslabBin)) {
    say('kernel:install', `${path.relative(root, tslabBin)} is missing: run \`npm ci\` first`);
    return 1;
  }
  const jupyter = findJupyter();
  if (!jupyter) {
    process.stderr.write(`${installHint}\n`);
    return 1;
  }
  if (kernelSpec()?.argv[0] === tslabBin) {
    say('kernel:install', `tslab kernel already registered with ${jupyter.jupyter} (command ${tslabBin})`);
  } else {
    // the kernelspec is replaced when present; as root it goes to /usr/local/share/jupyter/kernels, else the user's dir
    const r = run(process.execPath, [fs.realpathSync(tslabBin), 'install', `--python=${jupyter.python}`, `--binary=${tslabBin}`], {stdio: 'inherit'});
    const spec = kernelSpec();
    if (r.status !== 0 || spec?.argv[0] !== tslabBin) {
      say('kernel:install', `registering the kernel failed (tslab install exit ${r.status}; kernelspec command ${spec?.argv[0] ?? 'absent'})`);
      return 1;
    }
    say('kernel:install', `registered the tslab kernel with ${jupyter.jupyter} (python ${jupyter.python}, command ${tslabBin})`);
  }
  // the kernelspec starts tslab through `#!/usr/bin/env node`
  if (run('sh', ['-c', 'command -v node']).status !== 0) say('kernel:install', 'warning: `node` is not on PATH; Jupyter will fail to start the kernel');
  say('kernel:install', 'check it with: npm run kernel:check');
  return 0;
}

process.exitCode = main();
