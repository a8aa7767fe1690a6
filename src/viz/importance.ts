import type {Space} from '../graph';
import type {Ranked, RankedUnit, ScoreReport} from '../prune';
import type {Figure, Trace} from './figure';

/** Options of importanceHistogram(). */
export interface HistogramOptions {
  /** Which number of each unit to bin: Fisher / cost (the ranking score, default) or raw Fisher. */
  value?: 'score' | 'fisher';
  /** Trace name of a space index; units with the same name share a trace (e.g. one per stage). Default `space i`. */
  label?: (space: number) => string;
  /** Bins per trace (Plotly picks when absent). */
  nbins?: number;
}

// log10 of the positive values; zeros (e.g. before any scoring) have no logarithm and are counted apart.
const logPositive = (values: number[]): {logs: number[]; zeros: number} => {
  const logs = values.filter((v) => v > 0).map(Math.log10);
  return {logs, zeros: values.length - logs.length};
};

const title = (text: string, zeros: number): {text: string} =>
  ({text: zeros ? `${text} (${zeros} units at 0 not shown)` : text});

const axisTitle: Record<'score' | 'fisher', (normalizer: string) => string> = {
  score: (normalizer) => `log10(Fisher / ${normalizer} cost)`,
  fisher: () => 'log10 Fisher',
};

/**
 * Histogram of log10 score (or Fisher) of the kept prunable units, one trace per label; the next unit to prune is marked.
 * @example show(importanceHistogram(p.normalize('memory'), {label: (s) => `stage of space ${s}`}));
 */
export function importanceHistogram(ranked: Ranked, opts: HistogramOptions = {}): Figure {
  const value = opts.value ?? 'score';
  const label = opts.label ?? ((s: number) => `space ${s}`);
  const byLabel = new Map<string, RankedUnit[]>();
  for (const u of ranked.units) {
    const name = label(u.space);
    byLabel.set(name, byLabel.get(name) ?? []);
    byLabel.get(name)!.push(u);
  }
  let zeros = 0;
  const data: Trace[] = [...byLabel].map(([name, units]) => {
    const {logs, zeros: z} = logPositive(units.map((u) => u[value]));
    zeros += z;
    return {type: 'histogram', name, x: logs, opacity: 0.6, ...(opts.nbins ? {nbinsx: opts.nbins} : {})};
  });
  const next = ranked.units[0]; // lowest score: pruned next
  const at = next && next[value] > 0 ? Math.log10(next[value]) : undefined;
  const what = axisTitle[value](ranked.normalizer);
  return {
    data,
    layout: {
      title: title(`Importance of ${ranked.units.length} prunable units (normalizer: ${ranked.normalizer})`, zeros),
      barmode: 'overlay',
      xaxis: {title: {text: what}},
      yaxis: {title: {text: 'units'}},
      shapes: at === undefined ? [] : [{type: 'line', x0: at, x1: at, yref: 'paper', y0: 0, y1: 1, line: {color: 'red', dash: 'dash'}}],
      annotations: at === undefined ? [] : [{x: at, yref: 'paper', y: 1, text: `next: ${label(next.space)}, unit ${next.unit}`, showarrow: true, ax: 40, ay: -20}],
    },
  };
}

/**
 * One violin (with box) of log10 Fisher per channel space; with `spaces`, only prunable ones, named by their first producer.
 * @example show(importanceViolin(await p.score(train.batches(64), {steps: 25}), p.group()));
 */
export function importanceViolin(score: ScoreReport, spaces?: Space[]): Figure {
  const byId = new Map(spaces?.map((s) => [s.id, s]));
  let zeros = 0;
  const data: Trace[] = score.spaces.flatMap((s): Trace[] => {
    if (spaces && !byId.get(s.id)?.prunable) return [];
    const {logs, zeros: z} = logPositive(s.fisher);
    zeros += z;
    if (!logs.length) return [];
    return [{type: 'violin', name: `${s.id}: ${s.producers[0] ?? 'input'}`, y: logs, box: {visible: true}, meanline: {visible: true},
      points: 'all', jitter: 0.3, pointpos: 0, marker: {size: 3}, showlegend: false}];
  });
  return {
    data,
    layout: {
      title: title(`Fisher per channel space (${score.steps} steps, loss ${score.loss.toFixed(3)})`, zeros),
      xaxis: {title: {text: 'space: first producer'}, tickangle: -45, automargin: true},
      yaxis: {title: {text: 'log10 Fisher'}},
    },
  };
}
