import type {LayerMeasurement} from '../measure';
import type {Figure, Trace} from './figure';

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

/** The curves pruningCurve() can draw: name, axis, value of a row (undefined: not drawn for that row). */
const series: {name: string; axis: Axis; value: (r: CurveRow, o: CurveOptions) => number | undefined}[] = [
  {name: 'FLOPs ratio', axis: 'y', value: (r, o) => r.macsRatio ?? (r.macs !== undefined && o.baseline?.macs ? r.macs / o.baseline.macs : undefined)},
  {name: 'memory ratio', axis: 'y', value: (r, o) => r.memoryRatio ?? (r.memory !== undefined && o.baseline?.memory ? r.memory / o.baseline.memory : undefined)},
  {name: 'accuracy', axis: 'y', value: (r) => r.accuracy},
  {name: 'loss', axis: 'y2', value: (r) => r.loss},
  {name: 'latency (ms)', axis: 'y3', value: (r) => r.latencyMs},
];

const axes: Record<Axis, [string, Record<string, unknown>]> = {
  y: ['yaxis', {title: {text: 'ratio to baseline / accuracy'}, range: [0, 1.05]}],
  y2: ['yaxis2', {title: {text: 'training loss'}, overlaying: 'y', side: 'right'}],
  y3: ['yaxis3', {title: {text: 'latency (ms)'}, overlaying: 'y', side: 'right', anchor: 'free', position: 1}],
};

/**
 * Remaining FLOPs (and memory) ratio, loss, and accuracy / latency when present, over the pruning steps.
 * @example show(pruningCurve(report.rows, {baseline: report.baseline}));
 */
export function pruningCurve(rows: readonly CurveRow[], opts: CurveOptions = {}): Figure {
  const data: Trace[] = series.flatMap(({name, axis, value}): Trace[] => {
    const points = rows.flatMap((r) => {
      const v = value(r, opts);
      return v === undefined || Number.isNaN(v) ? [] : [[r.step, v]];
    });
    return points.length ? [{type: 'scatter', mode: 'lines+markers', name, yaxis: axis, x: points.map((p) => p[0]), y: points.map((p) => p[1]), marker: {size: 4}}] : [];
  });
  const used = [...new Set(data.map((t) => t.yaxis as Axis))];
  return {
    data,
    layout: {
      title: {text: `Pruning: ${rows.length} units removed`},
      xaxis: {title: {text: 'training step'}, domain: [0, used.includes('y3') ? 0.85 : 1]},
      legend: {orientation: 'h', y: -0.2},
      ...Object.fromEntries(used.map((a) => axes[a])),
    },
  };
}

/** One model on the latency / FLOPs plane. */
export interface LatencyPoint { label: string; macs: number; latencyMs: number; accuracy?: number }

/**
 * Latency against MACs, one labelled point per model (e.g. baseline and each normalizer); colour = accuracy when all have one.
 * @example show(latencyVsFlops([{label: 'baseline', macs: 4.1e7, latencyMs: 12.5}, {label: 'memory', macs: 2e7, latencyMs: 7.1}]));
 */
export function latencyVsFlops(points: readonly LatencyPoint[]): Figure {
  const accuracy = points.every((p) => p.accuracy !== undefined) ? points.map((p) => p.accuracy as number) : undefined;
  return {
    data: [{
      type: 'scatter', mode: 'markers+text', x: points.map((p) => p.macs / 1e6), y: points.map((p) => p.latencyMs),
      text: points.map((p) => p.label), textposition: 'top center',
      customdata: points.map((p) => (p.accuracy === undefined ? '' : `<br>accuracy ${(100 * p.accuracy).toFixed(2)}%`)),
      hovertemplate: '%{text}: %{x:.2f} MMACs, %{y:.2f} ms%{customdata}<extra></extra>',
      marker: {size: 12, ...(accuracy ? {color: accuracy, colorscale: 'Viridis', showscale: true, colorbar: {title: {text: 'accuracy'}}} : {})},
    }],
    layout: {
      title: {text: 'Latency against FLOPs'},
      xaxis: {title: {text: 'MMACs per sample'}, rangemode: 'tozero'},
      yaxis: {title: {text: 'latency (ms)'}, rangemode: 'tozero'},
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

/**
 * Grouped bars of output channels per conv / dense layer, before and after pruning.
 * @example show(channelsPerLayer(countCosts(model).layers, countCosts(p.export()).layers));
 */
export function channelsPerLayer(before: ChannelSource, after: ChannelSource): Figure {
  const [b, a] = [channelMap(before), channelMap(after)];
  const names = [...b.keys()];
  return {
    data: [
      {type: 'bar', name: 'before', x: names, y: names.map((n) => b.get(n) as number)},
      {type: 'bar', name: 'after', x: names, y: names.map((n) => a.get(n) ?? null)},
    ],
    layout: {
      title: {text: 'Output channels per layer'},
      barmode: 'group',
      xaxis: {tickangle: -45, automargin: true},
      yaxis: {title: {text: 'channels'}},
    },
  };
}
