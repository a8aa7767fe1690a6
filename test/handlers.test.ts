import {before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {useBackend} from '../src/backend';
import {group, Grouping, handlers, isInput, isNoise, registerHandler} from '../src/graph';
import {countCosts, registerLayerCost} from '../src/measure';
import {allKept, assertCosted, costsOf, exportPruned, Kept, maskedForward, maskTensors} from '../src/prune';

// Each handler: grouping, MACs against a count written out from the layer shapes, and export equal to
// the masked model. The families below are small versions of the blocks Keras applications are made of.

const L = tf.layers;
type Sym = tf.SymbolicTensor;
const on = (layer: tf.layers.Layer, x: Sym | Sym[]): Sym => layer.apply(x) as Sym;

// MACs of a conv at `positions` output positions with a k x k kernel (independent of the handlers).
const conv = (positions: number, k: number, cin: number, cout: number): number => positions * k * k * cin * cout;
const depthwise = (positions: number, k: number, c: number, m = 1): number => positions * k * k * c * m;
const separable = (positions: number, k: number, cin: number, cout: number, m = 1): number =>
  positions * k * k * cin * m + positions * cin * m * cout;

/** Random BatchNorm statistics and biases, so that a slicing mistake shows (kernels keep their random init). */
function perturb(model: tf.LayersModel, seed = 5): void {
  model.layers.forEach((layer, l) => {
    const weights = layer.weights;
    if (!weights.length) return;
    tf.tidy(() => layer.setWeights(layer.getWeights().map((w, i) => {
      const name = weights[i].originalName ?? weights[i].name;
      if (/moving_variance$/.test(name)) return tf.randomUniform(w.shape, 0.5, 1.5, 'float32', seed + 7 * l + i);
      if (/(gamma|beta|moving_mean|bias|alpha)$/.test(name)) return tf.randomUniform(w.shape, -0.5, 0.5, 'float32', seed + 7 * l + i);
      return w;
    })));
  });
}

/** Every other unit of every prunable space removed (unit 1, 3, ...: at least one each). */
function dropOdd(g: Grouping): Kept {
  return allKept(g).map((units, s) => units.map((_, k) => !g.spaces[s].prunable || k % 2 === 0));
}

/** The masked full model's output (docs/method.md §1): the reference the export must equal. */
function masked(g: Grouping, kept: Kept, x: tf.Tensor): tf.Tensor {
  const masks = maskTensors(g, kept);
  try {
    return maskedForward(g, masks, x, false);
  } finally {
    tf.dispose([...masks.values()]);
  }
}

const spaceWith = (g: Grouping, layer: string) => g.spaces.find((s) => s.producers.includes(layer) || s.members.some((m) => m.layer === layer))!;

/**
 * Groups with no "no pruning rule" and nothing uncosted; MACs of the model == `hand` (countCosts and the
 * pruner's costs alike); after removing units of every prunable space the export equals the masked model,
 * its measured MACs equal the pruner's, and no tensor is left behind.
 */
function check(model: tf.LayersModel, hand: number): Grouping {
  const before = tf.memory().numTensors;
  const g = group(model);
  for (const s of g.spaces) assert.doesNotMatch(s.reason ?? '', /no pruning rule/, `${model.name}: space ${s.id}`);
  assert.deepEqual(g.uncosted, []);
  assert.ok(g.spaces.some((s) => s.prunable), `${model.name}: something to prune`);
  assert.equal(countCosts(model).macs, hand, `${model.name}: measured MACs`);
  assert.equal(costsOf(g, allKept(g)).macs, hand, `${model.name}: pruner MACs`);
  const kept = dropOdd(g);
  const small = exportPruned(g, kept);
  const counted = costsOf(g, kept);
  assert.ok(counted.macs < hand);
  assert.equal(countCosts(small).macs, counted.macs, `${model.name}: pruner MACs == measured MACs of the export`);
  assert.equal(countCosts(small).memory, counted.memory, `${model.name}: pruner memory == measured memory of the export`);
  const shape = model.inputs[0].shape.slice(1) as number[];
  const [err, change] = tf.tidy(() => {
    const x = tf.randomUniform([2, ...shape], -1, 1, 'float32', 3);
    const ref = masked(g, kept, x);
    const out = small.predict(x) as tf.Tensor;
    const full = model.predict(x) as tf.Tensor;
    const scale = Math.max(1e-6, tf.max(tf.abs(ref)).dataSync()[0]);
    return [tf.max(tf.abs(ref.sub(out))).dataSync()[0] / scale, tf.max(tf.abs(ref.sub(full))).dataSync()[0] / scale];
  });
  assert.ok(err < 1e-4, `${model.name}: pruned vs masked relative error ${err}`);
  assert.ok(change > 1e-4, `${model.name}: the removed units change the output (${change})`);
  small.dispose();
  assert.equal(tf.memory().numTensors, before, `${model.name}: no tensor left behind`);
  return g;
}

before(async () => {
  await useBackend('wasm');
});

describe('handlers', () => {
  it('InputLayer and training-only noise are handler properties; noise passes channels through', () => {
    assert.equal(handlers.InputLayer?.input, true);
    for (const c of ['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']) assert.equal(handlers[c]?.noise, true, c);
    assert.equal(handlers.Conv2D?.noise, undefined);
    const x = tf.input({shape: [5, 5, 2]});
    let y = on(L.conv2d({name: 'c1', filters: 4, kernelSize: 3, padding: 'same'}), x);
    y = on(L.dropout({name: 'drop', rate: 0.3}), y);
    y = on(L.gaussianNoise({name: 'noise', stddev: 0.1}), y);
    y = on(L.alphaDropout({name: 'alpha', rate: 0.1}), y);
    y = on(L.conv2d({name: 'c2', filters: 3, kernelSize: 3}), y);
    const model = tf.model({inputs: x, outputs: on(L.dense({name: 'fc', units: 2}), on(L.flatten({}), y))});
    assert.ok(isInput(model.layers[0]) && !isInput(model.getLayer('c1')));
    assert.ok(isNoise(model.getLayer('drop')) && isNoise(model.getLayer('noise')) && !isNoise(model.getLayer('c2')));
    const g = check(model, conv(25, 3, 2, 4) + conv(9, 3, 4, 3) + 27 * 2);
    assert.deepEqual(spaceWith(g, 'c1').consumers, ['c2']);
    model.dispose();
  });

  it('Reshape that only adds or drops size-1 axes passes the space through (squeeze-excite); others are barriers', () => {
    const x = tf.input({shape: [6, 6, 3]});
    const c1 = on(L.conv2d({name: 'c1', filters: 8, kernelSize: 3, padding: 'same'}), x); // [6, 6, 8]
    let y = on(L.reshape({name: 'r1', targetShape: [1, 1, 8]}), on(L.globalAveragePooling2d({}), c1)); // [8] -> [1, 1, 8]
    y = on(L.conv2d({name: 'se', filters: 4, kernelSize: 1, activation: 'relu'}), y); // [1, 1, 4]
    y = on(L.reshape({name: 'r2', targetShape: [4]}), y); // [1, 1, 4] -> [4]
    const model = tf.model({inputs: x, outputs: on(L.dense({name: 'fc', units: 3}), y)});
    const g = check(model, conv(36, 3, 3, 8) + conv(1, 1, 8, 4) + 4 * 3);
    assert.deepEqual(spaceWith(g, 'c1').consumers, ['se']);
    assert.deepEqual(spaceWith(g, 'se').consumers, ['fc']);
    // the export's targetShape follows the kept channels
    const small = exportPruned(g, dropOdd(g));
    assert.deepEqual(small.getLayer('r1').getConfig().targetShape, [1, 1, 4]);
    assert.deepEqual(small.getLayer('r2').getConfig().targetShape, [2]);
    small.dispose();
    model.dispose();

    for (const target of [[36, 8], [6, 6, 2, 4], [8, 36]]) {
      const xi = tf.input({shape: [6, 6, 3]});
      const a = on(L.conv2d({name: 'a', filters: 8, kernelSize: 1}), xi);
      const r = on(L.reshape({name: 'r', targetShape: target}), a);
      const m = tf.model({inputs: xi, outputs: on(L.dense({name: 'fc', units: 2}), on(L.flatten({}), r))});
      const s = spaceWith(group(m), 'a');
      assert.equal(s.prunable, false, `${target}`);
      assert.match(s.reason!, /Reshape "r" \[6,6,8\] -> \[.*\] moves channels/);
      m.dispose();
    }
  });

  it('SeparableConv2D: consumes its input, produces its output; MACs depthwise + pointwise; exact slicing', () => {
    const x = tf.input({shape: [6, 6, 3]});
    const c1 = on(L.conv2d({name: 'c1', filters: 4, kernelSize: 1}), x); // [6, 6, 4]
    let y = on(L.separableConv2d({name: 's1', filters: 6, kernelSize: 3, padding: 'same', depthMultiplier: 2}), c1); // [6, 6, 6]
    y = on(L.reLU({}), on(L.batchNormalization({name: 'bn'}), y));
    y = on(L.separableConv2d({name: 's2', filters: 5, kernelSize: 3, strides: 2, useBias: false}), y); // [2, 2, 5]
    const model = tf.model({inputs: x, outputs: on(L.dense({name: 'fc', units: 3}), on(L.flatten({}), y))});
    // tfjs weight order: depthwise [kh, kw, in, m], pointwise [1, 1, in*m, out], bias [out]
    const s1 = model.getLayer('s1');
    assert.deepEqual(s1.weights.map((w) => w.name.split('/').pop()), ['depthwise_kernel', 'pointwise_kernel', 'bias']);
    assert.deepEqual(s1.weights.map((w) => w.shape), [[3, 3, 4, 2], [1, 1, 8, 6], [6]]);
    perturb(model);
    const g = check(model, conv(36, 1, 3, 4) + separable(36, 3, 4, 6, 2) + separable(4, 3, 6, 5) + 20 * 3);
    assert.deepEqual(spaceWith(g, 'c1').consumers, ['s1']);
    assert.deepEqual(spaceWith(g, 's1').producers, ['s1']);
    assert.deepEqual(spaceWith(g, 's1').consumers, ['s2']);
    const small = exportPruned(g, dropOdd(g)); // c1: 2 of 4 kept, s1: 3 of 6, s2: 3 of 5
    assert.deepEqual(small.getLayer('s1').weights.map((w) => w.shape), [[3, 3, 2, 2], [1, 1, 4, 3], [3]]);
    assert.deepEqual(small.getLayer('s2').weights.map((w) => w.shape), [[3, 3, 3, 1], [1, 1, 3, 3]]);
    small.dispose();
    model.dispose();
  });

  it('Conv2DTranspose: kernel [kh, kw, out, in]; MACs = input positions * kh * kw * cin * cout, also counted by running it', () => {
    const x = tf.input({shape: [4, 4, 3]});
    let y = on(L.conv2d({name: 'c1', filters: 6, kernelSize: 1}), x); // [4, 4, 6]
    y = on(L.conv2dTranspose({name: 't1', filters: 5, kernelSize: 3, strides: 2, padding: 'same'}), y); // [8, 8, 5]
    y = on(L.reLU({}), on(L.batchNormalization({name: 'bn'}), y));
    y = on(L.conv2dTranspose({name: 't2', filters: 4, kernelSize: 2, padding: 'valid'}), y); // [9, 9, 4]
    const model = tf.model({inputs: x, outputs: on(L.dense({name: 'fc', units: 3}), on(L.globalAveragePooling2d({}), y))});
    assert.deepEqual(model.getLayer('t1').weights[0].shape, [3, 3, 5, 6]);
    perturb(model);
    const g = check(model, 16 * 3 * 6 + 16 * 9 * 6 * 5 + 64 * 4 * 5 * 4 + 4 * 3);
    assert.deepEqual(spaceWith(g, 'c1').consumers, ['t1']);
    assert.deepEqual(spaceWith(g, 't1').consumers, ['t2']);
    // independent count: with 'valid' padding every product lands in the output, so the sum of
    // conv2dTranspose(ones, ones) is the number of multiply-accumulates
    const ran = tf.tidy(() => tf.conv2dTranspose(tf.ones([1, 8, 8, 5]) as tf.Tensor4D, tf.ones([2, 2, 4, 5]) as tf.Tensor4D, [1, 9, 9, 4], 1, 'valid').sum().dataSync()[0]);
    assert.equal(countCosts(model).layers.find((r) => r.name === 't2')!.macs, ran);
    model.dispose();
  });

  it('ZeroPadding2D, Cropping2D and UpSampling2D pass channels through', () => {
    const x = tf.input({shape: [6, 6, 2]});
    let y = on(L.conv2d({name: 'c1', filters: 6, kernelSize: 3, padding: 'same'}), x); // [6, 6, 6]
    y = on(L.zeroPadding2d({padding: [[1, 2], [0, 1]]}), y); // [9, 7, 6]
    y = on(L.cropping2D({cropping: [[2, 1], [1, 0]]}), y); // [6, 6, 6]
    y = on(L.upSampling2d({size: [2, 2]}), y); // [12, 12, 6]
    y = on(L.upSampling2d({size: [1, 2], interpolation: 'bilinear'}), y); // [12, 24, 6]
    y = on(L.conv2d({name: 'c2', filters: 4, kernelSize: 3}), y); // [10, 22, 4]
    const model = tf.model({inputs: x, outputs: on(L.dense({name: 'fc', units: 3}), on(L.globalAveragePooling2d({}), y))});
    const g = check(model, conv(36, 3, 2, 6) + conv(220, 3, 6, 4) + 4 * 3);
    assert.deepEqual(spaceWith(g, 'c1').consumers, ['c2']);
    model.dispose();
  });

  it('Activation variants, ReLU, LeakyReLU, ELU and PReLU pass channels through; softmax over channels blocks', () => {
    const names = ['swish', 'mish', 'gelu', 'hardSigmoid', 'relu6', 'selu', 'tanh', 'softplus'] as const;
    const x = tf.input({shape: [5, 5, 2]});
    let y = on(L.conv2d({name: 'c0', filters: 4, kernelSize: 1}), x);
    names.forEach((activation, i) => {
      y = on(L.activation({name: `act_${activation}`, activation}), y);
      y = on(L.conv2d({name: `c${i + 1}`, filters: 4, kernelSize: 1}), y);
    });
    y = on(L.prelu({name: 'prelu', sharedAxes: [1, 2]}), on(L.elu({}), on(L.leakyReLU({}), on(L.reLU({maxValue: 6}), y)))); // alpha [1, 1, 4]
    y = on(L.conv2d({name: 'last', filters: 4, kernelSize: 1}), y);
    y = on(L.prelu({name: 'prelu_full'}), y); // alpha [5, 5, 4]
    const model = tf.model({inputs: x, outputs: on(L.dense({name: 'fc', units: 3}), on(L.flatten({}), y))});
    perturb(model);
    const g = check(model, 25 * 2 * 4 + names.length * 25 * 4 * 4 + 25 * 4 * 4 + 100 * 3);
    names.forEach((_, i) => assert.ok(spaceWith(g, `c${i}`).prunable, `c${i}`));
    model.dispose();

    // softmax across channels, as a layer or an activation, is a barrier (tfjs runs softmax on the last axis
    // only; its Softmax layer defaults to axis 1, the channels of a [batch, c] input; Keras writes axis -1)
    const softmaxes = (): tf.layers.Layer[] => [L.softmax({name: 'sm', axis: -1}), L.softmax({name: 'sm', axis: 3}), L.activation({name: 'sm', activation: 'softmax'})];
    for (const layer of softmaxes()) {
      const xi = tf.input({shape: [5, 5, 2]});
      const a = on(L.conv2d({name: 'a', filters: 4, kernelSize: 1}), xi);
      const b = on(L.conv2d({name: 'b', filters: 3, kernelSize: 1}), on(layer, a));
      const m = tf.model({inputs: xi, outputs: on(L.dense({name: 'fc', units: 2}), on(L.flatten({}), b))});
      const s = spaceWith(group(m), 'a');
      assert.equal(s.prunable, false, layer.getClassName());
      assert.match(s.reason!, /"sm" applies softmax across channels/);
      m.dispose();
    }
    const xv = tf.input({shape: [3]});
    const h = on(L.dense({name: 'h', units: 4}), xv);
    const mv = tf.model({inputs: xv, outputs: on(L.dense({name: 'out', units: 2}), on(L.softmax({name: 'sm'}), h))});
    assert.match(spaceWith(group(mv), 'h').reason!, /"sm" applies softmax across channels/);
    mv.dispose();
  });

  it('a layer with weights and no rule is a barrier and uncosted: countCosts flags it, a FLOPs target refuses it', () => {
    class Weighted extends tf.layers.Layer {
      static className = 'HandlersTestWeighted';
      private gain?: tf.LayerVariable;
      override build(shape: tf.Shape | tf.Shape[]): void {
        const s = shape as tf.Shape;
        this.gain = this.addWeight('gain', [s[s.length - 1] as number], 'float32', tf.initializers.ones());
        this.built = true;
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => (Array.isArray(inputs) ? inputs[0] : inputs).mul(this.gain!.read()));
      }
    }
    tf.serialization.registerClass(Weighted);
    const build = (): tf.LayersModel => {
      const x = tf.input({shape: [4, 4, 2]});
      const a = on(L.conv2d({name: 'a', filters: 4, kernelSize: 1}), x);
      const b = on(L.conv2d({name: 'b', filters: 4, kernelSize: 1}), on(new Weighted({name: 'w'}), a));
      return tf.model({inputs: x, outputs: on(L.dense({name: 'fc', units: 2}), on(L.flatten({}), on(L.conv2d({name: 'c', filters: 3, kernelSize: 1}), b)))});
    };
    const model = build();
    const g = group(model);
    assert.deepEqual(g.uncosted, [{layer: 'w', className: 'HandlersTestWeighted'}]);
    assert.match(spaceWith(g, 'a').reason!, /layer "w" of class HandlersTestWeighted has no pruning rule/);
    assert.throws(() => assertCosted(g), /"w" \(HandlersTestWeighted\) has weights but no cost rule: register a handler with macs for HandlersTestWeighted/);
    assert.deepEqual(countCosts(model).unknownClasses, ['HandlersTestWeighted']);
    assert.ok(spaceWith(g, 'b').prunable, 'the other spaces still prune');

    // a handler with its rule and costs: grouped, costed, sliced
    registerHandler('HandlersTestWeighted', {
      group: (ctx) => ctx.inputs[0],
      macs: (call, cin) => 16 * cin, // one multiply per element
      slice: ([gain], keep) => [tf.gather(gain, keep.output)],
    });
    const g2 = check(model, 16 * 2 * 4 + 16 * 4 + 16 * 4 * 4 + 16 * 4 * 3 + 48 * 2);
    assert.doesNotThrow(() => assertCosted(g2));
    assert.deepEqual(spaceWith(g2, 'a').consumers, ['b']);
    model.dispose();

    // channelsFirst layers are not pruned, and their MACs are not followed by the pruner
    const xf = tf.input({shape: [2, 4, 4]});
    const cf = tf.model({inputs: xf, outputs: on(L.conv2d({name: 'cf', filters: 3, kernelSize: 1, dataFormat: 'channelsFirst'}), xf)});
    const gf = group(cf);
    assert.deepEqual(gf.uncosted, [{layer: 'cf', className: 'Conv2D'}]);
    assert.match(gf.spaces[1].reason!, /"cf" of class Conv2D uses dataFormat 'channelsFirst'/);
    assert.equal(countCosts(cf).macs, 16 * 2 * 3);
    cf.dispose();
  });

  it('registerLayerCost (deprecated) still gives a class its MACs and memory flag, through its handler', () => {
    class CostOnly extends tf.layers.Layer {
      static className = 'HandlersTestCostOnly';
      override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] { return shape; }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor { return tf.clone(Array.isArray(inputs) ? inputs[0] : inputs); }
    }
    const x = tf.input({shape: [3, 3, 2]});
    const a = on(L.conv2d({name: 'a', filters: 4, kernelSize: 1}), x);
    const model = tf.model({inputs: x, outputs: on(L.dense({name: 'fc', units: 2}), on(L.flatten({}), on(new CostOnly({name: 'k'}), a)))});
    assert.deepEqual(countCosts(model).unknownClasses, ['HandlersTestCostOnly']);
    registerLayerCost('HandlersTestCostOnly', {macs: (site) => site.outputShapes[0].reduce((p, d) => p * d, 1), memory: true});
    const c = countCosts(model);
    assert.deepEqual(c.unknownClasses, []);
    assert.equal(c.layers.find((r) => r.name === 'k')!.macs, 36);
    assert.equal(c.memory, 36 + 36 + 2); // a, k, fc
    const g = group(model);
    assert.equal(costsOf(g, allKept(g)).macs, c.macs);
    assert.match(spaceWith(g, 'a').reason!, /"k" of class HandlersTestCostOnly has a cost but no pruning rule/);
    model.dispose();
  });

  it('a tf.sequential classifier (as Keras writes them): separable conv, transpose conv, noise, softmax output', () => {
    const model = tf.sequential({name: 'sequential_like', layers: [
      L.conv2d({name: 'c1', inputShape: [6, 6, 2], filters: 6, kernelSize: 3, padding: 'same', useBias: false}), // [6, 6, 6]
      L.batchNormalization({name: 'bn1'}),
      L.reLU({maxValue: 6}),
      L.separableConv2d({name: 's1', filters: 8, kernelSize: 3, strides: 2, padding: 'same'}), // [3, 3, 8]
      L.conv2dTranspose({name: 't1', filters: 4, kernelSize: 2, strides: 2}), // [6, 6, 4]
      L.gaussianNoise({stddev: 0.1}),
      L.globalAveragePooling2d({}),
      L.dropout({rate: 0.5}),
      L.dense({name: 'pred', units: 3, activation: 'softmax'}),
    ]});
    perturb(model);
    const g = check(model, conv(36, 3, 2, 6) + separable(9, 3, 6, 8) + 9 * 2 * 2 * 8 * 4 + 4 * 3);
    assert.deepEqual(g.spaces.filter((s) => s.prunable).map((s) => s.consumers), [['s1'], ['t1'], ['pred']]);
    model.dispose();
  });

  it('loads a Keras-converted model.json (snake_case config, inbound_nodes) with SE, separable conv and scale-free BatchNorm', async () => {
    const init = {class_name: 'GlorotUniform', config: {seed: null}};
    const layer = (class_name: string, name: string, config: Record<string, unknown>, inputs: string[]) =>
      ({class_name, name, config: {name, trainable: true, dtype: 'float32', ...config}, inbound_nodes: inputs.length ? [inputs.map((i) => [i, 0, 0, {}])] : []});
    const convConfig = (filters: number, k: number, extra: Record<string, unknown> = {}) => ({
      filters, kernel_size: [k, k], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1,
      activation: 'linear', use_bias: true, kernel_initializer: init, bias_initializer: {class_name: 'Zeros', config: {}},
      kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null, ...extra,
    });
    const bn = (scale: boolean) => ({axis: [3], momentum: 0.99, epsilon: 0.001, center: true, scale,
      beta_initializer: {class_name: 'Zeros', config: {}}, gamma_initializer: {class_name: 'Ones', config: {}},
      moving_mean_initializer: {class_name: 'Zeros', config: {}}, moving_variance_initializer: {class_name: 'Ones', config: {}}});
    const topology = {
      class_name: 'Functional',
      config: {
        name: 'keras_like',
        layers: [
          layer('InputLayer', 'input_1', {batch_input_shape: [null, 8, 8, 3], sparse: false, ragged: false}, []),
          layer('Conv2D', 'stem_conv', convConfig(8, 3, {strides: [2, 2], use_bias: false}), ['input_1']),
          layer('BatchNormalization', 'stem_bn', bn(false), ['stem_conv']),
          layer('Activation', 'stem_act', {activation: 'swish'}, ['stem_bn']),
          layer('DepthwiseConv2D', 'dw', {kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1],
            activation: 'linear', use_bias: false, depth_multiplier: 1, depthwise_initializer: init}, ['stem_act']),
          layer('BatchNormalization', 'dw_bn', bn(true), ['dw']),
          layer('Activation', 'dw_act', {activation: 'swish'}, ['dw_bn']),
          layer('GlobalAveragePooling2D', 'se_squeeze', {data_format: 'channels_last'}, ['dw_act']),
          layer('Reshape', 'se_reshape', {target_shape: [1, 1, 8]}, ['se_squeeze']),
          layer('Conv2D', 'se_reduce', convConfig(2, 1, {activation: 'swish'}), ['se_reshape']),
          layer('Conv2D', 'se_expand', convConfig(8, 1, {activation: 'sigmoid'}), ['se_reduce']),
          layer('Multiply', 'se_excite', {}, ['dw_act', 'se_expand']),
          layer('SeparableConv2D', 'sep', {filters: 12, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last',
            dilation_rate: [1, 1], activation: 'linear', use_bias: true, depth_multiplier: 1, depthwise_initializer: init, pointwise_initializer: init,
            bias_initializer: {class_name: 'Zeros', config: {}}}, ['se_excite']),
          layer('BatchNormalization', 'sep_bn', bn(false), ['sep']),
          layer('Activation', 'sep_act', {activation: 'relu'}, ['sep_bn']),
          layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last'}, ['sep_act']),
          layer('Dropout', 'drop', {rate: 0.2, noise_shape: null, seed: null}, ['pool']),
          layer('Dense', 'pred', {units: 4, activation: 'softmax', use_bias: true, kernel_initializer: init, bias_initializer: {class_name: 'Zeros', config: {}}}, ['drop']),
        ],
        input_layers: [['input_1', 0, 0]],
        output_layers: [['pred', 0, 0]],
      },
      keras_version: '2.13.1',
      backend: 'tensorflow',
    };
    const model = await tf.loadLayersModel(tf.io.fromMemory({modelTopology: topology}));
    perturb(model);
    const g = check(model, conv(16, 3, 3, 8) + depthwise(16, 3, 8) + conv(1, 1, 8, 2) + conv(1, 1, 2, 8) + separable(16, 3, 8, 12) + 12 * 4);
    const stem = spaceWith(g, 'stem_conv');
    assert.equal(stem.prunable, true);
    assert.deepEqual([stem.producers, stem.consumers], [['stem_conv', 'dw', 'se_expand'], ['dw', 'se_reduce', 'sep']]);
    assert.ok(spaceWith(g, 'se_reduce').prunable && spaceWith(g, 'sep').prunable);
    assert.match(spaceWith(g, 'pred').reason!, /softmax|model output/);
    model.dispose();
  });
});

