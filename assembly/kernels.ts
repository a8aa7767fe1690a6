// SIMD kernels for the wasm backend, compiled by AssemblyScript (npm run build) into a module that
// imports the tfjs wasm backend's memory: pointers are tensors' byte offsets in that heap, so nothing is
// copied. No static data, no allocation: the module writes only the outputs it is given.

/**
 * dW [kh, kw, C, m] (+=, zeroed by the caller) of a depthwise conv with stride (sh, sw) and top/left
 * padding (pt, pl): every dy pixel adds x's taps times dy, four channels at a time where m = 1.
 */
export function depthwiseFilterGrad(x: usize, dy: usize, dw: usize, b: i32, h: i32, w: i32, c: i32, m: i32,
  ho: i32, wo: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32): void {
  const cm = c * m;
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
