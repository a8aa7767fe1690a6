/**
 * FCOS-style target assignment: which ground-truth box each output location learns.
 * Output layout: see models/fpn_detector.ts; locations level after level, row-major.
 */
import type { FpnLevel } from '../../models/fpn_detector';

/** Plain-data targets of one batch (JS arrays; the loss makes the tensors). */
export interface DetectionTargets {
  batch: number;
  locations: number;
  classes: number;
  cls: Float32Array;        // [B, L, K] 1 at the assigned class of a positive location, else 0
  ltrb: Float32Array;       // [B, L, 4] target distances / stride at positives, 1 elsewhere
  centerness: Float32Array; // [B, L] FCOS centerness target at positives, 0 elsewhere
  positive: Float32Array;   // [B, L] 1 at positive locations
  positives: number;        // sum of `positive`
}

/** Options of {@link assignTargets}. */
export interface AssignOptions {
  /** Per level [lo, hi): a location is assigned to a box only when max(l, t, r, b) lies in it. Default [0, 20), [20, 40), [40, inf) for 64x64 images (about 1.6% of the scenes' boxes get no location), scaled with the image side. */
  ranges?: [number, number][];
  /** Centre sampling: the location must lie within radius * stride of the box centre. Default 1.5. */
  radius?: number;
}

/** Centres (x, y) in pixels and strides of every location, in output order.
 * @example locationsOf(fpnLevels([64, 64, 1])).x.length // 84
 */
export function locationsOf(levels: FpnLevel[]): { x: Float32Array; y: Float32Array; stride: Float32Array } {
  const total = levels.reduce((s, l) => s + l.height * l.width, 0);
  const [x, y, stride] = [new Float32Array(total), new Float32Array(total), new Float32Array(total)];
  let k = 0;
  for (const l of levels) {
    for (let i = 0; i < l.height; i++) {
      for (let j = 0; j < l.width; j++, k++) [x[k], y[k], stride[k]] = [(j + 0.5) * l.stride, (i + 0.5) * l.stride, l.stride];
    }
  }
  return { x, y, stride };
}

/**
 * FCOS target assignment: location p is positive for box g when p lies inside g, within
 * radius * stride of g's centre, and max(l, t, r, b) falls in its level's range; among several
 * such boxes the smallest wins.
 * @example const t = assignTargets(batch.boxes, batch.labels, fpnLevels([64, 64, 1]), 10);
 */
export function assignTargets(boxes: Float32Array[], labels: Int32Array[], levels: FpnLevel[], classes: number, opts: AssignOptions = {}): DetectionTargets {
  const k = Math.sqrt(levels[0].height * levels[0].width) * levels[0].stride / 64; // image side / 64
  const ranges = opts.ranges ?? [[0, 20 * k], [20 * k, 40 * k], [40 * k, Infinity]];
  const radius = opts.radius ?? 1.5;
  if (ranges.length !== levels.length) throw new Error(`assignTargets: ranges has ${ranges.length} entries, expected one per level (${levels.length})`);
  const loc = locationsOf(levels);
  const levelOf = levels.flatMap((l, i) => new Array<number>(l.height * l.width).fill(i));
  const [B, L, K] = [boxes.length, loc.x.length, classes];
  const t: DetectionTargets = {
    batch: B, locations: L, classes: K, cls: new Float32Array(B * L * K), ltrb: new Float32Array(B * L * 4).fill(1),
    centerness: new Float32Array(B * L), positive: new Float32Array(B * L), positives: 0,
  };
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < L; p++) {
      const [px, py, s] = [loc.x[p], loc.y[p], loc.stride[p]];
      const [lo, hi] = ranges[levelOf[p]];
      let best = -1;
      let bestArea = Infinity;
      let d = [0, 0, 0, 0];
      for (let g = 0; g < labels[b].length; g++) {
        const [x1, y1, x2, y2] = boxes[b].subarray(4 * g, 4 * g + 4);
        const dist = [px - x1, py - y1, x2 - px, y2 - py]; // l, t, r, b
        const far = Math.max(...dist);
        const near = Math.abs(px - (x1 + x2) / 2) < radius * s && Math.abs(py - (y1 + y2) / 2) < radius * s;
        const area = (x2 - x1) * (y2 - y1);
        if (Math.min(...dist) > 0 && near && far >= lo && far < hi && area < bestArea) [best, bestArea, d] = [g, area, dist];
      }
      if (best < 0) continue;
      const at = b * L + p;
      t.positive[at] = 1;
      t.positives++;
      t.cls[at * K + labels[b][best]] = 1;
      d.forEach((v, i) => { t.ltrb[at * 4 + i] = v / s; });
      // centerness = sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)) (FCOS eq. 3)
      t.centerness[at] = Math.sqrt((Math.min(d[0], d[2]) / Math.max(d[0], d[2])) * (Math.min(d[1], d[3]) / Math.max(d[1], d[3])));
    }
  }
  return t;
}

