import {before, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'fs';
import * as tf from '@tensorflow/tfjs';
import {group, Space} from '../src/graph';
import {zoo} from '../src/models';
import {countCosts} from '../src/measure';
import {pruner, Ranked} from '../src/prune';
import {channelsPerLayer, Figure, figureHtml, groupStructure, importanceHistogram, importanceViolin, latencyVsFlops, pruningCurve, show, Trace} from '../src/viz';

before(async () => { await tf.setBackend('cpu'); });

const sorted = (xs: unknown[] | undefined) => [...(xs as number[])].sort((a, b) => a - b);
const count = (s: string, sub: string) => s.split(sub).length - 1;
/** Figures must survive JSON (what newPlot receives): no NaN, undefined or functions. */
const isJson = (fig: Figure) => assert.deepEqual(JSON.parse(JSON.stringify(fig)), fig);

const ranked: Ranked = {normalizer: 'memory', units: [
  {space: 2, unit: 5, fisher: 2e-6, cost: 1e3, score: 2e-9},
  {space: 1, unit: 0, fisher: 0.03, cost: 5e3, score: 6e-6},
  {space: 2, unit: 1, fisher: 0.5, cost: 1e3, score: 5e-4},
  {space: 1, unit: 3, fisher: 4, cost: 5e3, score: 8e-4},
  {space: 3, unit: 0, fisher: 0, cost: 2e3, score: 0},
]};

test('importanceHistogram: one trace per space, x = log10 score of its units, next unit marked', () => {
  const fig = importanceHistogram(ranked);
  isJson(fig);
  assert.deepEqual(fig.data.map((t) => t.name), ['space 2', 'space 1', 'space 3']);
  for (const t of fig.data) {
    const s = Number(t.name!.split(' ')[1]);
    const want = ranked.units.filter((u) => u.space === s && u.score > 0).map((u) => Math.log10(u.score));
    assert.deepEqual(sorted(t.x), sorted(want), `${t.name}`);
  }
  const line = (fig.layout.shapes as {x0: number}[])[0];
  assert.equal(line.x0, Math.log10(2e-9), 'the lowest score is marked');
  assert.match((fig.layout.title as {text: string}).text, /1 units at 0/);
});

test('importanceHistogram: raw Fisher, units grouped by a label (e.g. stage)', () => {
  const fig = importanceHistogram(ranked, {value: 'fisher', label: (s) => (s < 3 ? 'stage1' : 'stage2')});
  assert.deepEqual(fig.data.map((t) => t.name), ['stage1', 'stage2']);
  assert.deepEqual(sorted(fig.data[0].x), sorted([2e-6, 0.03, 0.5, 4].map(Math.log10)));
  assert.deepEqual(fig.data[1].x, [], 'fisher 0 has no log');
  assert.equal((fig.layout.shapes as {x0: number}[])[0].x0, Math.log10(2e-6));
});

test('groupStructure: one mark per (layer, space) membership of resnet20, by role and prunability', () => {
  const spaces = group(zoo.resnet20({inputShape: [16, 16, 1], classes: 10})).spaces;
  const fig = groupStructure(spaces);
  isJson(fig);
  const want = new Set(spaces.flatMap((s) => [...s.producers, ...s.consumers, ...s.members.map((m) => m.layer)].map((l) => `${l}@${s.id}`)));
  const got = fig.data.flatMap((t) => t.x!.map((x, i) => `${t.y![i]}@${x}`));
  assert.equal(got.length, want.size, 'no mark twice');
  assert.deepEqual(new Set(got), want);
  const byId = new Map(spaces.map((s) => [s.id, s]));
  for (const t of fig.data) {
    const [role, state] = t.name!.split(' · ');
    t.x!.forEach((x, i) => {
      const s = byId.get(x as number)!;
      const layer = t.y![i] as string;
      assert.equal(state === 'prunable', s.prunable, `${layer}@${x}`);
      const expected = {producer: [true, false], consumer: [false, true], 'passes through': [true, true], source: [false, false]}[role];
      assert.deepEqual([s.producers.includes(layer), s.consumers.includes(layer)], expected, `${layer}@${x} is a ${role}`);
    });
  }
  const order = (fig.layout.yaxis as {categoryarray: string[]}).categoryarray;
  assert.equal(new Set(order).size, order.length);
  assert.deepEqual(new Set(order), new Set(got.map((g) => g.split('@')[0])));
  assert.ok(order.includes('stem_conv') && order.includes('logits'));
});

test('groupStructure: depthwise layers of mobilenetv2 pass channels through; a given layer order is kept', () => {
  const model = zoo.mobilenetv2({inputShape: [16, 16, 3], classes: 10});
  const fig = groupStructure(group(model).spaces, {layers: model.layers.map((l) => l.name)});
  const through = fig.data.filter((t) => t.name!.startsWith('passes through')).flatMap((t) => t.y as string[]);
  const dw = model.layers.filter((l) => l.getClassName() === 'DepthwiseConv2D').map((l) => l.name);
  assert.ok(dw.length > 0);
  assert.deepEqual(new Set(through), new Set(dw));
  const order = (fig.layout.yaxis as {categoryarray: string[]}).categoryarray;
  const modelOrder = model.layers.map((l) => l.name).filter((n) => order.includes(n));
  assert.deepEqual(order, modelOrder);
});

test('importance charts from a real score on resnet20 (cpu): every prunable unit counted, no tensor leaked', async () => {
  const model = zoo.resnet20({inputShape: [8, 8, 1], classes: 4, seed: 1});
  const p = pruner(model);
  const n0 = tf.memory().numTensors;
  const labels = Int32Array.from([0, 1, 2, 3]);
  const batch = {xs: tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor4D, ys: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 4)) as tf.Tensor2D, labels};
  const score = await p.score([batch], {steps: 1});
  const r = p.normalize('flops');
  const hist = importanceHistogram(r);
  const positive = r.units.filter((u) => u.score > 0);
  assert.equal(hist.data.reduce((n, t) => n + t.x!.length, 0), positive.length);
  const violin = importanceViolin(score, p.group());
  const prunable = p.group().filter((s: Space) => s.prunable);
  assert.equal(violin.data.length, prunable.length);
  for (const t of violin.data) {
    const s = score.spaces.find((x) => t.name!.startsWith(`${x.id}:`))!;
    assert.deepEqual(t.y, s.fisher.filter((f) => f > 0).map(Math.log10));
  }
  assert.ok(importanceViolin(score).data.length > prunable.length, 'without spaces, fixed spaces are drawn too');
  p.dispose();
  assert.equal(tf.memory().numTensors, n0);
  model.dispose();
});

