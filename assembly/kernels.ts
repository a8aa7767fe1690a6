// SIMD kernels for the wasm backend, compiled by AssemblyScript (npm run build) into a module that
// imports the tfjs wasm backend's memory: pointers are tensors' byte offsets in that heap, so nothing is
// copied. No static data, no allocation: the module writes only the outputs it is given.

/**
 * dW [kh, kw, C, m] of a depthwise conv over the images of `chunks` fixed chunks of b (chunks [j0, j1) here):
 * chunk j's dW goes to partials + j dW sizes, zeroed here, for the caller to add up in chunk order, so that
 * the sums do not depend on which thread took which chunk. Splitting the images, not the channels: each
 * thread then reads its own memory (a channel split read every pixel's cache lines on every thread).
 */
export function depthwiseFilterGradChunks(x: usize, dy: usize, partials: usize, b: i32, h: i32, w: i32, c: i32, m: i32,
  ho: i32, wo: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32, chunks: i32, j0: i32, j1: i32): void {
  const size = <usize>(kh * kw * c * m) << 2;
  for (let j = j0; j < j1; j++) {
    const n0 = chunkStart(j, b, chunks);
    const dw = partials + <usize>j * size;
    memory.fill(dw, 0, size);
    depthwiseFilterGrad(x + (<usize>(n0 * h * w * c) << 2), dy + (<usize>(n0 * ho * wo * c * m) << 2), dw, chunkStart(j + 1, b, chunks) - n0,
      h, w, c, m, ho, wo, kh, kw, sh, sw, pt, pl);
  }
}

/**
 * dW [kh, kw, C, m] of a depthwise conv with stride (sh, sw) and top/left padding (pt, pl): every dy pixel
 * adds x's taps times dy, four channels at a time where m = 1. Adds to dW, which the caller zeroed.
 */
function depthwiseFilterGrad(x: usize, dy: usize, dw: usize, b: i32, h: i32, w: i32, c: i32, m: i32,
  ho: i32, wo: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32): void {
  const cm = c * m;
  if (m == 1 && (c & 3) == 0 && sh == 1 && sw == 1) {
    depthwiseFilterGradRows(x, dy, dw, b, h, w, c, ho, wo, kh, kw, pt, pl);
    return;
  }
  for (let n = 0; n < b; n++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - pt + ky;
        if (iy < 0 || iy >= h) continue;
        for (let ox = 0; ox < wo; ox++) {
          const d = dy + ((<usize>(((n * ho + oy) * wo + ox) * cm)) << 2);
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pl + kx;
            if (ix < 0 || ix >= w) continue;
            const xo = x + ((<usize>(((n * h + iy) * w + ix) * c)) << 2);
            const a = dw + ((<usize>((ky * kw + kx) * cm)) << 2);
            if (m == 1) {
              let k = 0;
              for (; k + 4 <= c; k += 4) {
                const o = <usize>k << 2;
                v128.store(a + o, f32x4.add(v128.load(a + o), f32x4.mul(v128.load(xo + o), v128.load(d + o))));
              }
              for (; k < c; k++) {
                const o = <usize>k << 2;
                store<f32>(a + o, load<f32>(a + o) + load<f32>(xo + o) * load<f32>(d + o));
              }
            } else {
              for (let k = 0; k < c; k++) {
                const v = load<f32>(xo + (<usize>k << 2));
                for (let q = 0; q < m; q++) {
                  const o = <usize>(k * m + q) << 2;
                  store<f32>(a + o, load<f32>(a + o) + v * load<f32>(d + o));
                }
              }
            }
          }
        }
      }
    }
  }
}

