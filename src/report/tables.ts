import type {DataFrame} from 'danfojs-node';
import type {Costs, LayerMeasurement} from '../measure';
import type {RunRow} from '../prune';

// danfojs-node is an optional peer dependency (it takes ~3 s to load): required on first use, saying how to add it when absent.
function danfo(): typeof import('danfojs-node') {
  try {
    return require('danfojs-node');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !(e as Error).message.includes("'danfojs-node'")) throw e;
    throw new Error(
      "gfp.report's tables need danfojs-node, which is not installed (an optional peer dependency). Add to your package.json " +
        '"dependencies": {"danfojs-node": "1.2.0"} and "overrides": {"xlsx": "0.18.5", "danfojs-node": {"@tensorflow/tfjs-node": ' +
        '"npm:@tensorflow/tfjs@4.22.0"}}, then run npm install (without the overrides its install fetches xlsx from a CDN and ' +
        'tfjs-node downloads libtensorflow)');
  }
}

/** A DataFrame from named columns of equal length, in the given order. */
const frame = (columns: [string, (number | string)[]][]): DataFrame => new (danfo().DataFrame)(Object.fromEntries(columns));

// Output channels: last axis of the per-sample output shape ([h, w, c] channels last, [units] for Dense).
const channels = (l: LayerMeasurement): number => l.outputShape[l.outputShape.length - 1] ?? NaN;

/**
 * Per-layer channels, MACs and params (layers with weights or MACs), with the pruned model's beside them when given.
 * @example showTable(layerTable(countCosts(model), countCosts(p.export())));
 */
export function layerTable(before: Costs, after?: Costs): DataFrame {
  const rows = before.layers.filter((l) => l.macs > 0 || l.params > 0);
  const pruned = new Map(after?.layers.map((l) => [l.name, l]));
  const col = (f: (l: LayerMeasurement) => number) => rows.map((l) => (pruned.has(l.name) ? f(pruned.get(l.name)!) : NaN));
  return frame([
    ['layer', rows.map((l) => l.name)], ['class', rows.map((l) => l.className)],
    ['channels', rows.map(channels)], ['macs', rows.map((l) => l.macs)], ['params', rows.map((l) => l.params)],
    ...(after ? [
      ['channelsAfter', col(channels)], ['macsAfter', col((l) => l.macs)], ['paramsAfter', col((l) => l.params)],
      ['macsRatio', col((l) => l.macs).map((m, i) => m / rows[i].macs)],
    ] as [string, number[]][] : []),
  ]);
}

/** A pruning step as run() or report.json gives it (report rows lack fisher and cost). */
export type LogRow = Pick<RunRow, 'step' | 'loss' | 'space' | 'unit' | 'macs' | 'macsRatio'> & Partial<RunRow>;

const logColumns = ['step', 'loss', 'space', 'unit', 'producers', 'fisher', 'cost', 'score', 'macs', 'memory', 'macsRatio'] as const;

/**
 * One row per pruned unit; producers joined by spaces, columns no row has are left out.
 * @example pruningLog(report.rows).tail(5);
 */
export function pruningLog(rows: readonly LogRow[]): DataFrame {
  if (!rows.length) throw new Error('pruningLog: no rows (run() pruned nothing: was targetFlops already reached?)');
  const present = logColumns.filter((c) => rows.some((r) => r[c] !== undefined));
  return frame(present.map((c) => [c, rows.map((r) => {
    const v = r[c];
    return Array.isArray(v) ? v.join(' ') : (v as number | undefined) ?? NaN;
  })]));
}