test('pruningCurve: ratios on y, loss on y2, accuracy and latency only when the rows have them', () => {
  const rows = [
    {step: 25, loss: 2.1, macs: 900, memory: 80, macsRatio: 0.9},
    {step: 50, loss: 1.9, macs: 700, memory: 60, macsRatio: 0.7, accuracy: 0.8, latencyMs: 3},
  ];
  const fig = pruningCurve(rows, {baseline: {memory: 100}});
  isJson(fig);
  const by = Object.fromEntries(fig.data.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(by), ['FLOPs ratio', 'memory ratio', 'accuracy', 'loss', 'latency (ms)']);
  assert.deepEqual(by['FLOPs ratio'].y, [0.9, 0.7]);
  assert.deepEqual(by['memory ratio'].y, [0.8, 0.6]);
  assert.deepEqual(by['accuracy'].x, [50]);
  assert.equal(by['loss'].yaxis, 'y2');
  assert.ok(fig.layout.yaxis3, 'latency axis');
  const bare = pruningCurve([{step: 1, macs: 50}, {step: 2, macs: 25}], {baseline: {macs: 100}});
  assert.deepEqual(bare.data.map((t) => [t.name, t.y]), [['FLOPs ratio', [0.5, 0.25]]]);
  assert.equal(bare.layout.yaxis2, undefined);
});