/** dw[tap] (C channels, a multiple of 4) += sum over `count` pixels of x * dy, 8 (or 4) channels at a time in registers. */
// @ts-ignore: decorator
@inline function tapSums(tap: usize, xp: usize, dp: usize, count: i32, xStep: usize, pixel: usize, c: i32): void {
  for (let k = 0; k < c; k += 8) {
    const o = <usize>k << 2;
    let xq = xp + o;
    let dq = dp + o;
    if (k + 8 <= c) {
      let a0 = v128.load(tap + o);
      let a1 = v128.load(tap + o, 16);
      for (let i = 0; i < count; i++, xq += xStep, dq += pixel) {
        a0 = f32x4.add(a0, f32x4.mul(v128.load(xq), v128.load(dq)));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(xq, 16), v128.load(dq, 16)));
      }
      v128.store(tap + o, a0);
      v128.store(tap + o, a1, 16);
    } else { // the last 4 channels
      let a0 = v128.load(tap + o);
      for (let i = 0; i < count; i++, xq += xStep, dq += pixel) a0 = f32x4.add(a0, f32x4.mul(v128.load(xq), v128.load(dq)));
      v128.store(tap + o, a0);
    }
  }
}

/**
 * depthwiseFilterGrad for m = 1, stride 1, c a multiple of 4, dw zeroed:
 * one output row at a time (its x and dy rows stay in L1), each tap's channels summed in registers along
 * the row; with 3 taps a row, the columns where all three land inside x sum them together, each x pixel
 * loaded once for the three.
 */
function depthwiseFilterGradRows(x: usize, dy: usize, dw: usize, b: i32, h: i32, w: i32, c: i32,
  ho: i32, wo: i32, kh: i32, kw: i32, pt: i32, pl: i32): void {
  const pixel = <usize>c << 2;
  // columns where every tap of a 3-wide row lands inside x: 0 <= ox - pl and ox - pl + 2 < w
  const lo = kw == 3 ? min(wo, max(0, pl)) : wo;
  const hi = kw == 3 ? max(lo, min(wo, w - 2 + pl)) : wo;
  for (let n = 0; n < b; n++) {
    for (let oy = 0; oy < ho; oy++) {
      const dRow = dy + <usize>((n * ho + oy) * wo) * pixel;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy - pt + ky;
        if (iy < 0 || iy >= h) continue;
        const xRow = x + <usize>((n * h + iy) * w - pl) * pixel; // x pixel of column ox and tap kx: xRow + (ox + kx) * pixel
        const taps = dw + <usize>(ky * kw) * pixel;
        for (let kx = 0; kx < kw; kx++) {
          // columns where tap kx lands inside x (0 <= ox - pl + kx < w), less [lo, hi)
          const a = max(0, pl - kx);
          const e = min(wo, w + pl - kx);
          const tap = taps + <usize>kx * pixel;
          const cut0 = min(e, lo);
          if (a < cut0) tapSums(tap, xRow + <usize>(a + kx) * pixel, dRow + <usize>a * pixel, cut0 - a, pixel, pixel, c);
          const cut1 = max(a, hi);
          if (cut1 < e) tapSums(tap, xRow + <usize>(cut1 + kx) * pixel, dRow + <usize>cut1 * pixel, e - cut1, pixel, pixel, c);
        }
        if (lo >= hi) continue;
        let k = 0;
        for (; k + 8 <= c; k += 8) threeTaps8(taps, xRow + <usize>lo * pixel + (<usize>k << 2), dRow + <usize>lo * pixel + (<usize>k << 2), hi - lo, pixel, <usize>k << 2);
        if (k < c) threeTaps4(taps, xRow + <usize>lo * pixel + (<usize>k << 2), dRow + <usize>lo * pixel + (<usize>k << 2), hi - lo, pixel, <usize>k << 2);
      }
    }
  }
}

/**
 * The three taps of a kernel row (at taps + o, taps + pixel + o, taps + 2 pixel + o) += x * dy over
 * `count` columns, 8 channels: each x pixel loaded once for the three, six independent sums (four
 * chains or fewer wait on the add's latency).
 */
