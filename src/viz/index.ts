export {escapeHtml, figureDiv, figureHtml, plotlyScript, plotlySources, show, tslabDisplay} from './figure';
export type {Figure, FigureDivOptions, HtmlSink, ShowOptions, Trace} from './figure';
export {importanceHistogram, importanceViolin} from './importance';
export type {HistogramOptions} from './importance';
export {groupStructure} from './groups';
export {channelsPerLayer, latencyVsFlops, pruningCurve} from './curves';
export type {ChannelsOptions, ChannelSource, CurveOptions, CurveRow, LatencyPoint, LayerChannels, SpaceChannels} from './curves';
export {heightForRows, neutral, spaceColor} from './layout';
