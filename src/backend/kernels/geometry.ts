import * as tf from '@tensorflow/tfjs';
import {PadCrop} from './wasm_ops';

/** The parts of a forward NHWC convolution that its gradients need. */
export interface ConvGeometry {
  batch: number;
  inHeight: number; inWidth: number; inChannels: number;
  outHeight: number; outWidth: number; outChannels: number;
  filterHeight: number; filterWidth: number;
  strides: [number, number];
  padTop: number; padLeft: number;
}

/**
 * Geometry of the forward convolution x [B, H, W, Ci] * filter [kh, kw, Ci, Co | m] (dilation 1).
 * @example convGeometry([64, 28, 28, 16], [3, 3, 16, 32], 2, 'same', undefined, false).outHeight; // 14
 */
export function convGeometry(
    xShape: number[], filterShape: number[], strides: number | [number, number],
    pad: tf.NamedAttrMap['pad'], dimRoundingMode: unknown, depthwise: boolean,
    dilations: unknown = 1): ConvGeometry {
  if ([dilations].flat().some((d) => d !== 1)) {
    throw new Error(`src/backend: wasm conv gradients support dilation 1 only, got dilations ${JSON.stringify(dilations)}`);
  }
  const info = tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number], filterShape as [number, number, number, number],
      strides, 1, pad as 'same', dimRoundingMode as 'round' | undefined, depthwise);
  return {
    batch: info.batchSize,
    inHeight: info.inHeight, inWidth: info.inWidth, inChannels: info.inChannels,
    outHeight: info.outHeight, outWidth: info.outWidth, outChannels: info.outChannels,
    filterHeight: info.filterHeight, filterWidth: info.filterWidth,
    strides: [info.strideHeight, info.strideWidth],
    padTop: info.padInfo.top, padLeft: info.padInfo.left,
  };
}

/**
 * Pads/crops of x [B, H, W, C] so that every tap of every output lies inside: H -> (Ho - 1) * s + kh.
 * @example inputEdges(convGeometry([1, 8, 8, 1], [3, 3, 1, 1], 2, 'same', undefined, false)); // rows [0, 1]
 */
export function inputEdges(g: ConvGeometry): PadCrop[] {
  const rows = (g.outHeight - 1) * g.strides[0] + g.filterHeight;
  const cols = (g.outWidth - 1) * g.strides[1] + g.filterWidth;
  return [[0, 0], [g.padTop, rows - g.inHeight - g.padTop], [g.padLeft, cols - g.inWidth - g.padLeft], [0, 0]];
}

/**
 * Pads/crops of the zero-inserted dy [B, Ho * s, Wo * s, C] so that a stride-1 'valid' convolution
 * with the flipped kernel gives [B, H, W, C]: its extent must be H + kh - 1.
 * @example gradientEdges(convGeometry([1, 8, 8, 1], [3, 3, 1, 1], 1, 'same', undefined, false)); // rows [1, 1]
 */
export function gradientEdges(g: ConvGeometry): PadCrop[] {
  const top = g.filterHeight - 1 - g.padTop;
  const left = g.filterWidth - 1 - g.padLeft;
  return [
    [0, 0],
    [top, g.inHeight + g.filterHeight - 1 - top - g.outHeight * g.strides[0]],
    [left, g.inWidth + g.filterWidth - 1 - left - g.outWidth * g.strides[1]],
    [0, 0],
  ];
}