function threeTaps8(taps: usize, xp: usize, dp: usize, count: i32, pixel: usize, o: usize): void {
  const t0 = taps + o;
  const t1 = t0 + pixel;
  const t2 = t1 + pixel;
  let a0 = v128.load(t0), b0 = v128.load(t0, 16), a1 = v128.load(t1), b1 = v128.load(t1, 16), a2 = v128.load(t2), b2 = v128.load(t2, 16);
  let x0 = v128.load(xp), y0 = v128.load(xp, 16), x1 = v128.load(xp + pixel), y1 = v128.load(xp + pixel, 16);
  xp += 2 * pixel;
  for (let i = 0; i < count; i++, xp += pixel, dp += pixel) {
    const x2 = v128.load(xp), y2 = v128.load(xp, 16);
    const d = v128.load(dp), e = v128.load(dp, 16);
    a0 = f32x4.add(a0, f32x4.mul(x0, d)); b0 = f32x4.add(b0, f32x4.mul(y0, e));
    a1 = f32x4.add(a1, f32x4.mul(x1, d)); b1 = f32x4.add(b1, f32x4.mul(y1, e));
    a2 = f32x4.add(a2, f32x4.mul(x2, d)); b2 = f32x4.add(b2, f32x4.mul(y2, e));
    x0 = x1; y0 = y1; x1 = x2; y1 = y2;
  }
  v128.store(t0, a0); v128.store(t0, b0, 16); v128.store(t1, a1); v128.store(t1, b1, 16); v128.store(t2, a2); v128.store(t2, b2, 16);
}

/** threeTaps8 for the last 4 channels. */
function threeTaps4(taps: usize, xp: usize, dp: usize, count: i32, pixel: usize, o: usize): void {
  const t0 = taps + o;
  const t1 = t0 + pixel;
  const t2 = t1 + pixel;
  let a0 = v128.load(t0), a1 = v128.load(t1), a2 = v128.load(t2);
  let x0 = v128.load(xp), x1 = v128.load(xp + pixel);
  xp += 2 * pixel;
  for (let i = 0; i < count; i++, xp += pixel, dp += pixel) {
    const x2 = v128.load(xp);
    const d = v128.load(dp);
    a0 = f32x4.add(a0, f32x4.mul(x0, d));
    a1 = f32x4.add(a1, f32x4.mul(x1, d));
    a2 = f32x4.add(a2, f32x4.mul(x2, d));
    x0 = x1;
    x1 = x2;
  }
  v128.store(t0, a0); v128.store(t1, a1); v128.store(t2, a2);
}

/**
 * dx [B, H, W, C] of a depthwise conv with multiplier 1, filter [kh, kw, C],
 * stride (sh, sw), top/left padding (pt, pl): every dy pixel adds dy * w[tap] into the x pixel each tap
 * read, four channels at a time (no zero insertion for strides > 1).
 */
export function depthwiseInputGrad(dy: usize, f: usize, dx: usize, b: i32, h: i32, w: i32, c: i32,
  ho: i32, wo: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32): void {
  const c4 = c & ~3;
  memory.fill(dx, 0, <usize>(b * h * w * c) << 2);
  for (let n = 0; n < b; n++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - pt + ky;
        if (iy < 0 || iy >= h) continue;
        for (let ox = 0; ox < wo; ox++) {
          const d = dy + ((<usize>(((n * ho + oy) * wo + ox) * c)) << 2);
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pl + kx;
            if (ix < 0 || ix >= w) continue;
            const xo = dx + ((<usize>(((n * h + iy) * w + ix) * c)) << 2);
            const t = f + ((<usize>((ky * kw + kx) * c)) << 2);
            let k = 0;
            for (; k < c4; k += 4) {
              const o = <usize>k << 2;
              v128.store(xo + o, f32x4.add(v128.load(xo + o), f32x4.mul(v128.load(d + o), v128.load(t + o))));
            }
            for (; k < c; k++) {
              const o = <usize>k << 2;
              store<f32>(xo + o, load<f32>(xo + o) + load<f32>(d + o) * load<f32>(t + o));
            }
          }
        }
      }
    }
  }
}

