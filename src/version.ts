import {readFileSync} from 'fs';
import * as path from 'path';
import {packageRoot} from './data/package_root';

/** The package's version, from its package.json. */
export const version: string = (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as {version: string}).version;
