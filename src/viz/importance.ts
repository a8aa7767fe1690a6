import type {Space} from '../graph';
import type {Ranked, RankedUnit, ScoreReport} from '../prune';
import type {Figure, Trace} from './figure';
import {heightForRows, spaceColor} from './layout';

/** Options of importanceHistogram(). */
export interface HistogramOptions {
  /** Which number of each unit to draw: Fisher / cost (the ranking score, default) or raw Fisher. */
  value?: 'score' | 'fisher';
  /** Row name of a space index; spaces with the same name share a row (e.g. one per stage). Default: the space (and its first producer). */
  label?: (space: number) => string;
  /** The model's spaces (p.group()): rows are then named by their first producer. */
  spaces?: readonly Space[];
}

/** Rows of a distribution chart: each row's name, colour (of its shallowest space) and members, shallowest first. */
function rowsByDepth(units: readonly RankedUnit[], label: (space: number) => string): {name: string; color: string; items: RankedUnit[]}[] {
  const rows = new Map<string, {name: string; first: number; items: RankedUnit[]}>();
  for (const u of units) {
    const name = label(u.space);
    const row = rows.get(name) ?? rows.set(name, {name, first: u.space, items: []}).get(name)!;
    row.first = Math.min(row.first, u.space);
    row.items.push(u);
  }
  return [...rows.values()].sort((a, b) => a.first - b.first).map((r) => ({name: r.name, color: spaceColor(r.first), items: r.items}));
}

const spaceName = (spaces: readonly Space[] = []) => {
  const producer = new Map(spaces.map((s) => [s.id, s.producers[0]]));
  return (s: number): string => (producer.get(s) ? `space ${s}: ${producer.get(s)}` : `space ${s}`);
};

// log-axis ticks: 1, 2, 5 per decade over a short range, whole decades only over a long one (no crowded labels)
const logTicks = (values: number[]): 'D2' | 1 => {
  const logs = values.map(Math.log10);
  return Math.max(...logs) - Math.min(...logs) > 3 ? 1 : 'D2';
};

// values at 0 (e.g. a space no loss gradient reached) have no logarithm: counted in the title instead of drawn
const zerosNote = (zeros: number): string => (zeros ? ` · ${zeros} units at 0 not drawn` : '');

const valueTitle: Record<'score' | 'fisher', (normalizer: string) => string> = {
  score: (normalizer) => (normalizer === 'none' ? 'Fisher (normalizer none), log scale' : `Fisher / ${normalizer} cost, log scale`),
  fisher: () => 'Fisher, log scale',
};

/**
 * Importance of the kept prunable units, one row per space (or label) ordered by depth: every unit a point, a box
 * of its quartiles, log scale, coloured by spaceColor(); the next unit to prune (the lowest score) is marked.
 * @example show(importanceHistogram(p.normalize('memory'), {spaces: p.group()}));
 */
export function importanceHistogram(ranked: Ranked, opts: HistogramOptions = {}): Figure {
  const value = opts.value ?? 'score';
  const rows = rowsByDepth(ranked.units, opts.label ?? spaceName(opts.spaces));
  const next = ranked.units.reduce<RankedUnit | undefined>((a, u) => (a && a.score <= u.score ? a : u), undefined);
  let zeros = 0;
  const data: Trace[] = rows.map(({name, color, items}) => {
    const drawn = items.filter((u) => u[value] > 0);
    zeros += items.length - drawn.length;
    return {
      type: 'box', orientation: 'h', name, x: drawn.map((u) => u[value]), y: drawn.map(() => name),
      boxpoints: 'all', jitter: 0.6, pointpos: 0, fillcolor: 'rgba(0,0,0,0)', line: {color, width: 1.5}, marker: {color, size: 4, opacity: 0.7},
      text: drawn.map((u) => `space ${u.space} unit ${u.unit}: Fisher ${u.fisher.toExponential(2)} / cost ${u.cost.toPrecision(3)} = ${u.score.toExponential(2)}`),
      hoverinfo: 'text', showlegend: false,
    };
  });
  const nextText = next && `next to prune: space ${next.space} unit ${next.unit}`;
  if (next && next[value] > 0) {
    data.push({type: 'scatter', mode: 'markers', name: nextText, x: [next[value]], y: [rows.find((r) => r.items.includes(next))!.name],
      hoverinfo: 'name', marker: {symbol: 'x-thin-open', size: 16, color: 'black', line: {width: 3, color: 'black'}}, showlegend: true});
  }
  return {
    data,
    layout: {
      title: {text: `Importance of ${ranked.units.length} prunable units (normalizer: ${ranked.normalizer})${zerosNote(zeros)}` +
        (next && !(next[value] > 0) ? `<br><sub>${nextText} (at 0)</sub>` : '')},
      height: heightForRows(rows.length),
      showlegend: true,
      legend: {orientation: 'h', x: 1, xanchor: 'right', y: 1.02, yanchor: 'bottom'},
      xaxis: {title: {text: valueTitle[value](ranked.normalizer)}, type: 'log', exponentformat: 'power', dtick: logTicks(data.flatMap((t) => t.x as number[]))},
      yaxis: {type: 'category', categoryorder: 'array', categoryarray: rows.map((r) => r.name), autorange: 'reversed', automargin: true, ticksuffix: ' '},
    },
  };
}

/**
 * One violin (with box and points) of log10 Fisher per channel space, ordered by depth, coloured by spaceColor();
 * with `spaces`, only prunable ones, named by their first producer.
 * @example show(importanceViolin(await p.score(train.batches(64), {steps: 25}), p.group()));
 */
export function importanceViolin(score: ScoreReport, spaces?: Space[]): Figure {
  const byId = new Map(spaces?.map((s) => [s.id, s]));
  const shown = score.spaces.filter((s) => !spaces || byId.get(s.id)?.prunable);
  let zeros = 0;
  const data: Trace[] = [...shown].sort((a, b) => a.id - b.id).flatMap((s): Trace[] => {
    const logs = s.fisher.filter((f) => f > 0).map(Math.log10);
    zeros += s.fisher.length - logs.length;
    const [name, color] = [`space ${s.id}: ${s.producers[0] ?? 'input'}`, spaceColor(s.id)];
    return logs.length ? [{type: 'violin', orientation: 'h', name, x: logs, y: logs.map(() => name), box: {visible: true}, meanline: {visible: true},
      points: 'all', jitter: 0.4, pointpos: 0, marker: {size: 3, color}, line: {color}, showlegend: false}] : [];
  });
  return {
    data,
    layout: {
      title: {text: `Fisher per channel space (${score.steps} steps, loss ${score.loss.toFixed(3)})${zerosNote(zeros)}`},
      height: heightForRows(data.length, 36),
      xaxis: {title: {text: 'log10 Fisher'}},
      yaxis: {type: 'category', categoryorder: 'array', categoryarray: data.map((t) => t.name), autorange: 'reversed', automargin: true, ticksuffix: ' '},
    },
  };
}