/**
 * dx[i] = lo <= x[i] <= hi ? dy[i] : 0 over n float32s (ClipByValue's gradient), or lo < x[i] <= hi
 * when openLow (ReLU6's: 0 < x <= 6).
 */
export function clipGrad(x: usize, dy: usize, dx: usize, n: i32, lo: f32, hi: f32, openLow: bool): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    const above = openLow ? f32x4.gt(v, vlo) : f32x4.ge(v, vlo);
    v128.store(dx + o, v128.and(v128.load(dy + o), v128.and(above, f32x4.le(v, vhi))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(dx + o, (openLow ? v > lo : v >= lo) && v <= hi ? load<f32>(dy + o) : 0);
  }
}

/**
 * dW [kh, kw, Ci, Co] of a conv2d, Ci a multiple of 4 and Co of 8, with
 * stride (sh, sw) and top/left padding (pt, pl). A few images at a time, each tile of 4 input by 8
 * output channels of one tap is held in eight registers while it sums x * dy over their pixels (which
 * stay in cache across the tiles). Only tiles [t0, t1) of every tap (tile t: input channels 4 * (t / (Co / 8)),
 * output channels 8 * (t % (Co / 8))), added to dW, which the caller zeroed: threads split the tiles.
 */
export function convFilterGrad(x: usize, dy: usize, dw: usize, b: i32, h: i32, w: i32, ci: i32, co: i32,
  ho: i32, wo: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32, t0: i32, t1: i32): void {
  const xPix = <usize>ci << 2;
  const dPix = <usize>co << 2;
  const rowTiles = co >> 3;
  // images per pass: as many as keep their x and dy within ~256 KB of cache
  const group = max(1, 262144 / ((h * w * ci + ho * wo * co) * 4));
  for (let n0 = 0; n0 < b; n0 += group) {
    const n1 = min(b, n0 + group);
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        // output columns whose tap kx lands inside the image: 0 <= ox * sw - pl + kx < w
        const oxLo = max(0, (pl - kx + sw - 1) / sw);
        const last = w - 1 + pl - kx;
        const oxHi = last < 0 ? 0 : min(wo, last / sw + 1);
        if (oxLo >= oxHi) continue;
        const tap = dw + <usize>((ky * kw + kx) * ci * co) * 4;
        for (let t = t0; t < t1; t++) {
          const c0 = (t / rowTiles) << 2;
          const o0 = (t % rowTiles) << 3;
          const r0 = tap + <usize>(c0 * co + o0) * 4;
          const r1 = r0 + dPix;
          const r2 = r1 + dPix;
          const r3 = r2 + dPix;
          let a00 = v128.load(r0), a01 = v128.load(r0, 16), a10 = v128.load(r1), a11 = v128.load(r1, 16);
          let a20 = v128.load(r2), a21 = v128.load(r2, 16), a30 = v128.load(r3), a31 = v128.load(r3, 16);
          for (let n = n0; n < n1; n++) {
            const xImage = x + <usize>(n * h * w) * xPix;
            const dImage = dy + <usize>(n * ho * wo) * dPix;
            for (let oy = 0; oy < ho; oy++) {
              const iy = oy * sh - pt + ky;
              if (iy < 0 || iy >= h) continue;
              let xp = xImage + <usize>(iy * w + oxLo * sw - pl + kx) * xPix + (<usize>c0 << 2);
              let dp = dImage + <usize>(oy * wo + oxLo) * dPix + (<usize>o0 << 2);
              const xStep = <usize>sw * xPix;
              for (let ox = oxLo; ox < oxHi; ox++, xp += xStep, dp += dPix) {
                const d0 = v128.load(dp), d1 = v128.load(dp, 16);
                const x0 = v128.load32_splat(xp), x1 = v128.load32_splat(xp, 4), x2 = v128.load32_splat(xp, 8), x3 = v128.load32_splat(xp, 12);
                a00 = f32x4.add(a00, f32x4.mul(x0, d0)); a01 = f32x4.add(a01, f32x4.mul(x0, d1));
                a10 = f32x4.add(a10, f32x4.mul(x1, d0)); a11 = f32x4.add(a11, f32x4.mul(x1, d1));
                a20 = f32x4.add(a20, f32x4.mul(x2, d0)); a21 = f32x4.add(a21, f32x4.mul(x2, d1));
                a30 = f32x4.add(a30, f32x4.mul(x3, d0)); a31 = f32x4.add(a31, f32x4.mul(x3, d1));
              }
            }
          }
          v128.store(r0, a00); v128.store(r0, a01, 16); v128.store(r1, a10); v128.store(r1, a11, 16);
          v128.store(r2, a20); v128.store(r2, a21, 16); v128.store(r3, a30); v128.store(r3, a31, 16);
        }
      }
    }
  }
}

