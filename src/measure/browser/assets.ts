/**
 * The static server: the page's libraries and models as assets, served on 127.0.0.1 only, cross-origin isolated.
 *
 * GroupConv2D in the page: the server sends the compiled dist/src/models/group_conv2d.js itself,
 * wrapped in a CommonJS shim whose require('@tensorflow/tfjs') returns the page's global `tf`.
 * That file imports nothing else, so the page registers the very class Node uses (no copy).
 */
import type * as tf from '@tensorflow/tfjs';
import {existsSync, promises as fs, readFileSync} from 'fs';
import * as http from 'http';
import type {AddressInfo} from 'net';
import * as path from 'path';
import {pageRuntimeScript, pageScripts} from './page_runtime';

/** What one URL path serves: a file on disk or text made in memory. */
export type Asset = {file: string} | {text: string};
/** Assets by URL path relative to the page (no leading slash), e.g. 'lib/tf.min.js'. */
export type Assets = Record<string, Asset>;

/** The compiled GroupConv2D module wrapped so that it runs against the page's global `tf`. */
function groupConv2dScript(): string {
  const file = path.join(__dirname, '..', '..', 'models', 'group_conv2d.js');
  const source = readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  return [
    '(function (pageTf) {',
    '  var module = {exports: {}}, exports = module.exports;',
    "  var require = function (name) { if (name === '@tensorflow/tfjs') return pageTf; throw new Error('group_conv2d.js: cannot require ' + name + ' in the page'); };",
    source,
    '})(globalThis.tf);',
  ].join('\n');
}

/** model.json of a directory or a model.json path, with a clear error when missing. */
function modelJsonPath(spec: string): string {
  const file = existsSync(spec) && !spec.endsWith('.json') ? path.join(spec, 'model.json') : spec;
  if (!existsSync(file)) throw new Error(`no model.json at ${file}: expected a tfjs layers model directory (model.json + weights.bin) as written by saveModel or 'gfp prune'`);
  return file;
}

/**
 * Assets of a model: model.json and the weight files its manifest names, under `models/<id>/`.
 * @example modelAssets('pruned', 'runs/p') // {'models/pruned/model.json': {file: 'runs/p/model.json'}, ...}
 */
export function modelAssets(id: string, spec: string): Assets {
  const file = modelJsonPath(spec);
  const json = JSON.parse(readFileSync(file, 'utf8')) as tf.io.ModelJSON;
  const assets: Assets = {[`models/${id}/model.json`]: {file}};
  for (const p of (json.weightsManifest ?? []).flatMap((g) => g.paths)) {
    const weights = path.join(path.dirname(file), p);
    if (p.includes('..') || !existsSync(weights)) throw new Error(`${file}: weights file ${p} is missing (looked at ${weights})`);
    assets[`models/${id}/${p}`] = {file: weights};
  }
  return assets;
}

/**
 * The page's libraries (tfjs, its wasm backend and binaries, webgpu when installed, GroupConv2D, runtime) and the given models.
 * @example const assets = pageAssets({baseline: 'runs/r20', pruned: 'runs/p'});
 */
export function pageAssets(models: Record<string, string>): Assets {
  const lib = (pkg: string, file: string): string => require.resolve(`${pkg}/dist/${file}`);
  const wasmDir = path.dirname(lib('@tensorflow/tfjs-backend-wasm', 'tf-backend-wasm.min.js'));
  const assets: Assets = {
    'lib/tf.min.js': {file: lib('@tensorflow/tfjs', 'tf.min.js')},
    'lib/tf-backend-wasm.min.js': {file: path.join(wasmDir, 'tf-backend-wasm.min.js')},
    'lib/group_conv2d.js': {text: groupConv2dScript()},
    'lib/runtime.js': {text: pageRuntimeScript},
    // the optional webgpu backend; a stub keeps the page's script list fixed when it is not installed
    'lib/tf-backend-webgpu.min.js': {text: '// @tensorflow/tfjs-backend-webgpu is not installed\n'},
  };
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    assets[`lib/${f}`] = {file: path.join(wasmDir, f)};
  }
  try {
    assets['lib/tf-backend-webgpu.min.js'] = {file: lib('@tensorflow/tfjs-backend-webgpu', 'tf-backend-webgpu.min.js')};
  } catch {
    // optional dependency absent: keep the stub
  }
  for (const [id, spec] of Object.entries(models)) Object.assign(assets, modelAssets(id, spec));
  return assets;
}

/** A page that loads the libraries and nothing else. */
export const blankPage = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>gfp</title>\n${pageScripts.map((s) => `<script src="${s}"></script>`).join('\n')}\n`;

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.wasm': 'application/wasm', '.bin': 'application/octet-stream',
};

/** A running localhost server. */
export interface Served { url: string; close(): Promise<void> }

/** The asset name a request path asks for, or undefined for a path that does not decode (e.g. "/%"). */
function assetKey(url: string | undefined): string | undefined {
  try {
    return decodeURIComponent(new URL(url ?? '/', 'http://127.0.0.1').pathname).slice(1) || 'index.html';
  } catch {
    return undefined;
  }
}

// Cross-origin isolated (COOP + COEP), so the browser allows SharedArrayBuffer and threaded wasm.
const isolation = {'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp'};

/**
 * Serve `assets` (GET only, nothing else) on 127.0.0.1; port 0 picks a free one. Every request gets an
 * answer: 400 for a path that does not decode, 421 for a Host other than 127.0.0.1 / localhost (DNS rebinding),
 * 404 for anything else that is not an asset.
 * @example const s = await serveAssets(pageAssets({m: 'runs/p'})); console.log(s.url); await s.close();
 */
export async function serveAssets(assets: Assets, port = 0): Promise<Served> {
  const server = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (host !== '127.0.0.1' && host !== 'localhost') {
      res.writeHead(421).end('only 127.0.0.1 is served');
      return;
    }
    const key = assetKey(req.url);
    if (key === undefined) {
      res.writeHead(400).end('malformed path');
      return;
    }
    const asset = assets[key];
    if (req.method !== 'GET' || asset === undefined) {
      res.writeHead(404).end();
      return;
    }
    const send = (body: string | Buffer): void => {
      res.writeHead(200, {'content-type': contentTypes[path.extname(key)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...isolation}).end(body);
    };
    if ('text' in asset) send(asset.text);
    else fs.readFile(asset.file).then(send, () => res.writeHead(500).end(`cannot read ${asset.file}`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const {port: bound} = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
