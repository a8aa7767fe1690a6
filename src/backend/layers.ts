import * as tf from '@tensorflow/tfjs';

// Two tf.layers calls made cheaper to train and one made to work, on every backend, for built and loaded models alike
// (the fused BatchNormalization is in kernels/batch_norm.ts).

type LayerCall = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor;
const tensorOf = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0] : inputs);

interface Conv2DLayer {
  kernel: tf.LayerVariable; bias?: tf.LayerVariable | null; strides: number[]; padding: string;
  dataFormat: string; dilationRate: number[]; activation: {getClassName(): string};
}

// Conv2D: tf.layers runs every conv as a fused conv2d, whose gradient computes dx and dW together even
// where dx is not needed (the first conv, on the model's input: a whole Conv2DBackpropInput per step).
// While gradients are recorded, a bias-free linear conv runs as the plain Conv2D, whose gradient is
// asked for each input on its own. Same kernel forward on wasm (XNNPACK), same values.
const conv = Object.getPrototypeOf(tf.layers.conv2d({filters: 1, kernelSize: 1})) as {call: LayerCall};
const convCall = conv.call;
conv.call = function (this: Conv2DLayer, inputs, kwargs) {
  const x = tensorOf(inputs);
  const plain = tf.engine().state.gradientDepth > 0 && this.bias == null && this.activation.getClassName() === 'linear' &&
    this.dataFormat === 'channelsLast' && this.dilationRate.every((d) => d === 1) && (this.padding === 'same' || this.padding === 'valid') && x.rank === 4;
  if (!plain) return convCall.call(this, inputs, kwargs);
  return tf.conv2d(x as tf.Tensor4D, this.kernel.read() as tf.Tensor4D, this.strides as [number, number], this.padding as 'same' | 'valid');
};

// ReLU({maxValue: 6}): tf.layers runs relu then clipByValue, two passes forward and four backward
// (Relu's Step and Multiply, ClipByValue's); one relu6 is one pass each way (its gradient is ours,
// gradients/clip_by_value.ts). Other maxValues keep tf.layers' own call.
const relu = Object.getPrototypeOf(tf.layers.reLU({})) as {call: LayerCall};
const reluCall = relu.call;
relu.call = function (this: {maxValue?: number}, inputs, kwargs) {
  if (this.maxValue !== 6) return reluCall.call(this, inputs, kwargs);
  return tf.relu6(tensorOf(inputs));
};

// BatchNormalization({scale: false}) or ({center: false}) (Keras InceptionV3: scale=False) while training or
// differentiated: tf.layers reads `normalizeBatchInTraining(input, this.gamma.read(), this.beta.read(), ...)` whatever
// scale and center say ("Cannot read properties of undefined (reading 'read')"), and a null scale or offset given to
// tf.batchNorm leaves an undefined input on the gradient tape (its backward pass throws). On every backend; so such a
// model could be neither scored nor trained. For the call, the missing gamma reads as ones and beta as zeros (constants
// [c], the same values).
interface BatchNormWeights { movingMean: tf.LayerVariable; gamma?: {read(): tf.Tensor} | null; beta?: {read(): tf.Tensor} | null }
const batchNorm = Object.getPrototypeOf(tf.layers.batchNormalization({})) as {call: LayerCall};
const batchNormCall = batchNorm.call;
batchNorm.call = function (this: BatchNormWeights, inputs, kwargs) {
  const recorded = kwargs?.training || tf.engine().state.gradientDepth > 0;
  if (!recorded || (this.gamma && this.beta)) return batchNormCall.call(this, inputs, kwargs);
  const {gamma, beta} = this;
  const shape = this.movingMean.shape as number[];
  this.gamma = gamma ?? {read: () => tf.ones(shape)};
  this.beta = beta ?? {read: () => tf.zeros(shape)};
  try {
    return batchNormCall.call(this, inputs, kwargs);
  } finally {
    [this.gamma, this.beta] = [gamma, beta];
  }
};