/** acc[k..k+3] (float64) += v's four lanes. */
// @ts-ignore: decorator
@inline function accumulate4(acc: usize, v: v128): void {
  v128.store(acc, f64x2.add(v128.load(acc), f64x2.promote_low_f32x4(v)));
  v128.store(acc, f64x2.add(v128.load(acc, 16), f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1))), 16);
}

/**
 * Per-channel sums over n pixels of c channels (c a multiple of 4, pixels contiguous) into s1, s2 [c]
 * float64: s1 = sum(u), s2 = sum(u * v) with u = a - sa, v = b - sb (sa, sb [c] float32 shifts). Blocks
 * of 32 pixels are summed in float32 registers, one 4-channel group at a time, then added in float64.
 */
function channelMoments(s1: usize, s2: usize, a: usize, sa: usize, b: usize, sb: usize, n: i32, c: i32): void {
  memory.fill(s1, 0, <usize>c << 3);
  memory.fill(s2, 0, <usize>c << 3);
  const pixel = <usize>c << 2;
  for (let p0 = 0; p0 < n; p0 += 32) {
    const p1 = min(n, p0 + 32);
    // 8 channels at a time where there are (four sums in flight, not two: the add's latency bounds a chain)
    for (let k = 0; k < c; k += 8) {
      const o = <usize>k << 2;
      const wide = k + 8 <= c;
      const ma = v128.load(sa + o), mb = v128.load(sb + o);
      const na = wide ? v128.load(sa + o, 16) : ma, nb = wide ? v128.load(sb + o, 16) : mb;
      let u1 = f32x4.splat(0), u2 = f32x4.splat(0), w1 = f32x4.splat(0), w2 = f32x4.splat(0);
      let pa = a + <usize>p0 * pixel + o;
      let pb = b + <usize>p0 * pixel + o;
      if (wide) {
        for (let p = p0; p < p1; p++, pa += pixel, pb += pixel) {
          const u = f32x4.sub(v128.load(pa), ma);
          const w = f32x4.sub(v128.load(pa, 16), na);
          u1 = f32x4.add(u1, u);
          w1 = f32x4.add(w1, w);
          u2 = f32x4.add(u2, f32x4.mul(u, f32x4.sub(v128.load(pb), mb)));
          w2 = f32x4.add(w2, f32x4.mul(w, f32x4.sub(v128.load(pb, 16), nb)));
        }
        accumulate4(s1 + (<usize>(k + 4) << 3), w1);
        accumulate4(s2 + (<usize>(k + 4) << 3), w2);
      } else {
        for (let p = p0; p < p1; p++, pa += pixel, pb += pixel) {
          const u = f32x4.sub(v128.load(pa), ma);
          u1 = f32x4.add(u1, u);
          u2 = f32x4.add(u2, f32x4.mul(u, f32x4.sub(v128.load(pb), mb)));
        }
      }
      accumulate4(s1 + (<usize>k << 3), u1);
      accumulate4(s2 + (<usize>k << 3), u2);
    }
  }
}

