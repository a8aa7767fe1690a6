import {after, test} from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {fashionMnist} from '../src/data';
import {DetectionBatch, DetectionDataset, detectionScenes} from '../src/data/detection';
import {readCoco, writeCoco} from '../src/data/coco';
import {fpnDetector, fpnLevels} from '../src/models/fpn_detector';
import {apDifference, averagePrecision, interpolatedAp} from '../src/measure/ap';
import {assignTargets, decode, detectionLoss, detectionStep, evaluateDetector, nms, trainDetector} from '../src/train/detection';
import {Optimizer} from '../src/train';
import {group} from '../src/graph';
import {countCosts} from '../src/measure';
import {randomKept} from './helpers';
import {costsOf, exportPruned, maskedForward, maskTensors, pruner} from '../src/prune';
import {loadDetectionDataset} from '../src/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gfp-detection-'));
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
const levels = fpnLevels([64, 64, 1]);
const items = fashionMnist({limit: {train: 500, test: 0}}).then((d) => d.train);

test('setup: cpu backend', async () => {
  await tf.setBackend('cpu');
});

// ---- data ----

test('scenes: seeded, 1-4 items, each box is the tight box of its pasted item', async () => {
  const source = await items;
  const a = detectionScenes(source, {count: 40, seed: 3});
  assert.deepEqual(a.images, detectionScenes(source, {count: 40, seed: 3}).images);
  assert.notDeepEqual(a.images, detectionScenes(source, {count: 40, seed: 4}).images);
  assert.deepEqual(a.shape, [64, 64, 1]);
  for (let i = 0; i < a.size; i++) {
    const k = a.labels[i].length;
    assert.ok(k >= 1 && k <= 4, `scene ${i} has ${k} items`);
    for (const v of a.boxes[i]) assert.ok(v >= 0 && v <= 64);
  }
  // reference: one item, no clutter or noise: the box is the bounding box of all pixels > 25
  const single = detectionScenes(source, {count: 20, seed: 5, items: [1, 1], clutter: 0, noise: 0});
  for (let i = 0; i < single.size; i++) {
    let [x1, y1, x2, y2] = [64, 64, 0, 0];
    for (let p = 0; p < 64 * 64; p++) {
      if (single.images[i * 4096 + p] <= 25) continue;
      const [y, x] = [Math.floor(p / 64), p % 64];
      [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
    }
    // rounding to uint8 can move a pixel across the threshold by one level: allow 1 px
    Array.from(single.boxes[i]).forEach((v, j) => assert.ok(Math.abs(v - [x1, y1, x2, y2][j]) <= 1, `scene ${i}: ${single.boxes[i]} vs ${[x1, y1, x2, y2]}`));
    const size = Math.max(x2 - x1, y2 - y1);
    assert.ok(size <= 56, 'at most 2x of 28 px');
  }
});

test('COCO: write then read gives the same images, boxes and classes', async () => {
  const scenes = detectionScenes(await items, {count: 12, seed: 1});
  const {json, pixels} = await writeCoco(scenes, path.join(tmp, 'scenes.json'));
  assert.equal(fs.statSync(pixels).size, 12 * 64 * 64);
  const coco = JSON.parse(fs.readFileSync(json, 'utf8'));
  const [x1, y1, x2, y2] = scenes.boxes[0];
  assert.deepEqual(coco.annotations[0].bbox, [x1, y1, x2 - x1, y2 - y1], 'COCO bbox is [x, y, w, h]');
  const back = await readCoco(json);
  assert.deepEqual(back.images, scenes.images);
  assert.deepEqual(back.boxes, scenes.boxes);
  assert.deepEqual(back.labels, scenes.labels);
  assert.deepEqual(back.classNames, scenes.classNames);
  // a user's set: image 2 in its own raw file, no offset
  fs.writeFileSync(path.join(tmp, 'own.raw'), scenes.images.subarray(2 * 4096, 3 * 4096));
  Object.assign(coco.images[2], {file_name: 'own.raw', offset: undefined});
  fs.writeFileSync(json, JSON.stringify(coco));
  assert.deepEqual((await readCoco(json)).images, scenes.images);
});

test('COCO: malformed annotations name the file, the annotation id and the field', async () => {
  const scenes = detectionScenes(await items, {count: 2, seed: 1});
  const {json} = await writeCoco(scenes, path.join(tmp, 'bad.json'));
  const good = JSON.parse(fs.readFileSync(json, 'utf8'));
  const cases: [string, (c: {annotations: Record<string, unknown>[]}) => void, RegExp][] = [
    ['missing bbox', (c) => { delete c.annotations[0].bbox; }, /annotation id 1: field "bbox" must be 4 finite numbers/],
    ['outside', (c) => { c.annotations[0].bbox = [60, 0, 10, 10]; }, /annotation id 1: field "bbox" must lie inside the 64x64 image/],
    ['unknown category', (c) => { c.annotations[0].category_id = 99; }, /annotation id 1: field "category_id" must be one of the category ids/],
    ['non-numeric', (c) => { c.annotations[0].bbox = [0, 0, 'ten', 10]; }, /annotation id 1: field "bbox"/],
    ['unknown image', (c) => { c.annotations[0].image_id = 7; }, /annotation id 1: field "image_id"/],
    ['missing id', (c) => { delete c.annotations[1].id; }, /annotation #1: field "id" must be an integer/],
  ];
  for (const [what, spoil, message] of cases) {
    const c = structuredClone(good);
    spoil(c);
    fs.writeFileSync(json, JSON.stringify(c));
    await assert.rejects(readCoco(json), (e: Error) => e.message.startsWith(json) && message.test(e.message), what);
  }
});

// ---- evaluation (hand-worked) ----

const box = (...b: number[]) => Float32Array.from(b);

test('AP: perfect, false positive first, duplicate, IoU 0.62, none', () => {
  const truth = [{boxes: box(0, 0, 10, 10), labels: [0]}];
  const perfect = averagePrecision([{boxes: box(0, 0, 10, 10), scores: [0.9], classes: [0]}], truth);
  assert.equal(perfect.ap, 1);
  assert.equal(perfect.ap50, 1);
  // FP (score 0.9) above TP (0.8): precision envelope 1/2 at every recall point
  const fpFirst = averagePrecision([{boxes: box(20, 20, 30, 30, 0, 0, 10, 10), scores: [0.9, 0.8], classes: [0, 0]}], truth);
  assert.ok(Math.abs(fpFirst.ap - 0.5) < 1e-12);
  // two images, one box each; a duplicate on image A (0.8) ranks above B's hit (0.7):
  // TP, FP, TP -> recall .5 .5 1, precision 1 .5 .667; AP = (51 * 1 + 50 * 2/3) / 101
  const two = [{boxes: box(0, 0, 10, 10), labels: [0]}, {boxes: box(5, 5, 15, 15), labels: [0]}];
  const dup = averagePrecision([
    {boxes: box(0, 0, 10, 10, 0, 0, 10, 10), scores: [0.9, 0.8], classes: [0, 0]},
    {boxes: box(5, 5, 15, 15), scores: [0.7], classes: [0]},
  ], two);
  assert.ok(Math.abs(dup.ap50 - (51 + 50 * 2 / 3) / 101) < 1e-12, `${dup.ap50}`);
  // IoU 0.62 is a hit at thresholds 0.5, 0.55, 0.6 only: AP = 3/10, AP50 = 1, AP75 = 0
  const partial = averagePrecision([{boxes: box(0, 0, 10, 6.2), scores: [1], classes: [0]}], truth);
  assert.ok(Math.abs(partial.ap - 0.3) < 1e-12);
  assert.equal(partial.ap75, 0);
  // wrong class is a miss for class 0; class 1 has no truth and is left out of the mean
  const wrong = averagePrecision([{boxes: box(0, 0, 10, 10), scores: [1], classes: [1]}], truth);
  assert.equal(wrong.ap, 0);
  assert.ok(Number.isNaN(wrong.perClass[1]));
  assert.equal(averagePrecision([{boxes: [], scores: [], classes: []}], truth).ap, 0);
  assert.equal(interpolatedAp([], 3), 0);
});

test('AP difference: exact on the whole set; its bootstrap error matches the paired binomial one; zero for identical detectors', () => {
  // 200 images, one box each; a finds the box on even images (recall 0.5), b on all but i % 4 == 3 (0.75)
  const truth = Array.from({length: 200}, () => ({boxes: box(0, 0, 10, 10), labels: [0]}));
  const finds = (hit: (i: number) => boolean) => truth.map((_, i) => (hit(i) ? {boxes: box(0, 0, 10, 10), scores: [1], classes: [0]} : {boxes: [], scores: [], classes: []}));
  const a = finds((i) => i % 2 === 0);
  const b = finds((i) => i % 4 !== 3);
  const r = apDifference(a, b, truth, {rounds: 1000});
  // all hits rank first, so AP = (recall points 0:0.01:1 at or below the recall) / 101
  assert.ok(Math.abs(r.a - 51 / 101) < 1e-12 && Math.abs(r.b - 76 / 101) < 1e-12 && Math.abs(r.diff - 25 / 101) < 1e-12, JSON.stringify(r));
  // per image b - a is 1 on a quarter of the images, else 0: SE = sqrt(0.25 * 0.75 / 200), times 100/101 for AP's recall grid
  const expected = Math.sqrt(0.25 * 0.75 / 200) * 100 / 101;
  assert.ok(Math.abs(r.se - expected) < 0.15 * expected, `se ${r.se}, expected about ${expected}`);
  assert.deepEqual(apDifference(a, a, truth, {rounds: 20}), {a: r.a, b: r.a, diff: 0, se: 0});
  assert.throws(() => apDifference(a, b.slice(1), truth), /200 and 199 detection lists for 200 images/);
  assert.throws(() => apDifference(a, b, truth, {rounds: 1}), /rounds must be an integer >= 2, got 1/);
});

// ---- targets, loss, decode ----

test('targets: a 16x16 box in the corner is positive at the four P3 locations inside it', () => {
  const t = assignTargets([box(0, 0, 16, 16)], [Int32Array.of(3)], levels, 10);
  assert.equal(t.positives, 4);
  const expected = [0, 1, 8, 9]; // P3 row-major: centres (4,4), (12,4), (4,12), (12,12)
  assert.deepEqual(Array.from(t.positive).flatMap((p, i) => (p ? [i] : [])), expected);
  assert.deepEqual(Array.from(t.ltrb.subarray(0, 4)), [0.5, 0.5, 1.5, 1.5]); // (4, 4, 12, 12) / stride 8
  assert.ok(Math.abs(t.centerness[0] - 1 / 3) < 1e-6); // sqrt(4/12 * 4/12)
  assert.equal(t.cls[0 * 10 + 3], 1);
});

test('targets: the default level ranges scale with the image side (a 2x box on a 2x image stays on P3 or P4)', () => {
  const levelOf = (size: number, side: number) => {
    const lv = fpnLevels([size, size, 1]);
    const t = assignTargets([box(0, 0, side, side)], [Int32Array.of(0)], lv, 1);
    const starts = lv.map((_, i) => lv.slice(0, i).reduce((n, l) => n + l.height * l.width, 0));
    const first = Array.from(t.positive).indexOf(1);
    return starts.filter((s) => s <= first).length - 1;
  };
  // at 64 the ranges are [0, 20), [20, 40), [40, inf) of max(l, t, r, b): boxes of 16, 40 and 64 px land on P3, P4, P5
  assert.deepEqual([levelOf(64, 16), levelOf(64, 40), levelOf(64, 64)], [0, 1, 2]);
  // unscaled ranges would put the 32-px box on P4 at 128 (every P3 location near its centre is 20 px from an edge)
  assert.deepEqual([levelOf(128, 32), levelOf(128, 80)], [0, 1]);
});

test('loss: zero outputs give the hand-computed focal + GIoU + centerness loss', () => {
  const before = tf.memory().numTensors;
  const t = assignTargets([box(0, 0, 16, 16, 20, 8, 60, 60)], [Int32Array.of(3, 1)], levels, 10);
  assert.ok(t.positives > 4);
  // logits 0: p = 1/2, CE = log 2; focal element = alpha_t * (1/2)^2 * log 2
  const L = t.locations;
  const focal = (t.positives * 0.25 + (L * 10 - t.positives) * 0.75) * 0.25 * Math.LN2 / t.positives;
  // box logits 0: predicted l = t = r = b = 1 (stride units)
  let giouSum = 0;
  let weight = 0;
  for (let p = 0; p < L; p++) {
    if (!t.positive[p]) continue;
    const [l, tp, r, b] = t.ltrb.subarray(4 * p, 4 * p + 4);
    const inter = (Math.min(1, l) + Math.min(1, r)) * (Math.min(1, tp) + Math.min(1, b));
    const union = 4 + (l + r) * (tp + b) - inter;
    const enclose = (Math.max(1, l) + Math.max(1, r)) * (Math.max(1, tp) + Math.max(1, b));
    giouSum += t.centerness[p] * (1 - (inter / union - (enclose - union) / enclose));
    weight += t.centerness[p];
  }
  const expected = focal + giouSum / weight + Math.LN2;
  const loss = tf.tidy(() => detectionLoss(tf.zeros([1, L, 15]) as tf.Tensor3D, t, {gamma: 2}).dataSync()[0]);
  assert.ok(Math.abs(loss - expected) < 1e-4 * expected, `${loss} vs ${expected}`);
  assert.equal(tf.memory().numTensors, before);
});

test('loss: gamma 0 (the default) is alpha-weighted BCE, with finite gradients where the logits saturate', () => {
  const before = tf.memory().numTensors;
  const t = assignTargets([box(0, 0, 16, 16, 20, 8, 60, 60)], [Int32Array.of(3, 1)], levels, 10);
  const L = t.locations;
  // zero logits: every element costs alpha_t * log 2
  const zeros = tf.zeros([1, L, 15]) as tf.Tensor3D;
  const gamma2 = tf.tidy(() => detectionLoss(zeros, t, {gamma: 2}).dataSync()[0]);
  const gamma0 = tf.tidy(() => detectionLoss(zeros, t).dataSync()[0]);
  const bce = (t.positives * 0.25 + (L * 10 - t.positives) * 0.75) * Math.LN2 / t.positives;
  assert.ok(Math.abs((gamma0 - gamma2) - 0.75 * bce) < 1e-4 * gamma0, `gamma 0 ${gamma0}, gamma 2 ${gamma2}: the focal factor 1/4 drops`);
  // logits of +-40: sigmoid is exactly 0 or 1 in float32, where d/dx (1 - p_t)^0 via pow is NaN
  const big = tf.tidy(() => tf.concat([tf.fill([1, L, 10], 40), tf.zeros([1, L, 5])], 2)) as tf.Tensor3D;
  const grad = tf.tidy(() => tf.grad((x: tf.Tensor) => detectionLoss(x as tf.Tensor3D, t))(big).abs().max().dataSync()[0]);
  assert.ok(Number.isFinite(grad), `gradient ${grad}`);
  tf.dispose([zeros, big]);
  assert.equal(tf.memory().numTensors, before);
});

test('decode: boxes from the ltrb logits, duplicates suppressed; NMS equals tf.image.nonMaxSuppression', async () => {
  const before = tf.memory().numTensors;
  const L = 84;
  const out = new Float32Array(L * 15).fill(-10);
  // P3 location 9 (centre 12, 12) predicts class 2 with box l=t=r=b=8 px -> [4, 4, 20, 20];
  // location 10 (centre 20, 12) the same class with a box that overlaps it by IoU 0.6 and a lower score
  const set = (p: number, cls: number, logit: number, ltrb: number[]) => {
    out[p * 15 + cls] = logit;
    ltrb.forEach((d, i) => { out[p * 15 + 10 + i] = Math.log(d / 8); });
    out[p * 15 + 14] = 10;
  };
  set(9, 2, 4, [8, 8, 8, 8]);
  set(10, 2, 2, [14, 8, 2, 8]); // [6, 4, 22, 20]: IoU 14*16 / (256 + 256 - 224) = 0.78
  set(40, 5, 3, [8, 8, 8, 8]);
  const outputs = tf.tensor3d(out, [1, L, 15]);
  const [dets] = await decode(outputs, levels, {scoreThreshold: 0.3, iouThreshold: 0.5});
  outputs.dispose();
  assert.deepEqual(Array.from(dets.classes), [2, 5]);
  assert.deepEqual(Array.from(dets.boxes.subarray(0, 4)).map((v) => Math.round(v * 1e4) / 1e4), [4, 4, 20, 20]);
  assert.ok(Math.abs(dets.scores[0] - Math.sqrt(1 / (1 + Math.exp(-4)) / (1 + Math.exp(-10)))) < 1e-5);
  // random boxes, one class: same kept set as tfjs' own NMS (which wants [y1, x1, y2, x2])
  let r = 12345;
  const rand = () => ((r = (r * 16807) % 2147483647) / 2147483647);
  const n = 60;
  const boxes = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const [x, y, w, h] = [rand() * 50, rand() * 50, 5 + rand() * 20, 5 + rand() * 20];
    boxes.set([x, y, x + w, y + h], 4 * i);
  }
  const scores = Float32Array.from({length: n}, () => rand());
  const order = Array.from({length: n}, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const ours = nms(boxes, new Int32Array(n), order, 0.5);
  const yx = Float32Array.from({length: n * 4}, (_, k) => boxes[4 * Math.floor(k / 4) + [1, 0, 3, 2][k % 4]]);
  const theirs = tf.tidy(() => Array.from(tf.image.nonMaxSuppression(tf.tensor2d(yx, [n, 4]), tf.tensor1d(scores), n, 0.5).dataSync()));
  assert.deepEqual(ours, theirs);
  assert.equal(tf.memory().numTensors, before);
});

test('oracle: outputs built from the assigned targets decode to AP50 >= 0.9 (assignment, decode and AP agree)', async () => {
  const before = tf.memory().numTensors;
  const scenes = detectionScenes(await items, {count: 64, seed: 3});
  let seen = 0;
  const t = assignTargets(scenes.boxes, scenes.labels, levels, 10);
  const [B, L] = [t.batch, t.locations];
  const out = new Float32Array(B * L * 15).fill(-10);
  for (let i = 0; i < B * L; i++) {
    if (!t.positive[i]) continue;
    for (let k = 0; k < 10; k++) out[i * 15 + k] = t.cls[i * 10 + k] ? 10 : -10;
    for (let j = 0; j < 4; j++) out[i * 15 + 10 + j] = Math.log(t.ltrb[i * 4 + j]);
    out[i * 15 + 14] = Math.log(t.centerness[i] / (1 - t.centerness[i] + 1e-6));
  }
  const outputs = tf.tensor3d(out, [B, L, 15]);
  const dets = await decode(outputs, levels);
  outputs.dispose();
  // the ceiling is below 1: a few boxes get no location (see AssignOptions.ranges)
  const r = averagePrecision(dets, scenes.boxes.map((boxes, i) => ({boxes, labels: scenes.labels[i]})), {classes: 10});
  assert.ok(r.ap50 >= 0.9 && r.ap >= 0.9, `AP ${r.ap}, AP50 ${r.ap50}`);
  // evaluateDetector: the same figures through batches of 16 (the forward returns those images' oracle outputs)
  const viaBatches = await evaluateDetector((xs) => tf.tensor3d(out.subarray(seen * L * 15, (seen += xs.shape[0]) * L * 15), [xs.shape[0], L, 15]), scenes, levels, {batchSize: 16});
  assert.equal(seen, B);
  assert.deepEqual(viaBatches, r);
  assert.equal(tf.memory().numTensors, before);
});

// ---- model and pruning ----

/** model.dispose() for a model with shared layers: tfjs counts one reference per call of a layer. */


test('fpnDetector: one output [B, 84, K + 5]; FPN laterals coupled by the adds; shared heads couple all levels', () => {
  const before = tf.memory().numTensors;
  const model = fpnDetector({inputShape: [64, 64, 1], classes: 10, seed: 1, width: 8});
  assert.deepEqual(model.outputs.map((o) => o.shape), [[null, 84, 15]]);
  const g = group(model);
  const producing = (name: string) => g.spaces.find((s) => s.producers.includes(name))!;
  const lateral = producing('fpn_lateral3');
  assert.deepEqual([...lateral.producers].sort(), ['fpn_lateral3', 'fpn_lateral4', 'fpn_lateral5']);
  assert.deepEqual([...lateral.consumers].sort(), ['fpn_out3', 'fpn_out4', 'fpn_out5']);
  const pyramid = producing('fpn_out3');
  assert.deepEqual([...pyramid.producers].sort(), ['fpn_out3', 'fpn_out4', 'fpn_out5']);
  assert.deepEqual([...pyramid.consumers].sort(), ['box_tower_conv1', 'cls_tower_conv1']);
  assert.ok(lateral.prunable && pyramid.prunable);
  assert.equal(producing('cls_logits').prunable, false, 'the model output is not prunable');
  assert.equal(producing('box_tower_conv2').consumers.length, 2, 'box and centerness outputs read one tower');
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

for (const headNorm of [false, true]) test(`fpnDetector${headNorm ? ' with headNorm' : ''}: the pruned model equals the masked model after random pruning`, () => {
  const before = tf.memory().numTensors;
  const model = fpnDetector({inputShape: [64, 64, 1], classes: 3, seed: 2, width: 8, headNorm});
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    tf.tidy(() => layer.setWeights(layer.getWeights().map((w, i) => tf.randomUniform(w.shape, i === 3 ? 0.5 : -0.5, 1.5, 'float32', 11 + i))));
  }
  // head kernels start at stddev 0.01: scale them up so that pruned head channels matter
  for (const name of ['cls_tower_conv1', 'cls_tower_conv2', 'box_tower_conv1', 'box_tower_conv2', 'cls_logits', 'box_ltrb', 'centerness']) {
    const layer = model.getLayer(name);
    tf.tidy(() => layer.setWeights(layer.getWeights().map((w) => w.mul(30))));
  }
  const g = group(model);
  for (const seed of [7, 8]) {
    const kept = randomKept(g, seed);
    const err = tf.tidy(() => {
      const x = tf.randomUniform([2, 64, 64, 1], 0, 1, 'float32', seed);
      const masks = maskTensors(g, kept);
      const a = maskedForward(g, masks, x, false);
      tf.dispose([...masks.values()]);
      const small = exportPruned(g, kept);
      const b = small.predict(x) as tf.Tensor;
      assert.deepEqual(b.shape, [2, 84, 8]);
      const measured = countCosts(small);
      const counted = costsOf(g, kept);
      assert.equal(counted.macs, measured.macs, 'pruner MACs == measured MACs of the exported model');
      assert.equal(counted.memory, measured.memory);
      assert.ok(measured.macs < countCosts(model).macs);
      const e = tf.max(tf.abs(a.sub(b))).dataSync()[0] / Math.max(1e-6, tf.max(tf.abs(a)).dataSync()[0]);
      small.dispose();
      return e;
    });
    assert.ok(err < 1e-4, `relative error ${err}`);
  }
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

// ---- training smoke (wasm) ----

test('training on wasm: the loss on a fixed batch falls within 30 steps', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const scenes = detectionScenes(await items, {count: 256, seed: 9});
  const model = fpnDetector({inputShape: [64, 64, 1], classes: 10, seed: 1, width: 8});
  const optimizer = new Optimizer({name: 'adam'});
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const forward = (x: tf.Tensor4D, training: boolean) => model.apply(x, {training}) as tf.Tensor3D;
  const fixed = scenes.subset(Array.from({length: 32}, (_, i) => i));
  const loss = {gamma: 2}; // the focal loss of the paper (the 0.8 bound was set with it; trainDetector's test covers the default)
  const lossOnFixed = (): number => {
    const [b] = fixed.batches(32);
    const t = assignTargets(b.boxes, b.labels, levels, 10);
    const v = tf.tidy(() => detectionLoss(forward(b.xs, true), t, loss).dataSync()[0]);
    b.xs.dispose();
    return v;
  };
  const start = lossOnFixed();
  let steps = 0;
  for (let epoch = 0; steps < 30; epoch++) {
    for (const b of scenes.batches(16, {shuffle: true, seed: epoch})) {
      if (steps++ >= 30) { b.xs.dispose(); break; }
      try {
        await detectionStep({forward, variables, optimizer, lr: 2e-3, levels, classes: 10, loss}, b);
      } finally {
        b.xs.dispose();
      }
    }
  }
  const end = lossOnFixed();
  assert.ok(end < 0.8 * start, `loss ${start} -> ${end}`);
  optimizer.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('trainDetector: runs exactly `steps` optimizer steps across epochs, lowers the loss, frees its tensors', async () => {
  await useBackend('wasm');
  const scenes = detectionScenes(await items, {count: 24, seed: 4});
  const model = fpnDetector({inputShape: [64, 64, 1], classes: 10, seed: 1, width: 8});
  const before = tf.memory().numTensors;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new Optimizer({name: 'adam'});
  const forward = (x: tf.Tensor4D, training: boolean) => model.apply(x, {training}) as tf.Tensor3D;
  const [b] = scenes.batches(24);
  const t = assignTargets(b.boxes, b.labels, levels, 10);
  const lossNow = () => tf.tidy(() => detectionLoss(forward(b.xs, true), t).dataSync()[0]);
  const start = lossNow();
  const r = await trainDetector(forward, variables, scenes, levels, {steps: 7, batchSize: 8, optimizer, lr: 2e-3, warmupSteps: 2});
  assert.equal(r.steps, 7, '3 batches per epoch: the third epoch stops after one batch');
  assert.equal(optimizer.step, 7);
  assert.ok(lossNow() < start, 'loss on the seen scenes falls');
  b.xs.dispose();
  optimizer.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('trainDetector: a function of the epoch gives each epoch its own set, called once per epoch in order', async () => {
  await useBackend('wasm');
  const sets = [detectionScenes(await items, {count: 16, seed: 4}), detectionScenes(await items, {count: 16, seed: 5})];
  const model = fpnDetector({inputShape: [64, 64, 1], classes: 10, seed: 1, width: 8});
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const calls: number[] = [];
  const seen: number[] = [];
  // one batch = the whole set (shuffled): its pixel sum names the set
  const forward = (x: tf.Tensor4D, training: boolean) => { if (training) seen.push(tf.tidy(() => x.sum().dataSync()[0])); return model.apply(x, {training}) as tf.Tensor3D; };
  const r = await trainDetector(forward, variables, (epoch) => { calls.push(epoch); return sets[epoch % 2]; }, levels, {steps: 5, batchSize: 16, warmupSteps: 0});
  assert.equal(r.steps, 5);
  assert.deepEqual(calls, [0, 1, 2, 3, 4], 'one call per epoch of one batch');
  const sums = sets.map((ds) => ds.images.reduce((a, v) => a + v / 255, 0));
  assert.ok(Math.abs(sums[0] - sums[1]) > 1);
  seen.forEach((v, epoch) => assert.ok(Math.abs(v - sums[epoch % 2]) < 1e-3 * sums[0], `epoch ${epoch}: pixel sum ${v}, expected ${sums[epoch % 2]}`));
  model.dispose();
});

test('fashion-scenes: epoch 0 trains on the train scenes, later epochs on new scenes of the same size', async () => {
  const {train, test: held, epochs} = await loadDetectionDataset('fashion-scenes', 8);
  assert.ok(epochs);
  assert.equal(epochs(0), train);
  const [a, b] = [epochs(1), epochs(2)];
  assert.equal(a.size, 8);
  assert.notDeepEqual(a.images, train.images);
  assert.notDeepEqual(a.images, b.images);
  assert.deepEqual(epochs(1).images, a.images, 'seeded');
  assert.equal(held.size, 8);
});

test('DetectionDataset: bad boxes are rejected with the image and box index', () => {
  assert.throws(() => new DetectionDataset({name: 'bad', images: new Uint8Array(16), shape: [4, 4, 1], boxes: [box(0, 0, 5, 2)], labels: [Int32Array.of(0)], classes: 1}),
    /DetectionDataset 'bad': image 0 box 0 \[0, 0, 5, 2\] is empty or outside the 4x4 image/);
});

test('Fisher of the detector with the detection loss: shared heads sum every level before squaring', async () => {
  await useBackend('wasm');
  const scenes = detectionScenes(await items, {count: 8, seed: 2});
  const model = fpnDetector({inputShape: [64, 64, 1], classes: 10, seed: 3, width: 8});
  const p = pruner(model, {loss: (outputs: tf.Tensor3D, b: DetectionBatch) => detectionLoss(outputs, assignTargets(b.boxes, b.labels, levels, 10))});
  const before = tf.memory().numTensors;
  const report = await p.score(scenes.batches(4), {steps: 2});
  assert.equal(report.steps, 2);
  const heads = report.spaces.filter((s) => s.consumers.some((c) => c.startsWith('cls_') || c.startsWith('box_')));
  assert.ok(heads.length > 0);
  for (const s of heads) assert.ok(s.fisher.every((v) => Number.isFinite(v) && v >= 0) && s.fisher.some((v) => v > 0), s.consumers.join(','));
  p.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});
