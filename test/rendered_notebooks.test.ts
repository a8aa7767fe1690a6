/**
 * notebooks/executed/ holds one executed copy per notebook (written by `npm run notebooks:render`), current enough to
 * read: the source's code cells in the same order, every one ran without error, every chart output carries a PNG of
 * the chart, no output holds the plotly.js bundle, and a first cell says which notebook and mode it is.
 */
import {existsSync, readdirSync, readFileSync} from 'fs';
import {join} from 'path';
import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {packageRoot} from '../src/data';
import {Cell, joined, notebookProblems, Output} from './notebook_check';

type RichOutput = Output & {data?: Record<string, string | string[]>};
interface Notebook { cells: (Omit<Cell, 'outputs'> & {outputs?: RichOutput[]})[] }

const notebooksDir = join(packageRoot(), 'notebooks');
const executedDir = join(notebooksDir, 'executed');
const read = (file: string): Notebook => JSON.parse(readFileSync(file, 'utf8'));
const notebooks = readdirSync(notebooksDir).filter((f) => f.endsWith('.ipynb')).sort();
// the start of the plotly.js bundle that show() embeds once per kernel
const bundleStart = readFileSync(require.resolve('plotly.js-dist'), 'utf8').slice(0, 40);
const pngBase64 = /^iVBORw0KGgo[A-Za-z0-9+/=\s]{100,}$/; // the PNG signature, base64

/** Everything that makes `copy` not a current executed copy of notebooks/`name`.ipynb (`source`), one line each. */
function copyProblems(name: string, source: Notebook, copy: Notebook): string[] {
  const code = (nb: Notebook) => nb.cells.filter((c) => c.cell_type === 'code').map((c) => joined(c.source));
  const [want, got] = [code(source), code(copy)];
  const differs = want.findIndex((s, i) => s !== got[i]);
  const rerender = `run \`npm run notebooks:render ${name}\``;
  const header = copy.cells[0]?.cell_type === 'markdown' ? joined(copy.cells[0].source) : '';
  const outputs = copy.cells.flatMap((c, i) => (c.outputs ?? []).map((o) => ({i, o, html: joined(o.data?.['text/html'])})));
  return [
    ...(differs >= 0 ? [`code cell ${differs + 1} of notebooks/${name}.ipynb (${want[differs].split('\n')[0].slice(0, 60)}) differs from the copy's: ${rerender}`]
      : got.length > want.length ? [`the copy has ${got.length} code cells, notebooks/${name}.ipynb ${want.length}: ${rerender}`] : []),
    ...(header.includes(`notebooks/${name}.ipynb`) && /\b(smoke|full) mode\b/.test(header) ? [] : ['the first cell does not say which notebook and mode this is a copy of']),
    ...notebookProblems(copy.cells),
    ...outputs.filter(({html}) => html.includes('class="gfp-plot"')).filter(({o}) => !pngBase64.test(joined(o.data?.['image/png'])))
      .map(({i}) => `cell ${i} draws a chart without an image/png of it`),
    ...outputs.filter(({o}) => Object.values(o.data ?? {}).some((v) => joined(v).includes(bundleStart))).map(({i}) => `cell ${i} holds the plotly.js bundle`),
  ];
}

test('the check catches an edited or reordered code cell, a chart without its PNG, the plotly.js bundle, a missing header', () => {
  const name = '00_tour';
  const source = read(join(notebooksDir, `${name}.ipynb`));
  const fresh = () => read(join(executedDir, `${name}.ipynb`));
  assert.deepEqual(copyProblems(name, source, fresh()), [], 'the committed copy passes');

  const edited = read(join(notebooksDir, `${name}.ipynb`));
  const cell = edited.cells.find((c) => c.cell_type === 'code' && joined(c.source).includes('fashionMnist')) as Cell;
  cell.source = joined(cell.source).replace('limit', 'limit ');
  assert.match(copyProblems(name, edited, fresh()).join('\n'), /^code cell \d+ of notebooks\/00_tour.ipynb \(.*\) differs from the copy's/);

  const reordered = fresh();
  const [a, b] = reordered.cells.flatMap((c, i) => (c.cell_type === 'code' ? [i] : [])).slice(1, 3);
  [reordered.cells[a], reordered.cells[b]] = [reordered.cells[b], reordered.cells[a]];
  assert.match(copyProblems(name, source, reordered).join('\n'), /^code cell 2 of notebooks\/00_tour.ipynb .* differs/);

  const charts = fresh();
  const chart = charts.cells.flatMap((c) => c.outputs ?? []).find((o) => joined(o.data?.['text/html']).includes('class="gfp-plot"'));
  assert.ok(chart?.data, 'the tour draws a chart');
  delete chart.data['image/png'];
  assert.match(copyProblems(name, source, charts).join('\n'), /^cell \d+ draws a chart without an image\/png of it$/m);

  const bundled = fresh();
  bundled.cells[1].outputs = [{output_type: 'display_data', data: {'text/html': `<script>${bundleStart}</script>`}}];
  assert.match(copyProblems(name, source, bundled).join('\n'), /^cell 1 holds the plotly.js bundle$/m);

  const headless = fresh();
  headless.cells.shift();
  assert.ok(copyProblems(name, source, headless).includes('the first cell does not say which notebook and mode this is a copy of'));
});

for (const file of notebooks) {
  const name = file.replace(/\.ipynb$/, '');
  test(`notebooks/executed/${file} is a current executed copy of notebooks/${file}`, () => {
    const copy = join(executedDir, file);
    assert.ok(existsSync(copy), `${copy} is missing: run \`npm run notebooks:render ${name}\``);
    assert.deepEqual(copyProblems(name, read(join(notebooksDir, file)), read(copy)), []);
  });
}