test('latencyVsFlops: x = MMACs, y = ms, labelled; coloured by accuracy only when every point has one', () => {
  const pts = [{label: 'baseline', macs: 4e7, latencyMs: 10, accuracy: 0.9}, {label: 'memory', macs: 2e7, latencyMs: 6, accuracy: 0.88}];
  const [t] = latencyVsFlops(pts).data;
  assert.deepEqual([t.x, t.y, t.text], [[40, 20], [10, 6], ['baseline', 'memory']]);
  assert.deepEqual((t.marker as {color: number[]}).color, [0.9, 0.88]);
  const [u] = latencyVsFlops([pts[0], {label: 'none', macs: 1e6, latencyMs: 1}]).data;
  assert.equal((u.marker as {color?: unknown}).color, undefined);
});

test('channelsPerLayer: conv and dense output channels before / after, from measurements or spaces', () => {
  const net = (f: number) => {
    const x = tf.input({shape: [6, 6, 2]});
    let y = tf.layers.conv2d({filters: f, kernelSize: 3, name: 'c1'}).apply(x) as tf.SymbolicTensor;
    y = tf.layers.batchNormalization({name: 'bn'}).apply(y) as tf.SymbolicTensor;
    y = tf.layers.globalAveragePooling2d({name: 'gap'}).apply(y) as tf.SymbolicTensor;
    return tf.model({inputs: x, outputs: tf.layers.dense({units: 3, name: 'fc'}).apply(y) as tf.SymbolicTensor});
  };
  const [a, b] = [net(8), net(5)];
  const fig = channelsPerLayer(countCosts(a).layers, countCosts(b).layers);
  isJson(fig);
  assert.deepEqual(fig.data.map((t: Trace) => [t.name, t.x, t.y]), [['before', ['c1', 'fc'], [8, 3]], ['after', ['c1', 'fc'], [5, 3]]]);
  const fromSpaces = channelsPerLayer([{producers: ['c1', 'c2'], channels: 16}], [{producers: ['c1', 'c2'], channels: 9}]);
  assert.deepEqual(fromSpaces.data.map((t) => t.y), [[16, 16], [9, 9]]);
  assert.deepEqual(channelsPerLayer([{name: 'gone', channels: 4}], []).data[1].y, [null]);
  a.dispose(); b.dispose();
});

const plotlyBundle = readFileSync(require.resolve('plotly.js-dist'), 'utf8');
const header = plotlyBundle.slice(0, 40); // "/**\n* plotly.js v..."

test('show: plotly.js once per display, then one <div> + newPlot per figure; strings cannot break out of the script', () => {
  const out: string[] = [];
  const sink = {html: (s: string) => out.push(s)};
  const fig = latencyVsFlops([{label: '</script><b>x', macs: 1, latencyMs: 1}]);
  show(fig, {display: sink});
  show(fig, {display: sink});
  assert.equal(out.length, 3);
  assert.ok(out[0].includes(header) && out[0].startsWith('<script>'));
  for (const html of out.slice(1)) {
    assert.equal(count(html, header), 0);
    assert.equal(count(html, 'Plotly.newPlot('), 1);
    assert.equal(count(html, '</script>'), 1, 'only the closing tag');
    const id = /<div id="([^"]+)"/.exec(html)![1];
    assert.ok(html.includes(`getElementById("${id}")`));
  }
  assert.notEqual(out[1], out[2], 'fresh div ids');
  const other: string[] = [];
  show(fig, {display: {html: (s) => other.push(s)}});
  show(fig, {display: sink, embed: true});
  assert.equal(other.length, 2, 'another page gets its own plotly.js');
  assert.ok(out[3].includes(header), 'embed: true embeds again');
});

test('figureHtml: a standalone page with plotly.js inlined once and one newPlot per figure', () => {
  const figs = [pruningCurve([{step: 1, macsRatio: 0.5}]), latencyVsFlops([{label: 'a', macs: 1, latencyMs: 2}])];
  const html = figureHtml(figs, 'tour <run>');
  assert.equal(count(html, header), 1);
  assert.equal(count(html, 'Plotly.newPlot(') - count(plotlyBundle, 'Plotly.newPlot('), figs.length);
  assert.equal(count(html, 'class="gfp-plot"'), figs.length);
  assert.ok(html.includes('<title>tour &lt;run&gt;</title>'));
  assert.ok(!/src="https?:/.test(html), 'no CDN');
});
