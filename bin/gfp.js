#!/usr/bin/env node
// The `gfp` command; the TypeScript build lives in dist/ (npm run build).
require('../dist/src/cli/main.js').main(process.argv).catch((e) => {
  process.stderr.write(`gfp: ${e && e.message ? e.message : e}\n`);
  process.exitCode = 1;
});
