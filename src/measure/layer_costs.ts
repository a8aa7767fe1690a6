import * as tf from '@tensorflow/tfjs';

/** One call of a layer: per-sample shapes (batch axis dropped) of its inputs and outputs. */
export interface CallSite {
  inputShapes: number[][];
  outputShapes: number[][];
}

/** What one layer class costs per call site and sample. */
export interface LayerCost {
  /** Multiply-accumulates of one call on one sample. */
  macs: (site: CallSite, config: tf.serialization.ConfigDict) => number;
  /** Whether its outputs count towards `memory` (the paper's "acts": conv and dense outputs). */
  memory: boolean;
}

/**
 * Product of the entries (1 for an empty shape).
 * @example elements([2, 2, 8]) // 32
 */
export const elements = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

type Split = {positions: number; channels: number};

// channelsLast: [H, W, C]; channelsFirst: [C, H, W]
function splitChannels(shape: number[], config: tf.serialization.ConfigDict): Split {
  const channelsFirst = config.dataFormat === 'channelsFirst';
  const channels = channelsFirst ? shape[0] : shape[shape.length - 1];
  return {positions: elements(shape) / channels, channels};
}

function kernelArea(config: tf.serialization.ConfigDict): number {
  const k = config.kernelSize as number | number[];
  return Array.isArray(k) ? elements(k) : k * k;
}

// Hout*Wout*kh*kw*(cin/groups)*cout; kernel [kh, kw, cin / groups, cout]
const groupedConv: LayerCost = {
  macs: (site, config) => {
    const input = splitChannels(site.inputShapes[0], config);
    const output = splitChannels(site.outputShapes[0], config);
    const groups = (config.groups as number | undefined) ?? 1;
    return output.positions * kernelArea(config) * (input.channels / groups) * output.channels;
  },
  memory: true,
};

// Hout*Wout*kh*kw*cin*depthMultiplier; depthwise kernel [kh, kw, cin, depthMultiplier]
const depthwiseConv: LayerCost = {
  macs: (site, config) => {
    const input = splitChannels(site.inputShapes[0], config);
    const output = splitChannels(site.outputShapes[0], config);
    return output.positions * kernelArea(config) * input.channels * (config.depthMultiplier as number);
  },
  memory: true,
};

// in*out per position; kernel [in, out]; a rank-3+ input [..., in] repeats it over the leading axes
const dense: LayerCost = {
  macs: (site) => {
    const input = site.inputShapes[0];
    const output = site.outputShapes[0];
    return elements(input) * output[output.length - 1];
  },
  memory: true,
};

// NOTE: normalisation, activations, element-wise merges, pooling, padding and reshapes
// are counted as 0 MACs (the paper's FLOPs count only convolutions and dense layers).
const free: LayerCost = {macs: () => 0, memory: false};

const freeClasses = [
  'InputLayer', 'BatchNormalization', 'LayerNormalization',
  'Activation', 'ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'ThresholdedReLU', 'Softmax',
  'Add', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate',
  'MaxPooling1D', 'AveragePooling1D', 'MaxPooling2D', 'AveragePooling2D', 'MaxPooling3D', 'AveragePooling3D',
  'GlobalAveragePooling1D', 'GlobalMaxPooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D',
  'Flatten', 'Reshape', 'Permute', 'RepeatVector', 'ZeroPadding2D', 'Cropping2D', 'UpSampling2D',
  'Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Masking',
];

/** Cost handlers keyed by `layer.getClassName()`; classes not listed are reported as unknown. */
export const layerCosts: Record<string, LayerCost> = {
  Conv2D: groupedConv,
  GroupConv2D: groupedConv, // src/models; config {filters, kernelSize, strides, padding, groups, ...}
  DepthwiseConv2D: depthwiseConv,
  Dense: dense,
  ...Object.fromEntries(freeClasses.map((name) => [name, free])),
};

/**
 * Registers (or replaces) the cost handler of a layer class, e.g. a custom layer.
 * @example registerLayerCost('MyConv', {macs: (s) => s.outputShapes[0][2] * 9, memory: true});
 */
export function registerLayerCost(className: string, cost: LayerCost): void {
  layerCosts[className] = cost;
}
