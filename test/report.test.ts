import {test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, readdirSync, rmSync} from 'fs';
import {tmpdir} from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as dfd from 'danfojs-node';
import {Costs, countCosts, LayerMeasurement} from '../src/measure';
import {layerTable, pruningLog, showTable, tableHtml, toCsv, writeCsv} from '../src/report';

const net = (filters: number) => {
  const x = tf.input({shape: [6, 6, 2]});
  let y = tf.layers.conv2d({filters, kernelSize: 3, name: 'c1'}).apply(x) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({name: 'bn'}).apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({name: 'relu'}).apply(y) as tf.SymbolicTensor;
  y = tf.layers.globalAveragePooling2d({name: 'gap'}).apply(y) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: tf.layers.dense({units: 3, name: 'fc'}).apply(y) as tf.SymbolicTensor});
};

test('layerTable: layers with weights or MACs, before and after, ratios from the measured MACs', () => {
  const [a, b] = [net(8), net(5)];
  const [ca, cb] = [countCosts(a), countCosts(b)];
  const only = layerTable(ca);
  assert.deepEqual(only.columns, ['layer', 'class', 'channels', 'macs', 'params']);
  const df = layerTable(ca, cb);
  assert.deepEqual(df.columns, ['layer', 'class', 'channels', 'macs', 'params', 'channelsAfter', 'macsAfter', 'paramsAfter', 'macsRatio']);
  const rows = df.values as (string | number)[][];
  assert.deepEqual(rows.map((r) => r[0]), ['c1', 'bn', 'fc'], 'relu and pooling carry no weights or MACs');
  const macs = (c: Costs, n: string) => c.layers.find((l) => l.name === n)!.macs;
  // c1: 4x4 positions * 3x3 kernel * 2 in * filters out; fc: filters in * 3 out
  assert.deepEqual(rows[0].slice(2), [8, 16 * 9 * 2 * 8, 9 * 2 * 8 + 8, 5, 16 * 9 * 2 * 5, 9 * 2 * 5 + 5, 5 / 8]);
  assert.deepEqual(rows[2].slice(2, 6), [3, macs(ca, 'fc'), 8 * 3 + 3, 3]);
  assert.equal(rows[2][8], 5 / 8);
  assert.ok(Number.isNaN(rows[1][8] as number), 'BatchNorm: 0 / 0 MACs');
  a.dispose(); b.dispose();
});

const runRows = [
  {step: 25, loss: 2.25, space: 1, unit: 3, producers: ['stem_conv', 'stage1_block0_conv2'], fisher: 1e-4, cost: 4096, score: 2.44e-8, macs: 900, memory: 80, macsRatio: 0.9},
  {step: 50, loss: 2.125, space: 2, unit: 0, producers: ['stage1_block0_conv1'], fisher: 3e-4, cost: 1024, score: 2.9e-7, macs: 800, memory: 70, macsRatio: 0.8},
];

test('pruningLog: one row per pruned unit; report rows without fisher/cost give no such columns', () => {
  const df = pruningLog(runRows);
  assert.deepEqual(df.shape, [2, 11]);
  assert.deepEqual(df.column('producers').values, ['stem_conv stage1_block0_conv2', 'stage1_block0_conv1']);
  assert.deepEqual(df.column('macsRatio').values, [0.9, 0.8]);
  const report = runRows.map(({fisher, cost, ...r}) => r);
  assert.deepEqual(pruningLog(report).columns, ['step', 'loss', 'space', 'unit', 'producers', 'score', 'macs', 'memory', 'macsRatio']);
  assert.throws(() => pruningLog([]), /no rows/);
});

test('toCsv / writeCsv: quoted fields, empty NaN; danfo reads the file back to the same table; no temp file left', async () => {
  const layer = (name: string, macs: number): LayerMeasurement =>
    ({name, className: 'Conv2D', outputShape: [4, 4, 2], calls: 1, macs, params: 10, trainableParams: 10, activations: 32});
  const layers = [layer('a,"b"', 100), layer('plain', 60)];
  const costs: Costs = {inputShapes: [[6, 6, 2]], layers, macs: 160, params: 20, trainableParams: 20, nonTrainableParams: 0, memory: 64, memoryAll: 64, unknownClasses: []};
  const df = layerTable(costs, {...costs, layers: [layer('plain', 30)]});
  const csv = toCsv(df);
  assert.equal(csv.split('\n')[1], '"a,""b""",Conv2D,2,100,10,,,,');
  const dir = mkdtempSync(path.join(tmpdir(), 'gfp-report-'));
  try {
    const file = path.join(dir, 'sub', 'layers.csv');
    await writeCsv(df, file);
    assert.deepEqual(readdirSync(path.dirname(file)), ['layers.csv']);
    const back = await dfd.readCSV(file);
    assert.deepEqual(back.columns, df.columns);
    const want = (df.values as unknown[][]).map((r) => r.map((v) => (Number.isNaN(v) ? null : v)));
    const got = (back.values as unknown[][]).map((r) => r.map((v) => (Number.isNaN(v) ? null : v)));
    assert.deepEqual(got, want);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('tableHtml / showTable: one header cell per column, one row per record, text escaped', () => {
  const df = pruningLog([{...runRows[0], producers: ['<conv>']}, runRows[1]]);
  const html = tableHtml(df);
  assert.equal((html.match(/<th>/g) ?? []).length, df.columns.length);
  assert.equal((html.match(/<tr>/g) ?? []).length, 1 + 2);
  assert.ok(html.includes('&lt;conv&gt;') && !html.includes('<conv>'));
  assert.ok(html.includes('<td style="text-align:right">2.44e-8</td>'), 'scores keep 4 significant digits');
  const out: string[] = [];
  showTable(df, {display: {html: (s) => out.push(s)}});
  assert.deepEqual(out, [html]);
});
