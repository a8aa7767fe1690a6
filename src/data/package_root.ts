import * as fs from 'fs';
import * as path from 'path';

const PACKAGE_NAME = 'group-fisher-pruning';
let cached: string | undefined;

function packageName(dir: string): string | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name;
  } catch {
    return undefined; // no (readable) package.json here
  }
}

/** The folder holding the package.json named group-fisher-pruning, found by walking up from this file.
 * @example const shipped = path.join(packageRoot(), 'datasets', 'fashion-mnist');
 */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (packageName(dir) === PACKAGE_NAME) return (cached = dir);
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`packageRoot: no package.json with name "${PACKAGE_NAME}" in ${__dirname} or any folder above it`);
}
