import {before, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'fs';
import * as tf from '@tensorflow/tfjs';
import {group, Space} from '../src/graph';
import {zoo} from '../src/models';
import {countCosts} from '../src/measure';
import {pruner, Ranked} from '../src/prune';
import {channelsPerLayer, Figure, figureHtml, groupStructure, heightForRows, importanceHistogram, importanceViolin, latencyVsFlops, pruningCurve, show, spaceColor, Trace} from '../src/viz';

before(async () => { await tf.setBackend('cpu'); });

const sorted = (xs: unknown[] | undefined) => [...(xs as number[])].sort((a, b) => a - b);
const count = (s: string, sub: string) => s.split(sub).length - 1;
/** Figures must survive JSON (what newPlot receives): no NaN, undefined or functions. */
const isJson = (fig: Figure) => assert.deepEqual(JSON.parse(JSON.stringify(fig)), fig);

// ranked lowest score first, as normalize() gives it; space 3's unit sits at 0 (no logarithm)
const ranked: Ranked = {normalizer: 'memory', units: [
  {space: 3, unit: 0, fisher: 0, cost: 2e3, score: 0},
  {space: 2, unit: 5, fisher: 2e-6, cost: 1e3, score: 2e-9},
  {space: 1, unit: 0, fisher: 0.03, cost: 5e3, score: 6e-6},
  {space: 2, unit: 1, fisher: 0.5, cost: 1e3, score: 5e-4},
  {space: 1, unit: 3, fisher: 4, cost: 5e3, score: 8e-4},
]};
const positive = {...ranked, units: ranked.units.slice(1)};

const layoutOf = (fig: Figure) => fig.layout as {height: number; title: {text: string}; yaxis: {categoryarray: string[]; title?: {text: string}}};
const rowsOf = (fig: Figure) => fig.data.filter((t) => t.type === 'box');
const marked = (fig: Figure) => fig.data.find((t) => t.type === 'scatter');
const colorOf = (t: Trace) => (t.marker as {color: string}).color;

test('importanceHistogram: one row per space ordered by depth, every positive score a point, zeros counted in the title', () => {
  const fig = importanceHistogram(ranked);
  isJson(fig);
  assert.deepEqual(rowsOf(fig).map((t) => t.name), ['space 1', 'space 2', 'space 3'], 'by space id (depth), not by rank');
  assert.deepEqual(layoutOf(fig).yaxis.categoryarray, ['space 1', 'space 2', 'space 3']);
  for (const t of rowsOf(fig)) {
    const s = Number(t.name!.split(' ')[1]);
    assert.deepEqual(sorted(t.x), sorted(ranked.units.filter((u) => u.space === s && u.score > 0).map((u) => u.score)), `${t.name}`);
    assert.ok(t.y!.every((y) => y === t.name));
  }
  assert.match(layoutOf(fig).title.text, /1 units at 0 not drawn/);
  assert.equal((fig.layout.xaxis as {type: string}).type, 'log');
  const named = importanceHistogram(positive, {spaces: [2, 1].map((id) => ({id, producers: [`conv${id}`]}) as unknown as Space)});
  assert.deepEqual(rowsOf(named).map((t) => t.name), ['space 1: conv1', 'space 2: conv2']);
});

test('importanceHistogram: the marked unit is the lowest score, wherever it sits in the list', () => {
  const shuffled = {...positive, units: [positive.units[2], positive.units[0], positive.units[3], positive.units[1]]};
  for (const r of [positive, shuffled]) {
    const next = marked(importanceHistogram(r))!;
    assert.deepEqual([next.x, next.y], [[2e-9], ['space 2']]);
    assert.match(next.name!, /space 2 unit 5/);
  }
  // the lowest score at 0 cannot be drawn on a log axis: named in the title instead
  const fig = importanceHistogram(ranked);
  assert.equal(marked(fig), undefined);
  assert.match(layoutOf(fig).title.text, /next to prune: space 3 unit 0 \(at 0\)/);
});

test('importanceHistogram: raw Fisher, units grouped by a label (e.g. stage), each row the colour of its shallowest space', () => {
  const fig = importanceHistogram(ranked, {value: 'fisher', label: (s) => (s < 3 ? 'stage1' : 'stage2')});
  assert.deepEqual(rowsOf(fig).map((t) => t.name), ['stage1', 'stage2']);
  assert.deepEqual(sorted(rowsOf(fig)[0].x), sorted([2e-6, 0.03, 0.5, 4]));
  assert.deepEqual(rowsOf(fig)[1].x, [], 'fisher 0 has no log');
  assert.deepEqual(rowsOf(fig).map(colorOf), [spaceColor(1), spaceColor(3)]);
  assert.equal((fig.layout.xaxis as {title: {text: string}}).title.text, 'Fisher, log scale');
});

test('spaceColor: distinct for every space of a large model, the same for a space in every chart', () => {
  const colors = Array.from({length: 200}, (_, i) => spaceColor(i));
  assert.equal(new Set(colors).size, colors.length);
  const model = zoo.resnet20({inputShape: [16, 16, 1], classes: 10});
  const spaces = group(model).spaces;
  const prunable = spaces.filter((s) => s.prunable);
  const units = prunable.flatMap((s) => [0, 1].map((unit) => ({space: s.id, unit, fisher: 1 + unit, cost: 1, score: 1 + unit})));
  const strip = new Map(rowsOf(importanceHistogram({normalizer: 'none', units})).map((t, i) => [prunable[i].id, colorOf(t)]));
  const violin = new Map(importanceViolin({steps: 1, loss: 1, spaces: spaces.map((s) => ({...s, fisher: [1, 2]}))}, spaces)
    .data.map((t) => [Number(/^space (\d+)/.exec(t.name!)![1]), colorOf(t)]));
  const marks = new Map(groupStructure(spaces).data.filter((t) => t.name!.startsWith('space ')).map((t) => [t.x![0] as number, colorOf(t)]));
  const costs = countCosts(model).layers;
  const bars = channelsPerLayer(costs, costs, {spaces}).data[1];
  for (const s of prunable) {
    assert.deepEqual([strip.get(s.id), violin.get(s.id), marks.get(s.id)], [spaceColor(s.id), spaceColor(s.id), spaceColor(s.id)], `space ${s.id}`);
    for (const producer of s.producers) {
      assert.equal((bars.marker as {color: string[]}).color[bars.y!.indexOf(producer)], spaceColor(s.id), `${producer} writes space ${s.id}`);
    }
  }
  model.dispose();
});

test('heights fit their rows: every row gets at least 20 px besides title, legend and axis, more rows a taller chart', () => {
  const model = zoo.mobilenetv2({inputShape: [16, 16, 3], classes: 10});
  const spaces = group(model).spaces;
  const layers = model.layers.map((l) => l.name);
  const [few, all] = [groupStructure(spaces.slice(0, 3), {layers}), groupStructure(spaces, {layers})];
  for (const fig of [few, all]) {
    const rows = layoutOf(fig).yaxis.categoryarray.length;
    assert.ok(layoutOf(fig).height >= 150 + 20 * rows, `${rows} rows in ${layoutOf(fig).height} px`);
  }
  assert.ok(layoutOf(all).height > layoutOf(few).height);
  const units = spaces.filter((s) => s.prunable).map((s) => ({space: s.id, unit: 0, fisher: 1, cost: 1, score: 1}));
  const strip = importanceHistogram({normalizer: 'none', units});
  assert.ok(layoutOf(strip).height >= 150 + 20 * units.length);
  assert.equal(heightForRows(40), heightForRows(20) + 20 * 22);
  model.dispose();
});

const roleOfSymbol: Record<string, [boolean, boolean]> = {circle: [true, false], square: [false, true], diamond: [true, true], 'triangle-up': [false, false]};

test('groupStructure: one mark per (layer, space) membership of resnet20, its symbol the role, open when fixed', () => {
  const spaces = group(zoo.resnet20({inputShape: [16, 16, 1], classes: 10})).spaces;
  const fig = groupStructure(spaces);
  isJson(fig);
  const marks = fig.data.filter((t) => t.x![0] !== null);
  assert.deepEqual(marks.map((t) => t.name), spaces.map((s) => `space ${s.id}`), 'one trace per space, in depth order');
  const want = new Set(spaces.flatMap((s) => [...s.producers, ...s.consumers, ...s.members.map((m) => m.layer)].map((l) => `${l}@${s.id}`)));
  const got = marks.flatMap((t) => t.x!.map((x, i) => `${t.y![i]}@${x}`));
  assert.equal(got.length, want.size, 'no mark twice');
  assert.deepEqual(new Set(got), want);
  for (const [k, t] of marks.entries()) {
    const s = spaces[k];
    (t.marker as {symbol: string[]}).symbol.forEach((symbol, i) => {
      const layer = t.y![i] as string;
      assert.equal(symbol.endsWith('-open'), !s.prunable, `${layer}@${s.id}`);
      assert.deepEqual([s.producers.includes(layer), s.consumers.includes(layer)], roleOfSymbol[symbol.replace('-open', '')], `${layer}@${s.id} is drawn as ${symbol}`);
    });
  }
  const keys = fig.data.filter((t) => t.x![0] === null).map((t) => t.name);
  assert.deepEqual(keys, ['producer', 'consumer', 'model input', 'open: fixed space'], 'a legend key per role drawn, in a fixed order');
  const order = layoutOf(fig).yaxis.categoryarray;
  assert.equal(new Set(order).size, order.length);
  assert.deepEqual(new Set(order), new Set(got.map((g) => g.split('@')[0])));
  assert.ok(order.includes('stem_conv') && order.includes('logits'));
});

test('groupStructure: depthwise layers of mobilenetv2 pass channels through; a given layer order is kept', () => {
  const model = zoo.mobilenetv2({inputShape: [16, 16, 3], classes: 10});
  const fig = groupStructure(group(model).spaces, {layers: model.layers.map((l) => l.name)});
  const through = fig.data.flatMap((t) => (Array.isArray((t.marker as {symbol: unknown}).symbol) ? (t.marker as {symbol: string[]}).symbol : [])
    .flatMap((symbol, i) => (symbol.startsWith('diamond') ? [t.y![i] as string] : [])));
  const dw = model.layers.filter((l) => l.getClassName() === 'DepthwiseConv2D').map((l) => l.name);
  assert.ok(dw.length > 0);
  assert.deepEqual(new Set(through), new Set(dw));
  const order = layoutOf(fig).yaxis.categoryarray;
  const modelOrder = model.layers.map((l) => l.name).filter((n) => order.includes(n));
  assert.deepEqual(order, modelOrder);
  model.dispose();
});

test('importance charts from a real score on resnet20 (cpu): every prunable unit counted, no tensor leaked', async () => {
  const model = zoo.resnet20({inputShape: [8, 8, 1], classes: 4, seed: 1});
  const p = pruner(model);
  const n0 = tf.memory().numTensors;
  const labels = Int32Array.from([0, 1, 2, 3]);
  const batch = {xs: tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor4D, ys: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 4)) as tf.Tensor2D, labels};
  const score = await p.score([batch], {steps: 1});
  const r = p.normalize('flops');
  const hist = importanceHistogram(r, {spaces: p.group()});
  const drawn = r.units.filter((u) => u.score > 0);
  assert.equal(rowsOf(hist).reduce((n, t) => n + t.x!.length, 0), drawn.length);
  assert.deepEqual(marked(hist)!.x, [Math.min(...drawn.map((u) => u.score))], 'the lowest score is marked');
  const violin = importanceViolin(score, p.group());
  const prunable = p.group().filter((s: Space) => s.prunable);
  assert.equal(violin.data.length, prunable.length);
  assert.deepEqual(layoutOf(violin).yaxis.categoryarray, prunable.map((s) => `space ${s.id}: ${s.producers[0]}`), 'rows by depth');
  for (const t of violin.data) {
    const s = score.spaces.find((x) => t.name!.startsWith(`space ${x.id}:`))!;
    assert.deepEqual(t.x, s.fisher.filter((f) => f > 0).map(Math.log10));
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

test('pruningCurve: the left axis names only what is drawn on it', () => {
  const title = (fig: Figure) => (fig.layout.yaxis as {title: {text: string}}).title.text;
  assert.equal(title(pruningCurve([{step: 1, macsRatio: 0.9, loss: 2}])), 'ratio to baseline');
  assert.equal(title(pruningCurve([{step: 1, macsRatio: 0.9, accuracy: 0.8}])), 'ratio to baseline, accuracy');
  assert.equal(title(pruningCurve([{step: 1, accuracy: 0.8}])), 'accuracy');
  const fig = pruningCurve([{step: 1, macsRatio: 0.9, loss: 2}]);
  assert.equal((fig.layout.yaxis2 as {title: {text: string}}).title.text, 'training loss');
});

test('latencyVsFlops: one point per model, x = MMACs, y = ms, legend in the given order with accuracy when known', () => {
  const pts = [{label: 'baseline', macs: 4e7, latencyMs: 10, accuracy: 0.9}, {label: 'memory', macs: 2e7, latencyMs: 6, color: 'red'}];
  const fig = latencyVsFlops(pts);
  isJson(fig);
  assert.deepEqual(fig.data.map((t) => [t.name, t.x, t.y]), [['baseline: accuracy 90.0%', [40], [10]], ['memory', [20], [6]]]);
  assert.equal((fig.data[1].marker as {color: string}).color, 'red', 'a given colour is kept');
  assert.notEqual((fig.data[0].marker as {color: string}).color, 'red');
  const [x0, y0] = [(fig.layout.xaxis as {range: number[]}).range[0], (fig.layout.yaxis as {range: number[]}).range[0]];
  assert.ok(x0 < 0 && y0 < 0, 'both axes start below 0: their 0 labels do not meet at the corner');
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
  assert.deepEqual(fig.data.map((t: Trace) => [t.name, t.y, t.x]), [['before', ['c1', 'fc'], [8, 3]], ['after', ['c1', 'fc'], [5, 3]]]);
  assert.deepEqual(layoutOf(fig).yaxis.categoryarray, ['c1', 'fc'], 'rows in model order');
  const fromSpaces = channelsPerLayer([{producers: ['c1', 'c2'], channels: 16}], [{producers: ['c1', 'c2'], channels: 9}]);
  assert.deepEqual(fromSpaces.data.map((t) => t.x), [[16, 16], [9, 9]]);
  assert.deepEqual(channelsPerLayer([{name: 'gone', channels: 4}], []).data[1].x, [null]);
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
