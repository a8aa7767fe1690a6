/**
 * FCOS-style detection: targets.ts (which box each location learns), loss.ts, decode.ts (boxes and NMS),
 * train_detector.ts (step and loop), evaluate.ts (AP). Output layout: see models/fpn_detector.ts.
 */
export { assignTargets, locationsOf } from './targets';
export type { AssignOptions, DetectionTargets } from './targets';
export { detectionLoss, detectionLossParts } from './loss';
export type { LossOptions, LossParts } from './loss';
export { decode, detect, nms } from './decode';
export type { DecodeOptions, Detections } from './decode';
export { detectionStep, trainDetector } from './train_detector';
export type { DetectionEpochs, DetectionStepContext, DetectorForward, DetectorProgress, TrainDetectorOptions, TrainDetectorResult } from './train_detector';
export { evaluateDetector } from './evaluate';
