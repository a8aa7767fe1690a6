#!/usr/bin/env node
// @ts-check
/**
 * `npm run kernel:install` in a checkout, `npx gfp-kernel-install` where the package is installed: register the tslab
 * that this package resolves as Jupyter's TypeScript kernel; in a checkout also link the library for notebooks/.
 * `--prefix=DIR` registers it under DIR/share/jupyter/kernels (put DIR/share/jupyter on JUPYTER_PATH to use it).
 */
'use strict';
const fs = require('fs');
const path = require('path');
const {commands, findJupyter, installHint, isCheckout, kernelSpec, linkLibrary, notebooksDir, root, run, say, tslabBin} = require('./jupyter');

/**
 * The folder of a `--prefix=DIR` argument (absolute), or undefined; throws on any other argument.
 * @example parsePrefix(['--prefix=/tmp/k']) // '/tmp/k'
 * @param {string[]} args
 */
function parsePrefix(args) {
  const bad = args.filter((a) => !/^--prefix=./.test(a));
  if (bad.length) throw new Error(`kernel install: unknown argument ${bad.map((a) => `'${a}'`).join(', ')} (valid: --prefix=DIR)`);
  return args.length ? path.resolve(args[args.length - 1].slice('--prefix='.length)) : undefined;
}

function main() {
  const prefix = parsePrefix(process.argv.slice(2));
  if (isCheckout) {
    const link = linkLibrary(notebooksDir);
    say('kernel:install', `${path.relative(root, link)} -> ${fs.readlinkSync(link)}`);
  }
  if (!fs.existsSync(tslabBin)) {
    say('kernel:install', `${tslabBin} is missing: run \`${commands.install}\` first`);
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
    const args = [fs.realpathSync(tslabBin), 'install', `--python=${jupyter.python}`, `--binary=${tslabBin}`, ...(prefix ? [`--prefix=${prefix}`] : [])];
    const r = run(process.execPath, args, {stdio: 'inherit'});
    const spec = kernelSpec();
    if (r.status !== 0 || spec?.argv[0] !== tslabBin) {
      const hint = prefix ? ` (is ${path.join(prefix, 'share', 'jupyter')} on JUPYTER_PATH?)` : '';
      say('kernel:install', `registering the kernel failed (tslab install exit ${r.status}; kernelspec command ${spec?.argv[0] ?? 'absent'})${hint}`);
      return 1;
    }
    say('kernel:install', `registered the tslab kernel with ${jupyter.jupyter} (python ${jupyter.python}, command ${tslabBin})`);
  }
  // the kernelspec starts tslab through `#!/usr/bin/env node`
  if (run('sh', ['-c', 'command -v node']).status !== 0) say('kernel:install', 'warning: `node` is not on PATH; Jupyter will fail to start the kernel');
  say('kernel:install', `check it with: ${commands.kernelCheck}`);
  return 0;
}

try {
  process.exitCode = main();
} catch (e) {
  say('kernel:install', e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
}