/** First pixel of chunk j when n pixels are cut into `chunks` near-equal chunks. */
// @ts-ignore: decorator
@inline function chunkStart(j: i32, n: i32, chunks: i32): i32 {
  return <i32>((<i64>j * <i64>n) / <i64>chunks);
}

/**
 * channelMoments of chunks [j0, j1) of n pixels into s (chunk j's s1 and s2 at s + 16 c j). BatchNorm's
 * two kernels add the chunks up in order: a fixed chunking, so that the sums do not depend on which
 * thread took which chunk. c a multiple of 4.
 */
export function momentChunks(a: usize, sa: usize, b: usize, sb: usize, s: usize, n: i32, c: i32, chunks: i32, j0: i32, j1: i32): void {
  for (let j = j0; j < j1; j++) {
    const p0 = chunkStart(j, n, chunks);
    const at = s + (<usize>(j * c) << 4);
    const skip = <usize>(p0 * c) << 2;
    channelMoments(at, at + (<usize>c << 3), a + skip, sa, b + skip, sb, chunkStart(j + 1, n, chunks) - p0, c);
  }
}

/** Channel k's total over the chunks of the partial sums at s (which = 0: s1, 1: s2). */
// @ts-ignore: decorator
@inline function chunkTotal(s: usize, c: i32, chunks: i32, k: i32, which: i32): f64 {
  let t: f64 = 0;
  for (let j = 0; j < chunks; j++) t += load<f64>(s + (<usize>((2 * j + which) * c + k) << 3));
  return t;
}

/**
 * BatchNorm in training over n pixels of c channels (channels last, c a multiple of 4), pixels [r0, r1):
 * mean and variance [c] of x from the chunk sums of momentChunks(x, x, x, x, ...) (shifted by the first
 * pixel: no cancellation for off-centre data), then y = (x - mean) / sqrt(var + eps) * gamma + beta.
 * Each thread derives the statistics itself; the one with `stats` also writes mean and variance.
 * st: 8c bytes of this thread's own.
 */
export function batchNormForward(x: usize, gamma: usize, beta: usize, y: usize, mean: usize, variance: usize, s: usize, st: usize,
  n: i32, c: i32, eps: f32, chunks: i32, r0: i32, r1: i32, stats: bool): void {
  // y = x * a + t per channel
  const a = st;
  const t = st + (<usize>c << 2);
  for (let k = 0; k < c; k++) {
    const o = <usize>k << 2;
    const d = chunkTotal(s, c, chunks, k, 0) / n;
    const m = <f32>(<f64>load<f32>(x + o) + d);
    const v = <f32>max(0, chunkTotal(s, c, chunks, k, 1) / n - d * d);
    if (stats) {
      store<f32>(mean + o, m);
      store<f32>(variance + o, v);
    }
    const ak = load<f32>(gamma + o) / Mathf.sqrt(v + eps);
    store<f32>(a + o, ak);
    store<f32>(t + o, load<f32>(beta + o) - m * ak);
  }
  for (let p = r0; p < r1; p++) {
    const row = <usize>(p * c) << 2;
    for (let k = 0; k < c; k += 4) {
      const o = <usize>k << 2;
      v128.store(y + row + o, f32x4.add(f32x4.mul(v128.load(x + row + o), v128.load(a + o)), v128.load(t + o)));
    }
  }
}

/**
 * Gradient of batchNormForward, pixels [r0, r1): with r = 1/sqrt(var + eps) and the chunk sums of
 * momentChunks(dy, 0, x, mean, ...) S1 = sum(dy), S2 = sum(dy * (x - mean)) per channel, dbeta = S1,
 * dgamma = r * S2 and dx = gamma * r * (dy - S1/n - (x - mean) * r^2 * S2/n), taken as dx = a * dy + b * x + d
 * per channel. The thread with `stats` writes dgamma and dbeta. abd: 12c bytes of this thread's own.
 */
