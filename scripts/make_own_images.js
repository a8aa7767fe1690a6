#!/usr/bin/env node
// @ts-check
/**
 * Writes datasets/own-images/: an image folder the way a user keeps one (one sub-folder per class, PNG and
 * JPEG files of 32x32 RGB), made from the shipped Fashion-MNIST test images: each 28x28 item is tinted, placed
 * at a random offset on a coloured background. Deterministic (seeded); run it again to get the same files.
 *   node scripts/make_own_images.js [--per-class 80] [--out datasets/own-images]
 */
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const {PNG} = require('pngjs');
const jpeg = require('jpeg-js');

const root = path.join(__dirname, '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const perClass = Number(arg('--per-class', 80));
const out = path.resolve(arg('--out', path.join(root, 'datasets', 'own-images')));
// Fashion-MNIST label -> folder name
const classes = {0: 't-shirt', 1: 'trouser', 5: 'sandal', 8: 'bag'};
const side = 32;

// IDX: images [n, 28, 28] uint8 after a 16-byte header, labels [n] after an 8-byte header
const read = (file) => zlib.gunzipSync(fs.readFileSync(path.join(root, 'datasets', 'fashion-mnist', file)));
const images = read('t10k-images-idx3-ubyte.gz').subarray(16);
const labels = read('t10k-labels-idx1-ubyte.gz').subarray(8);

// mulberry32: a small seeded generator, so the files do not change between runs
let state = 20261206;
const random = () => {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const colour = (lo, hi) => [0, 1, 2].map(() => lo + (hi - lo) * random());

/** One 32x32 RGBA picture [y, x, 4] of item `index`. */
function picture(index) {
  const background = colour(150, 255);
  const ink = colour(0, 120);
  const [dx, dy] = [Math.floor(random() * 5), Math.floor(random() * 5)];
  const rgba = Buffer.alloc(side * side * 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const [sx, sy] = [x - dx, y - dy];
      const a = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? images[index * 784 + sy * 28 + sx] / 255 : 0; // item coverage
      const o = (y * side + x) * 4;
      for (let c = 0; c < 3; c++) rgba[o + c] = Math.round(background[c] * (1 - a) + ink[c] * a);
      rgba[o + 3] = 255;
    }
  }
  return rgba;
}

fs.rmSync(out, {recursive: true, force: true});
let written = 0;
for (const [label, name] of Object.entries(classes)) {
  const dir = path.join(out, name);
  fs.mkdirSync(dir, {recursive: true});
  let n = 0;
  for (let i = 0; i < labels.length && n < perClass; i++) {
    if (labels[i] !== Number(label)) continue;
    const rgba = picture(i);
    n++;
    // every fourth file a JPEG, as in a folder of photos and screenshots
    const file = path.join(dir, `${name}_${String(n).padStart(3, '0')}.${n % 4 === 0 ? 'jpg' : 'png'}`);
    if (n % 4 === 0) {
      fs.writeFileSync(file, jpeg.encode({data: rgba, width: side, height: side}, 90).data);
    } else {
      const png = new PNG({width: side, height: side});
      rgba.copy(png.data);
      fs.writeFileSync(file, PNG.sync.write(png));
    }
    written++;
  }
}
console.log(`wrote ${written} images of ${Object.keys(classes).length} classes to ${path.relative(process.cwd(), out) || '.'}`);
