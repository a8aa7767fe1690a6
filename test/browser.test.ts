import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {existsSync, promises as fs} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {after, before, test} from 'node:test';
import {useBackend} from '../src/backend';
import {demo, DemoState} from '../src/cli/demo';
import {fashionMnist} from '../src/data';
import {BrowserSession, findChromium, measureInBrowser, serveAssets} from '../src/measure/browser';
import * as http from 'node:http';
import {zoo} from '../src/models';
import {saveModel} from '../src/train/checkpoint';

// Chromium is required: without it these tests fail with the install hint (CI installs it).
let tmp: string;
const dirs: Record<string, string> = {};
const models: Record<string, tf.LayersModel> = {};

before(async () => {
  await useBackend('wasm');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gfp-browser-test-'));
  const build = {
    resnet20: () => zoo.resnet20({inputShape: [16, 16, 1], classes: 10, seed: 1}),
    resnext: () => zoo.resnext({inputShape: [16, 16, 1], classes: 10, seed: 2}), // GroupConv2D layers
    fashion: () => zoo.resnet20({inputShape: [28, 28, 1], classes: 10, seed: 3}),
    fashionBaseline: () => zoo.resnet20({inputShape: [28, 28, 1], classes: 10, seed: 4}),
  };
  for (const [name, make] of Object.entries(build)) {
    models[name] = make();
    dirs[name] = path.join(tmp, name);
    await saveModel(models[name], dirs[name]);
  }
});

after(async () => {
  Object.values(models).forEach((m) => m.dispose());
  await fs.rm(tmp, {recursive: true, force: true});
});

/** Deterministic inputs [4, 16, 16, 1] in [0, 1]. */
const inputs = (): tf.Tensor4D => tf.tidy(() => tf.sin(tf.range(0, 4 * 16 * 16).mul(0.37)).add(1).div(2).reshape([4, 16, 16, 1]));

test('the wasm backend in Chromium predicts what Node wasm predicts (plain and GroupConv2D models)', {timeout: 60_000}, async () => {
  const before = tf.memory().numTensors;
  const session = await BrowserSession.open({resnet20: dirs.resnet20, resnext: dirs.resnext});
  const x = inputs();
  try {
    assert.equal(await session.useBackend('wasm'), undefined);
    for (const id of ['resnet20', 'resnext']) {
      await session.load(id);
      assert.deepEqual(await session.inputShape(id), [16, 16, 1]);
      const inBrowser = await session.predict(id, x);
      const inNode = models[id].predict(x) as tf.Tensor;
      assert.deepEqual(inBrowser.shape, [4, 10]);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(inBrowser, inNode))).dataSync()[0]);
      const scale = tf.tidy(() => tf.max(tf.abs(inNode)).dataSync()[0]);
      tf.dispose([inBrowser, inNode]);
      assert.ok(scale > 1e-3, `${id}: logits are all near zero, the comparison would be vacuous`);
      assert.ok(diff <= 1e-4, `${id}: browser and Node logits differ by ${diff}`);
    }
  } finally {
    x.dispose();
    await session.close();
  }
  assert.equal(tf.memory().numTensors, before);
});

