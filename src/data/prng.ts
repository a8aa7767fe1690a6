/** Mulberry32: a small seeded PRNG, the same sequence on every run and platform; returns numbers in [0, 1).
 * @example const rand = mulberry32(42); const u = rand(); // 0 <= u < 1
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates) drawn from `rand`.
 * @example const order = permutation(5, mulberry32(1)); // e.g. Int32Array [3, 0, 4, 1, 2]
 */
export function permutation(n: number, rand: () => number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]; order[i] = order[j]; order[j] = t;
  }
  return order;
}
