import type {LayerMeasurement} from '../measure';
import type {Space} from '../graph';
import type {Figure, Trace} from './figure';
import {heightForRows, legendAbove, neutral, spaceColor} from './layout';

/** A pruning step as run() (RunRow) or report.json's rows give it; accuracy and latency when measured. */
export interface CurveRow {
  step: number;
  loss?: number;
  macs?: number;
  macsRatio?: number;
  memory?: number;
  memoryRatio?: number;
  accuracy?: number;
  latencyMs?: number;
}

/** Options of pruningCurve(): the baseline turns absolute MACs / memory into ratios. */
export interface CurveOptions { baseline?: {macs?: number; memory?: number} }

type Axis = 'y' | 'y2' | 'y3';

/** The curves pruningCurve() can draw: name, axis, colour, value of a row (undefined: not drawn for that row). */
const series: {name: string; axis: Axis; color: string; value: (r: CurveRow, o: CurveOptions) => number | undefined}[] = [
  {name: 'FLOPs ratio', axis: 'y', color: '#1f77b4', value: (r, o) => r.macsRatio ?? (r.macs !== undefined && o.baseline?.macs ? r.macs / o.baseline.macs : undefined)},
  {name: 'memory ratio', axis: 'y', color: '#2ca02c', value: (r, o) => r.memoryRatio ?? (r.memory !== undefined && o.baseline?.memory ? r.memory / o.baseline.memory : undefined)},
  {name: 'accuracy', axis: 'y', color: '#9467bd', value: (r) => r.accuracy},
  {name: 'loss', axis: 'y2', color: '#ff7f0e', value: (r) => r.loss},
  {name: 'latency (ms)', axis: 'y3', color: '#7f7f7f', value: (r) => r.latencyMs},
];

// the left axis names what is drawn on it: ratios, accuracy or both
const leftTitle = (names: string[]): string =>
  [names.some((n) => n.endsWith('ratio')) ? 'ratio to baseline' : '', names.includes('accuracy') ? 'accuracy' : ''].filter(Boolean).join(', ');

const axes: Record<Axis, (names: string[]) => [string, Record<string, unknown>]> = {
  y: (names) => ['yaxis', {title: {text: leftTitle(names)}, range: [0, 1.05]}],
  y2: () => ['yaxis2', {title: {text: 'training loss'}, overlaying: 'y', side: 'right', rangemode: 'tozero', showgrid: false}],
  y3: () => ['yaxis3', {title: {text: 'latency (ms)'}, overlaying: 'y', side: 'right', anchor: 'free', position: 1, rangemode: 'tozero', showgrid: false}],
};

/**
 * Remaining FLOPs (and memory) ratio, loss, and accuracy / latency when present, over the pruning steps; each axis is titled by what it draws.
 * @example show(pruningCurve(report.rows, {baseline: report.baseline}));
 */
export function pruningCurve(rows: readonly CurveRow[], opts: CurveOptions = {}): Figure {
  const data: Trace[] = series.flatMap(({name, axis, color, value}): Trace[] => {
    const points = rows.flatMap((r) => {
      const v = value(r, opts);
      return v === undefined || Number.isNaN(v) ? [] : [[r.step, v]];
    });
    return points.length ? [{type: 'scatter', mode: 'lines+markers', name, yaxis: axis, x: points.map((p) => p[0]), y: points.map((p) => p[1]),
      line: {color}, marker: {size: 4, color}}] : [];
  });
  const used = [...new Set(data.map((t) => t.yaxis as Axis))];
  return {
    data,
    layout: {
      title: {text: `Pruning: ${rows.length} units removed`},
      xaxis: {title: {text: 'training step'}, domain: [0, used.includes('y3') ? 0.85 : 1]},
      legend: legendAbove,
      ...Object.fromEntries(used.map((a) => axes[a](data.filter((t) => t.yaxis === a).map((t) => t.name as string)))),
    },
  };
}

const padded = (values: number[]): [number, number] => {
  const max = Math.max(0, ...values) || 1;
  return [-0.05 * max, 1.1 * max];
};

/** One model on the latency / FLOPs plane; `color` keeps a model's colour from other charts of the notebook. */
export interface LatencyPoint { label: string; macs: number; latencyMs: number; accuracy?: number; color?: string }