test('measureInBrowser times an in-memory model at batch 1 and 2 in the installed Chromium', {timeout: 60_000}, async () => {
  const before = tf.memory().numTensors;
  const run = await measureInBrowser(models.resnet20, {batchSize: [1, 2], runs: 4, warmup: 1, backends: ['wasm']});
  const version = execFileSync(findChromium(), ['--version'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).match(/\d+\.\d+\.\d+\.\d+/)?.[0];
  assert.ok(version !== undefined && run.browser.endsWith(version), `${run.browser} vs chromium --version ${version}`);
  assert.deepEqual(run.measurements.map((m) => m.backend), ['wasm']);
  const [{latency}] = run.measurements;
  assert.deepEqual(latency.map((l) => [l.batchSize, l.runs]), [[1, 4], [2, 4]]);
  for (const l of latency) {
    assert.ok(Number.isFinite(l.medianMs) && l.medianMs > 0, `median ${l.medianMs}`);
    assert.ok(l.minMs <= l.medianMs && l.medianMs <= l.maxMs, JSON.stringify(l));
    assert.ok(l.iqrMs !== undefined && l.iqrMs >= 0 && l.iqrMs <= l.maxMs - l.minMs, JSON.stringify(l));
  }
  assert.equal(tf.memory().numTensors, before);
});

test('measureInBrowser times two models interleaved on 1 and 2 wasm threads, each count on a fresh cross-origin isolated page', {timeout: 120_000}, async () => {
  const run = await measureInBrowser([models.resnet20, dirs.resnet20], {batchSize: [2], runs: 3, warmup: 1, backends: ['wasm'], threads: [1, 2]});
  assert.deepEqual(run.measurements.map((m) => [m.backend, m.threads, m.model]), [['wasm', 1, 0], ['wasm', 1, 1], ['wasm', 2, 0], ['wasm', 2, 1]]);
  for (const m of run.measurements) {
    assert.match(m.device, /threads true, cross-origin isolated true/, 'the page can run wasm threads');
    assert.deepEqual(m.latency.map((l) => [l.batchSize, l.runs]), [[2, 3]]);
    assert.ok(m.latency[0].medianMs > 0);
  }
  await assert.rejects(measureInBrowser(dirs.resnet20, {threads: [0]}), /threads must be an integer >= 1/);
  await assert.rejects(measureInBrowser([]), /no model given/);
});

test('measureInBrowser rejects bad options and a missing browser with the install hint', {timeout: 60_000}, async () => {
  await assert.rejects(measureInBrowser(dirs.resnet20, {runs: 0}), /option runs must be an integer >= 1/);
  await assert.rejects(measureInBrowser(path.join(tmp, 'nowhere')), /no model\.json at .*nowhere/);
  const saved = process.env.GFP_CHROMIUM;
  process.env.GFP_CHROMIUM = path.join(tmp, 'no-such-chromium');
  try {
    await assert.rejects(measureInBrowser(dirs.resnet20), /GFP_CHROMIUM .*does not exist; install it with `apt-get install chromium`/);
  } finally {
    if (saved === undefined) delete process.env.GFP_CHROMIUM;
    else process.env.GFP_CHROMIUM = saved;
  }
});

test('gfp demo writes and serves a page that classifies test images with both models as Node does', {timeout: 60_000}, async () => {
  const before = tf.memory().numTensors;
  const out = path.join(tmp, 'demo');
  const site = await demo(dirs.fashion, {baseline: dirs.fashionBaseline, out, serve: true, images: 8});
  const session = await BrowserSession.open({});
  try {
    for (const f of ['index.html', 'lib/tf.min.js', 'lib/tfjs-backend-wasm-simd.wasm', 'lib/group_conv2d.js', 'models/pruned/weights.bin', 'models/baseline/model.json']) {
      assert.ok(existsSync(path.join(out, f)), `${f} not written`);
    }
    await session.page.goto(site.url!);
    await session.page.waitForFunction(() => {
      const s = (globalThis as unknown as {gfpDemo?: DemoState}).gfpDemo;
      return s?.error !== undefined || (s?.ready && Object.values(s.models).every((m) => m.medianMs[1] !== undefined && m.medianMs[8] !== undefined));
    }, undefined, {timeout: 30_000});
    const state = await session.page.evaluate(() => (globalThis as unknown as {gfpDemo: DemoState}).gfpDemo);
    assert.equal(state.error, undefined);
    assert.equal(state.backend, 'wasm');
    const {test: images} = await fashionMnist({limit: {train: 1, test: 8}});
    const {xs, ys, labels} = images.batches(8).next().value!;
    try {
      for (const [id, name] of [['pruned', 'fashion'], ['baseline', 'fashionBaseline']]) {
        const expected = Array.from(tf.tidy(() => (models[name].predict(xs) as tf.Tensor).argMax(1).dataSync()));
        assert.deepEqual(state.models[id].predicted, expected, `${id} predictions`);
        const accuracy = expected.filter((p, i) => p === labels[i]).length / 8;
        assert.equal(state.models[id].accuracy, accuracy);
        assert.ok(Number.isFinite(state.models[id].medianMs[1]) && state.models[id].medianMs[1] > 0);
      }
    } finally {
      tf.dispose([xs, ys]);
    }
  } finally {
    await session.close();
    await site.close();
  }
  assert.equal(tf.memory().numTensors, before);
});

/** Status and headers of one raw GET (path sent as written, Host as given). */
const rawGet = (url: string, rawPath: string, host?: string): Promise<{status: number; headers: http.IncomingHttpHeaders}> =>
  new Promise((resolve, reject) => {
    const {hostname, port} = new URL(url);
    const req = http.request({hostname, port, path: rawPath, headers: host ? {host} : {}}, (res) => {
      res.resume();
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers}));
    });
    req.on('error', reject);
    req.end();
  });

test('the page server answers malformed paths and foreign hosts and stays up', async () => {
  const served = await serveAssets({'index.html': {text: '<p>hi</p>'}});
  try {
    assert.equal((await rawGet(served.url, '/%')).status, 400);
    assert.equal((await rawGet(served.url, '/%E0%A4%A')).status, 400);
    assert.equal((await rawGet(served.url, '/', 'evil.example:80')).status, 421);
    assert.equal((await rawGet(served.url, '/../../etc/passwd')).status, 404);
    const ok = await rawGet(served.url, '/');
    assert.equal(ok.status, 200, 'still serving after the bad requests');
    // cross-origin isolated, so the browser may run threaded wasm
    assert.equal(ok.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(ok.headers['cross-origin-embedder-policy'], 'require-corp');
  } finally {
    await served.close();
  }
});