export function batchNormBackward(x: usize, dy: usize, mean: usize, variance: usize, gamma: usize, dx: usize, dgamma: usize, dbeta: usize,
  s: usize, abd: usize, n: i32, c: i32, eps: f32, chunks: i32, r0: i32, r1: i32, stats: bool): void {
  const a = abd;
  const b = a + (<usize>c << 2);
  const d = b + (<usize>c << 2);
  for (let k = 0; k < c; k++) {
    const o = <usize>k << 2;
    const r = <f32>1 / Mathf.sqrt(load<f32>(variance + o) + eps);
    const sum1 = <f32>chunkTotal(s, c, chunks, k, 0);
    const sum2 = <f32>chunkTotal(s, c, chunks, k, 1);
    if (stats) {
      store<f32>(dbeta + o, sum1);
      store<f32>(dgamma + o, r * sum2);
    }
    const ak = load<f32>(gamma + o) * r;
    const bk = -ak * r * r * sum2 / <f32>n;
    store<f32>(a + o, ak);
    store<f32>(b + o, bk);
    store<f32>(d + o, -ak * sum1 / <f32>n - bk * load<f32>(mean + o));
  }
  for (let p = r0; p < r1; p++) {
    const row = <usize>(p * c) << 2;
    for (let k = 0; k < c; k += 4) {
      const o = <usize>k << 2;
      const v = f32x4.add(f32x4.mul(v128.load(dy + row + o), v128.load(a + o)), f32x4.mul(v128.load(x + row + o), v128.load(b + o)));
      v128.store(dx + row + o, f32x4.add(v, v128.load(d + o)));
    }
  }
}

/**
 * out[o * c + k] = scale * (sum over j < n of x[(o * n + j) * c + k]): sums over the middle axis of x
 * [outer, n, c], e.g. per-channel sums of NHWC activations; any c (8, then 4 channels at a time, then one).
 * Blocks of 32 rows are summed in float32, then added in float64 in scratch (8c bytes).
 */
export function channelSums(x: usize, out: usize, scratch: usize, outer: i32, n: i32, c: i32, scale: f64): void {
  const pixel = <usize>c << 2;
  for (let q = 0; q < outer; q++) {
    memory.fill(scratch, 0, <usize>c << 3);
    const base = x + <usize>q * <usize>n * pixel;
    for (let p0 = 0; p0 < n; p0 += 32) {
      const rows = min(n, p0 + 32) - p0;
      const start = base + <usize>p0 * pixel;
      let k = 0;
      for (; k + 8 <= c; k += 8) {
        let u = f32x4.splat(0), w = f32x4.splat(0);
        let p = start + (<usize>k << 2);
        for (let r = 0; r < rows; r++, p += pixel) {
          u = f32x4.add(u, v128.load(p));
          w = f32x4.add(w, v128.load(p, 16));
        }
        accumulate4(scratch + (<usize>k << 3), u);
        accumulate4(scratch + (<usize>(k + 4) << 3), w);
      }
      for (; k + 4 <= c; k += 4) {
        let u = f32x4.splat(0);
        let p = start + (<usize>k << 2);
        for (let r = 0; r < rows; r++, p += pixel) u = f32x4.add(u, v128.load(p));
        accumulate4(scratch + (<usize>k << 3), u);
      }
      for (; k < c; k++) {
        let u: f32 = 0;
        let p = start + (<usize>k << 2);
        for (let r = 0; r < rows; r++, p += pixel) u += load<f32>(p);
        const at = scratch + (<usize>k << 3);
        store<f64>(at, load<f64>(at) + <f64>u);
      }
    }
    const o = out + <usize>q * pixel;
    for (let k = 0; k < c; k++) store<f32>(o + (<usize>k << 2), <f32>(load<f64>(scratch + (<usize>k << 3)) * scale));
  }
}
