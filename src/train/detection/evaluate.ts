/** COCO-style AP of a detector on a detection dataset. */
import * as tf from '@tensorflow/tfjs';
import type { DetectionDataset } from '../../data/detection';
import type { FpnLevel } from '../../models/fpn_detector';
import { ApResult, averagePrecision } from '../../measure/ap';
import { DecodeOptions, detect } from './decode';

/**
 * COCO-style AP / AP50 of a detector on a detection dataset (inference mode).
 * @example const {ap, ap50} = await evaluateDetector((x) => model.predict(x) as tf.Tensor3D, testScenes, levels);
 */
export async function evaluateDetector(forward: (xs: tf.Tensor4D) => tf.Tensor3D, data: DetectionDataset, levels: FpnLevel[], opts: DecodeOptions & { batchSize?: number } = {}): Promise<ApResult> {
  const dets = await detect(forward, data.batches(opts.batchSize ?? 64), levels, opts);
  return averagePrecision(dets, data.boxes.map((boxes, i) => ({ boxes, labels: data.labels[i] })), { classes: data.classes });
}
