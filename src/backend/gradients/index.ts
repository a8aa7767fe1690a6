import * as tf from '@tensorflow/tfjs';
import {clipByValueGradient, relu6Gradient} from './clip_by_value';
import {fusedBatchNormGradient} from './fused_batch_norm';
import {meanGradient, sumGradient} from './reduce';

type Replacement = (original: tf.GradConfig) => tf.GradConfig;

/** Our gradients, each built on tf's own (which it falls back to outside its fast case). */
const replacements: Record<string, Replacement> = {
  [tf.ClipByValue]: clipByValueGradient,
  [tf.Relu6]: relu6Gradient,
  [tf.FusedBatchNorm]: fusedBatchNormGradient,
  [tf.Mean]: meanGradient,
  [tf.Sum]: sumGradient,
};

/**
 * tf's own gradients that ours replace (same values, fewer whole-tensor ops), kept for tests.
 * @example replacedGradients.map((g) => g.kernelName);
 */
export const replacedGradients: tf.GradConfig[] = Object.keys(replacements).map((name) => {
  const g = tf.getGradient(name);
  if (g == null) throw new Error(`src/backend: tf has no gradient for ${name} to replace`);
  return g;
});

/**
 * Our gradients, registered for every backend when this module loads.
 * @example fastGradients.map((g) => g.kernelName);
 */
export const fastGradients: tf.GradConfig[] = replacedGradients.map((g) => replacements[g.kernelName](g));

for (const g of fastGradients) tf.registerGradient(g);