// Plotly's first colours: a model without its own colour takes the next one
const modelColors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/**
 * Latency against MACs, one point per model (e.g. baseline and each normalizer), named in the legend in the given
 * order with its accuracy when known (legend names never overlap, as labels beside close points would).
 * @example show(latencyVsFlops([{label: 'baseline', macs: 4.1e7, latencyMs: 12.5}, {label: 'memory', macs: 2e7, latencyMs: 7.1}]));
 */
export function latencyVsFlops(points: readonly LatencyPoint[]): Figure {
  return {
    data: points.map((p, i) => ({
      type: 'scatter', mode: 'markers', name: p.accuracy === undefined ? p.label : `${p.label}: accuracy ${(100 * p.accuracy).toFixed(1)}%`,
      x: [p.macs / 1e6], y: [p.latencyMs], hovertemplate: '%{fullData.name}<br>%{x:.2f} MMACs, %{y:.2f} ms<extra></extra>',
      marker: {size: 13, color: p.color ?? modelColors[i % modelColors.length], symbol: i === 0 ? 'diamond' : 'circle', line: {width: 1, color: 'white'}},
    })),
    layout: {
      title: {text: 'Latency against FLOPs'},
      showlegend: true,
      // from just below 0, so the two 0 tick labels do not meet at the corner
      xaxis: {title: {text: 'MMACs per sample'}, range: padded(points.map((p) => p.macs / 1e6))},
      yaxis: {title: {text: 'latency (ms)'}, range: padded(points.map((p) => p.latencyMs))},
    },
  };
}

/** Channels of one layer, given directly. */
export interface LayerChannels { name: string; channels: number }

/** Channels of the layers writing a space (e.g. a Space, or a space with its kept channels after pruning). */
export interface SpaceChannels { producers: string[]; channels: number }

/** Where channelsPerLayer() reads output channels from. */
export type ChannelSource = readonly (Pick<LayerMeasurement, 'name' | 'outputShape' | 'macs'> | LayerChannels | SpaceChannels)[];

// Layers with MACs (conv / dense) by their output's last dimension ([h, w, c] channels last); spaces by their producers.
const channelMap = (source: ChannelSource): Map<string, number> => new Map(source.flatMap((r): [string, number][] =>
  'producers' in r ? r.producers.map((p) => [p, r.channels])
    : 'channels' in r ? [[r.name, r.channels]]
      : r.macs > 0 ? [[r.name, r.outputShape[r.outputShape.length - 1]]] : []));

/** Options of channelsPerLayer(). */
export interface ChannelsOptions {
  /** The model's spaces (p.group()): each layer's bar takes the colour of the space it writes. */
  spaces?: readonly Pick<Space, 'id' | 'producers'>[];
}

/**
 * Output channels per conv / dense layer, one row per layer in model order: the 'after' bar (coloured by the
 * space the layer writes, with `opts.spaces`) drawn over the grey 'before' bar.
 * @example show(channelsPerLayer(countCosts(model).layers, countCosts(p.export()).layers, {spaces: p.group()}));
 */
export function channelsPerLayer(before: ChannelSource, after: ChannelSource, opts: ChannelsOptions = {}): Figure {
  const [b, a] = [channelMap(before), channelMap(after)];
  const names = [...b.keys()];
  const written = names.map((n) => opts.spaces?.find((s) => s.producers.includes(n)));
  return {
    data: [
      {type: 'bar', orientation: 'h', name: 'before', x: names.map((n) => b.get(n) as number), y: names, width: 0.8, marker: {color: '#dddddd', line: {color: neutral, width: 1}},
        hovertemplate: '%{y}: %{x} channels before<extra></extra>'},
      {type: 'bar', orientation: 'h', name: 'after', x: names.map((n) => a.get(n) ?? null), y: names, width: 0.5, marker: {color: written.map((s) => (s ? spaceColor(s.id) : '#1f77b4'))},
        text: names.map((n, i) => (written[i] ? `${n} (space ${written[i]!.id})` : n)), hovertemplate: '%{text}: %{x} channels after<extra></extra>', textposition: 'none'},
    ],
    layout: {
      title: {text: `Output channels per layer${opts.spaces ? ' (colour: the space it writes)' : ''}`},
      barmode: 'overlay',
      height: heightForRows(names.length),
      legend: legendAbove,
      xaxis: {title: {text: 'output channels'}, rangemode: 'tozero'},
      yaxis: {type: 'category', categoryorder: 'array', categoryarray: names, autorange: 'reversed', automargin: true, ticksuffix: ' '},
    },
  };
}
