// SIMD kernels for the wasm backend, compiled by AssemblyScript (npm run build) into a module that
// imports the tfjs wasm backend's memory: pointers are tensors' byte offsets in that heap, so nothing is
// copied. No static data, no allocation: the module writes only the outputs it is given.

/**
 * dW [kh, kw, C, m] of a depthwise conv with stride (sh, sw) and top/left
 * padding (pt, pl): every dy pixel adds x's taps times dy, four channels at a time where m = 1.
 */
export function depthwiseFilterGrad(x: usize, dy: usize, dw: usize, b: i32, h: i32, w: i32, c: i32, m: i32,
  ho: i32, wo: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32): void {
  const cm = c * m;
  memory.fill(dw, 0, <usize>(kh * kw * cm) << 2);
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

/** dx[i] = lo <= x[i] <= hi ? dy[i] : 0 over n float32s (ClipByValue's and ReLU6's gradient). */
export function clipGrad(x: usize, dy: usize, dx: usize, n: i32, lo: f32, hi: f32): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    const inside = v128.and(f32x4.ge(v, vlo), f32x4.le(v, vhi));
    v128.store(dx + o, v128.and(v128.load(dy + o), inside));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(dx + o, v >= lo && v <= hi ? load<f32>(dy + o) : 0);
  }
}

/**
 * dW [kh, kw, Ci, Co] of a conv2d, Ci a multiple of 4 and Co of 8, with
 * stride (sh, sw) and top/left padding (pt, pl). A few images at a time, each tile of 4 input by 8
 * output channels of one tap is held in eight registers while it sums x * dy over their pixels (which
 * stay in cache across the tiles).
 */
export function convFilterGrad(x: usize, dy: usize, dw: usize, b: i32, h: i32, w: i32, ci: i32, co: i32,
  ho: i32, wo: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32): void {
  const xPix = <usize>ci << 2;
  const dPix = <usize>co << 2;
  memory.fill(dw, 0, <usize>(kh * kw * ci * co) << 2);
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
        for (let c0 = 0; c0 < ci; c0 += 4) {
          for (let o0 = 0; o0 < co; o0 += 8) {
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
}

/** acc[k..k+3] (float64) += v's four lanes. */
// @ts-ignore: decorator
@inline function accumulate4(acc: usize, v: v128): void {
  v128.store(acc, f64x2.add(v128.load(acc), f64x2.promote_low_f32x4(v)));
  v128.store(acc, f64x2.add(v128.load(acc, 16), f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1))), 16);
}

/**
 * Per-channel sums over n pixels of c channels (channels last, c a multiple of 4) into acc [c] float64:
 * of a (center = 0), of (a - center)^2 (b = 0), or of a * (b - center) (all given).
 */
function channelSums(acc: usize, a: usize, b: usize, center: usize, n: i32, c: i32): void {
  memory.fill(acc, 0, <usize>c << 3);
  for (let p = 0; p < n; p++) {
    const row = <usize>(p * c) << 2;
    for (let k = 0; k < c; k += 4) {
      const o = <usize>k << 2;
      let v = v128.load(a + row + o);
      if (center != 0) {
        const m = v128.load(center + o);
        v = b == 0 ? f32x4.mul(f32x4.sub(v, m), f32x4.sub(v, m)) : f32x4.mul(v, f32x4.sub(v128.load(b + row + o), m));
      }
      accumulate4(acc + (<usize>k << 3), v);
    }
  }
}

/**
 * BatchNorm in training over n pixels of c channels (channels last, c a multiple of 4): mean and
 * variance [c] of x (two passes, float64 sums), then y = (x - mean) / sqrt(var + eps) * gamma + beta.
 * scratch: 16c bytes.
 */
export function batchNormForward(x: usize, gamma: usize, beta: usize, y: usize, mean: usize, variance: usize, scratch: usize, n: i32, c: i32, eps: f32): void {
  channelSums(scratch, x, 0, 0, n, c);
  for (let k = 0; k < c; k++) store<f32>(mean + (<usize>k << 2), <f32>(load<f64>(scratch + (<usize>k << 3)) / n));
  channelSums(scratch, x, 0, mean, n, c);
  for (let k = 0; k < c; k++) store<f32>(variance + (<usize>k << 2), <f32>(load<f64>(scratch + (<usize>k << 3)) / n));
  // y = x * s + t per channel
  const s = scratch;
  const t = scratch + (<usize>c << 2);
  for (let k = 0; k < c; k++) {
    const o = <usize>k << 2;
    const sk = load<f32>(gamma + o) / Mathf.sqrt(load<f32>(variance + o) + eps);
    store<f32>(s + o, sk);
    store<f32>(t + o, load<f32>(beta + o) - load<f32>(mean + o) * sk);
  }
  for (let p = 0; p < n; p++) {
    const row = <usize>(p * c) << 2;
    for (let k = 0; k < c; k += 4) {
      const o = <usize>k << 2;
      v128.store(y + row + o, f32x4.add(f32x4.mul(v128.load(x + row + o), v128.load(s + o)), v128.load(t + o)));
    }
  }
}

/**
 * Gradient of batchNormForward: with r = 1/sqrt(var + eps), S1 = sum(dy), S2 = sum(dy * (x - mean)) per
 * channel, dbeta = S1, dgamma = r * S2 and dx = gamma * r * (dy - S1/n - (x - mean) * r^2 * S2/n), taken
 * as dx = a * dy + b * x + d per channel. scratch: 28c bytes.
 */
export function batchNormBackward(x: usize, dy: usize, mean: usize, variance: usize, gamma: usize, dx: usize, dgamma: usize, dbeta: usize,
  scratch: usize, n: i32, c: i32, eps: f32): void {
  const s1 = scratch;
  const s2 = scratch + (<usize>c << 3);
  channelSums(s1, dy, 0, 0, n, c);
  channelSums(s2, dy, x, mean, n, c);
  const a = scratch + (<usize>c << 4);
  const b = a + (<usize>c << 2);
  const d = b + (<usize>c << 2);
  for (let k = 0; k < c; k++) {
    const o = <usize>k << 2;
    const r = <f32>1 / Mathf.sqrt(load<f32>(variance + o) + eps);
    const sum1 = <f32>load<f64>(s1 + (<usize>k << 3));
    const sum2 = <f32>load<f64>(s2 + (<usize>k << 3));
    store<f32>(dbeta + o, sum1);
    store<f32>(dgamma + o, r * sum2);
    const ak = load<f32>(gamma + o) * r;
    const bk = -ak * r * r * sum2 / <f32>n;
    store<f32>(a + o, ak);
    store<f32>(b + o, bk);
    store<f32>(d + o, -ak * sum1 / <f32>n - bk * load<f32>(mean + o));
  }
  for (let p = 0; p < n; p++) {
    const row = <usize>(p * c) << 2;
    for (let k = 0; k < c; k += 4) {
      const o = <usize>k << 2;
      const v = f32x4.add(f32x4.mul(v128.load(dy + row + o), v128.load(a + o)), f32x4.mul(v128.load(x + row + o), v128.load(b + o)));
      v128.store(dx + row + o, f32x4.add(v, v128.load(d + o)));
    }
  }
}