describe('Keras application families (small blocks)', () => {
  const bn = (name?: string, scale = true) => L.batchNormalization({name, scale});
  const relu6 = () => L.reLU({maxValue: 6});
  const c2d = (name: string, filters: number, kernelSize: number, o: Partial<{strides: number; padding: 'same' | 'valid'; useBias: boolean; activation: 'relu' | 'sigmoid' | 'swish' | 'hardSigmoid'}> = {}) =>
    L.conv2d({name, filters, kernelSize, strides: o.strides ?? 1, padding: o.padding ?? 'same', useBias: o.useBias ?? false, activation: o.activation});
  const dw = (name: string, o: {strides?: number; padding?: 'same' | 'valid'} = {}) =>
    L.depthwiseConv2d({name, kernelSize: 3, strides: o.strides ?? 1, padding: o.padding ?? 'same', useBias: false});
  const head = (y: Sym, classes = 5): Sym => on(L.dense({name: 'pred', units: classes, activation: 'softmax'}), on(L.globalAveragePooling2d({}), y));
  const hswish = (y: Sym): Sym => on(L.multiply({}), [y, on(L.activation({activation: 'hardSigmoid'}), y)]);
  const se = (y: Sym, c: number, r: number, act: 'relu' | 'swish', gate: 'sigmoid' | 'hardSigmoid', name: string): Sym => {
    let s = on(L.reshape({targetShape: [1, 1, c]}), on(L.globalAveragePooling2d({}), y));
    s = on(c2d(`${name}_reduce`, r, 1, {useBias: true, activation: act}), s);
    s = on(c2d(`${name}_expand`, c, 1, {useBias: true, activation: gate}), s);
    return on(L.multiply({}), [y, s]);
  };
  const prunableIds = (g: Grouping) => g.spaces.filter((s) => s.prunable).map((s) => s.producers.join('+'));

  it('MobileNetV2: inverted residuals with ReLU6, depthwise, ZeroPadding before a strided depthwise', () => {
    const x = tf.input({shape: [8, 8, 3]});
    let y = on(c2d('stem', 8, 3, {strides: 2, padding: 'valid'}), on(L.zeroPadding2d({padding: [[0, 1], [0, 1]]}), x)); // [4, 4, 8]
    const stem = on(relu6(), on(bn(), y));
    y = on(relu6(), on(bn(), on(c2d('b1_expand', 16, 1), stem)));
    y = on(relu6(), on(bn(), on(dw('b1_dw'), y)));
    y = on(bn(), on(c2d('b1_project', 8, 1), y));
    const b1 = on(L.add({}), [stem, y]);
    y = on(relu6(), on(bn(), on(c2d('b2_expand', 16, 1), b1)));
    y = on(L.zeroPadding2d({padding: [[0, 1], [0, 1]]}), y); // [5, 5, 16]
    y = on(relu6(), on(bn(), on(dw('b2_dw', {strides: 2, padding: 'valid'}), y))); // [2, 2, 16]
    y = on(bn(), on(c2d('b2_project', 12, 1), y));
    y = on(relu6(), on(bn(), on(c2d('top', 20, 1), y)));
    const model = tf.model({inputs: x, outputs: head(y), name: 'mobilenetv2_like'});
    perturb(model);
    const g = check(model, conv(16, 3, 3, 8) + conv(16, 1, 8, 16) + depthwise(16, 3, 16) + conv(16, 1, 16, 8) +
      conv(16, 1, 8, 16) + depthwise(4, 3, 16) + conv(4, 1, 16, 12) + conv(4, 1, 12, 20) + 20 * 5);
    assert.deepEqual(prunableIds(g), ['stem+b1_project', 'b1_expand+b1_dw', 'b2_expand+b2_dw', 'b2_project', 'top']);
    model.dispose();
  });

  it('MobileNetV3: hard-swish (Activation + Multiply), squeeze-excite with Reshape, 1x1 conv head on a Reshape', () => {
    const x = tf.input({shape: [8, 8, 3]});
    const stem = hswish(on(bn(), on(c2d('stem', 8, 3, {strides: 2}), x))); // [4, 4, 8]
    let y = hswish(on(bn(), on(c2d('expand', 16, 1), stem)));
    y = hswish(on(bn(), on(dw('dw'), y)));
    y = se(y, 16, 4, 'relu', 'hardSigmoid', 'se');
    y = on(bn(), on(c2d('project', 8, 1), y));
    y = on(L.add({}), [stem, y]);
    y = hswish(on(bn(), on(c2d('top', 24, 1), y)));
    y = on(L.reshape({targetShape: [1, 1, 24]}), on(L.globalAveragePooling2d({}), y));
    y = hswish(on(c2d('head', 32, 1, {useBias: true}), y));
    y = on(c2d('logits', 5, 1, {useBias: true}), on(L.dropout({rate: 0.2}), y));
    const model = tf.model({inputs: x, outputs: on(L.activation({activation: 'softmax'}), on(L.flatten({}), y)), name: 'mobilenetv3_like'});
    perturb(model);
    const g = check(model, conv(16, 3, 3, 8) + conv(16, 1, 8, 16) + depthwise(16, 3, 16) + conv(1, 1, 16, 4) + conv(1, 1, 4, 16) +
      conv(16, 1, 16, 8) + conv(16, 1, 8, 24) + conv(1, 1, 24, 32) + conv(1, 1, 32, 5));
    assert.deepEqual(prunableIds(g), ['stem+project', 'expand+dw+se_expand', 'se_reduce', 'top', 'head']);
    model.dispose();
  });

  it('EfficientNet: swish, squeeze-excite with Reshape, depthwise, Dropout before the residual Add', () => {
    const x = tf.input({shape: [8, 8, 3]});
    const stem = on(L.activation({activation: 'swish'}), on(bn(), on(c2d('stem', 8, 3, {strides: 2}), x)));
    let y = on(L.activation({activation: 'swish'}), on(bn(), on(c2d('expand', 16, 1), stem)));
    y = on(L.activation({activation: 'swish'}), on(bn(), on(dw('dw'), y)));
    y = se(y, 16, 2, 'swish', 'sigmoid', 'se');
    y = on(L.dropout({rate: 0.2}), on(bn(), on(c2d('project', 8, 1), y)));
    y = on(L.add({}), [stem, y]);
    y = on(L.activation({activation: 'swish'}), on(bn(), on(c2d('top', 16, 1), y)));
    const model = tf.model({inputs: x, outputs: on(L.dense({name: 'pred', units: 5, activation: 'softmax'}), on(L.dropout({rate: 0.2}), on(L.globalAveragePooling2d({}), y))), name: 'efficientnet_like'});
    perturb(model);
    const g = check(model, conv(16, 3, 3, 8) + conv(16, 1, 8, 16) + depthwise(16, 3, 16) + conv(1, 1, 16, 2) + conv(1, 1, 2, 16) +
      conv(16, 1, 16, 8) + conv(16, 1, 8, 16) + 16 * 5);
    assert.deepEqual(prunableIds(g), ['stem+project', 'expand+dw+se_expand', 'se_reduce', 'top']);
    model.dispose();
  });

  it('DenseNet: BN-ReLU-Conv, Concatenate of growing features, transition with AveragePooling', () => {
    const x = tf.input({shape: [8, 8, 3]});
    let y = on(L.reLU({}), on(bn(), on(c2d('stem', 8, 3), x)));
    for (const [i, cin] of [[1, 8], [2, 12]]) {
      let z = on(c2d(`d${i}_1x1`, 8, 1), on(L.reLU({}), on(bn(), y)));
      z = on(c2d(`d${i}_3x3`, 4, 3), on(L.reLU({}), on(bn(), z)));
      y = on(L.concatenate({}), [y, z]);
      assert.equal(y.shape[3], cin + 4);
    }
    y = on(L.averagePooling2d({poolSize: 2}), on(c2d('transition', 8, 1), on(L.reLU({}), on(bn(), y)))); // [4, 4, 8]
    const model = tf.model({inputs: x, outputs: head(on(L.reLU({}), on(bn(), y))), name: 'densenet_like'});
    perturb(model);
    const g = check(model, conv(64, 3, 3, 8) + conv(64, 1, 8, 8) + conv(64, 3, 8, 4) + conv(64, 1, 12, 8) + conv(64, 3, 8, 4) +
      conv(64, 1, 16, 8) + 8 * 5);
    assert.deepEqual(prunableIds(g), ['stem', 'd1_1x1', 'd1_3x3', 'd2_1x1', 'd2_3x3', 'transition']);
    assert.deepEqual(spaceWith(g, 'stem').consumers, ['d1_1x1', 'd2_1x1', 'transition']);
    model.dispose();
  });

  it('ResNet50: ZeroPadding2D stem, conv with bias + BN, projection and identity bottlenecks with Add', () => {
    const x = tf.input({shape: [16, 16, 3]});
    let y = on(c2d('stem', 8, 7, {strides: 2, padding: 'valid', useBias: true}), on(L.zeroPadding2d({padding: 3}), x)); // [8, 8, 8]
    y = on(L.reLU({}), on(bn(), y));
    y = on(L.maxPooling2d({poolSize: 3, strides: 2}), on(L.zeroPadding2d({padding: 1}), y)); // [4, 4, 8]
    const block = (input: Sym, name: string, project: boolean): Sym => {
      const shortcut = project ? on(bn(), on(c2d(`${name}_0`, 16, 1, {useBias: true}), input)) : input;
      let z = on(L.reLU({}), on(bn(), on(c2d(`${name}_1`, 4, 1, {useBias: true}), input)));
      z = on(L.reLU({}), on(bn(), on(c2d(`${name}_2`, 4, 3, {useBias: true}), z)));
      z = on(bn(), on(c2d(`${name}_3`, 16, 1, {useBias: true}), z));
      return on(L.reLU({}), on(L.add({}), [shortcut, z]));
    };
    y = block(block(y, 'b1', true), 'b2', false);
    const model = tf.model({inputs: x, outputs: head(y), name: 'resnet50_like'});
    perturb(model);
    const g = check(model, conv(64, 7, 3, 8) + conv(16, 1, 8, 16) + conv(16, 1, 8, 4) + conv(16, 3, 4, 4) + conv(16, 1, 4, 16) +
      conv(16, 1, 16, 4) + conv(16, 3, 4, 4) + conv(16, 1, 4, 16) + 16 * 5);
    assert.deepEqual(prunableIds(g), ['stem', 'b1_0+b1_3+b2_3', 'b1_1', 'b1_2', 'b2_1', 'b2_2']);
    model.dispose();
  });

  it('ResNetV2: pre-activation BN-ReLU shared by the shortcut conv, ZeroPadding2D + valid conv, post-activation', () => {
    const x = tf.input({shape: [8, 8, 3]});
    let y = on(c2d('stem', 8, 7, {strides: 2, padding: 'valid', useBias: true}), on(L.zeroPadding2d({padding: 3}), x)); // [4, 4, 8]
    const block = (input: Sym, name: string, project: boolean): Sym => {
      const preact = on(L.reLU({}), on(bn(`${name}_preact`), input));
      const shortcut = project ? on(c2d(`${name}_0`, 16, 1, {useBias: true}), preact) : input;
      let z = on(L.reLU({}), on(bn(), on(c2d(`${name}_1`, 4, 1), preact)));
      z = on(L.reLU({}), on(bn(), on(c2d(`${name}_2`, 4, 3, {padding: 'valid'}), on(L.zeroPadding2d({padding: 1}), z))));
      z = on(c2d(`${name}_3`, 16, 1, {useBias: true}), z);
      return on(L.add({}), [shortcut, z]);
    };
    y = block(block(y, 'b1', true), 'b2', false);
    const model = tf.model({inputs: x, outputs: head(on(L.reLU({}), on(bn('post'), y))), name: 'resnetv2_like'});
    perturb(model);
    const g = check(model, conv(16, 7, 3, 8) + conv(16, 1, 8, 16) + conv(16, 1, 8, 4) + conv(16, 3, 4, 4) + conv(16, 1, 4, 16) +
      conv(16, 1, 16, 4) + conv(16, 3, 4, 4) + conv(16, 1, 4, 16) + 16 * 5);
    assert.deepEqual(prunableIds(g), ['stem', 'b1_0+b1_3+b2_3', 'b1_1', 'b1_2', 'b2_1', 'b2_2']);
    model.dispose();
  });

  it('Inception: BatchNormalization with scale: false, Concatenate of branches, AveragePooling branch', () => {
    const cbr = (input: Sym, name: string, filters: number, k: number): Sym => on(L.reLU({}), on(bn(undefined, false), on(c2d(name, filters, k), input)));
    const x = tf.input({shape: [8, 8, 3]});
    const y = cbr(x, 'stem', 8, 3);
    const b1 = cbr(y, 'b1', 4, 1);
    const b2 = cbr(cbr(y, 'b2a', 4, 1), 'b2b', 6, 3);
    const b3 = cbr(on(L.averagePooling2d({poolSize: 3, strides: 1, padding: 'same'}), y), 'b3', 2, 1);
    const mixed = on(L.concatenate({}), [b1, b2, b3]); // [8, 8, 12]
    const model = tf.model({inputs: x, outputs: head(cbr(mixed, 'next', 8, 1)), name: 'inception_like'});
    perturb(model);
    const g = check(model, conv(64, 3, 3, 8) + conv(64, 1, 8, 4) + conv(64, 1, 8, 4) + conv(64, 3, 4, 6) + conv(64, 1, 8, 2) +
      conv(64, 1, 12, 8) + 8 * 5);
    assert.deepEqual(prunableIds(g), ['stem', 'b1', 'b2a', 'b2b', 'b3', 'next']);
    assert.deepEqual(spaceWith(g, 'b3').consumers, ['next']);
    model.dispose();
  });

  it('Xception: SeparableConv2D blocks, strided 1x1 conv shortcut, MaxPooling, Add', () => {
    const sep = (name: string, filters: number) => L.separableConv2d({name, filters, kernelSize: 3, padding: 'same', useBias: false});
    const x = tf.input({shape: [16, 16, 3]});
    let y = on(L.reLU({}), on(bn(), on(c2d('conv1', 8, 3, {strides: 2, padding: 'valid'}), x))); // [7, 7, 8]
    y = on(L.reLU({}), on(bn(), on(c2d('conv2', 12, 3, {padding: 'valid'}), y))); // [5, 5, 12]
    const residual = on(bn(), on(c2d('shortcut', 16, 1, {strides: 2}), y)); // [3, 3, 16]
    let z = on(L.reLU({}), on(bn(), on(sep('sep1', 16), y)));
    z = on(bn(), on(sep('sep2', 16), z));
    z = on(L.maxPooling2d({poolSize: 3, strides: 2, padding: 'same'}), z); // [3, 3, 16]
    y = on(L.add({}), [z, residual]);
    z = on(bn(), on(sep('sep3', 16), on(L.reLU({}), y)));
    y = on(L.add({}), [z, y]);
    const model = tf.model({inputs: x, outputs: head(on(L.reLU({}), y)), name: 'xception_like'});
    perturb(model);
    const g = check(model, conv(49, 3, 3, 8) + conv(25, 3, 8, 12) + conv(9, 1, 12, 16) + separable(25, 3, 12, 16) + separable(25, 3, 16, 16) +
      separable(9, 3, 16, 16) + 16 * 5);
    assert.deepEqual(prunableIds(g), ['conv1', 'conv2', 'sep1', 'sep2+shortcut+sep3']);
    model.dispose();
  });
});
