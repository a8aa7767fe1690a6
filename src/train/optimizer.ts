/**
 * SGD with momentum and Adam, written here rather than taken from tf.train: tf.train's
 * optimizers fix the learning rate at construction (no setter on Adam or momentum) and have
 * no decoupled weight decay. The learning rate is an argument of every step, and the slots
 * are plain tensors, so a checkpoint holds them exactly.
 */
import * as tf from '@tensorflow/tfjs';
import { checkNumber, checkOptions } from './validate';

/** Update rules. */
export type OptimizerName = 'sgd' | 'adam';
/** 'l2' adds wd * w to the gradient (before momentum / Adam moments); 'decoupled' shrinks w by lr * wd * w (AdamW). */
export type WeightDecayMode = 'l2' | 'decoupled';

/** Hyper-parameters of an optimizer; the learning rate is given per step. */
export interface OptimizerOptions {
  name: OptimizerName;
  /** sgd: momentum coefficient mu. Default 0.9. */
  momentum?: number;
  /** sgd: Nesterov momentum. Default false. */
  nesterov?: boolean;
  /** adam: moment decay rates and epsilon. Defaults 0.9, 0.999, 1e-8. */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Weight decay, applied to kernels only (weights of rank >= 2: conv, depthwise, dense); never to biases or BatchNorm. Default 0. */
  weightDecay?: number;
  /** Default 'l2' for sgd, 'decoupled' for adam. */
  decayMode?: WeightDecayMode;
}

/** Snapshot of an optimizer: slot `k` of parameter `i` is tensors[`${i}/${slotNames[k]}`]. The caller disposes the tensors. */
export interface OptimizerState {
  options: OptimizerOptions;
  /** Updates applied so far. */
  step: number;
  tensors: tf.NamedTensorMap;
}

/** One update rule: from gradient g and slots, the direction d (w <- w - lr * d) and the new slots. */
interface Rule {
  slotNames: string[];
  /** t: 1-based index of this update. */
  update(g: tf.Tensor, slots: tf.Tensor[], t: number, o: OptimizerOptions): { direction: tf.Tensor; slots: tf.Tensor[] };
}

const rules: Record<OptimizerName, Rule> = {
  sgd: {
    slotNames: ['momentum'],
    update(g, [buf], _t, o) {
      const mu = o.momentum ?? 0.9;
      const next = tf.add(tf.mul(buf, mu), g); // buf_t = mu * buf_{t-1} + g
      const direction = o.nesterov ? tf.add(g, tf.mul(next, mu)) : next;
      return { direction, slots: [next] };
    },
  },
  adam: {
    slotNames: ['m', 'v'],
    update(g, [m, v], t, o) {
      const [b1, b2, eps] = [o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.epsilon ?? 1e-8];
      const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
      const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
      const mHat = tf.div(m1, 1 - Math.pow(b1, t));
      const vHat = tf.div(v1, 1 - Math.pow(b2, t));
      return { direction: tf.div(mHat, tf.add(tf.sqrt(vHat), eps)), slots: [m1, v1] };
    },
  },
};

/** How weight decay enters: through the gradient, or straight on the weight after the step. */
const decays: Record<WeightDecayMode, { grad: (g: tf.Tensor, w: tf.Tensor, wd: number) => tf.Tensor; weight: (next: tf.Tensor, w: tf.Tensor, lr: number, wd: number) => tf.Tensor }> = {
  l2: { grad: (g, w, wd) => tf.add(g, tf.mul(w, wd)), weight: (next) => next },
  decoupled: { grad: (g) => g, weight: (next, w, lr, wd) => tf.sub(next, tf.mul(w, lr * wd)) },
};

const defaultDecayMode: Record<OptimizerName, WeightDecayMode> = { sgd: 'l2', adam: 'decoupled' };

/**
 * True for weights that get weight decay: kernels (rank >= 2), not biases / BatchNorm (rank 1).
 * @example isKernel(model.getLayer('conv1').getWeights()[0]) // true
 */
export function isKernel(w: tf.Tensor): boolean {
  return w.rank >= 2;
}

/**
 * An optimizer over a fixed, ordered list of variables; the learning rate is passed per step.
 * @example const opt = new Optimizer({name: 'sgd', momentum: 0.9, weightDecay: 5e-4}); opt.apply(vars, grads, 0.1);
 */
export class Optimizer {
  readonly options: OptimizerOptions;
  /** Updates applied so far. */
  step = 0;
  private slots: tf.Variable[][] = [];

  constructor(options: OptimizerOptions) {
    if (!(options.name in rules)) {
      throw new Error(`unknown optimizer '${options.name}'; valid: ${Object.keys(rules).join(', ')}`);
    }
    const mode = options.decayMode ?? defaultDecayMode[options.name];
    if (!(mode in decays)) throw new Error(`unknown decayMode '${mode}'; valid: ${Object.keys(decays).join(', ')}`);
    checkOptions('Optimizer', options, {momentum: 'decay', beta1: 'decay', beta2: 'decay', epsilon: 'positive', weightDecay: 'nonNegative'});
    this.options = { ...options, decayMode: mode };
  }

  /**
   * One update of `params` (the same list, same order, every call) from `grads` at learning rate `lr`;
   * a parameter without a gradient (null / undefined: not connected to the loss) is left as it is, slots included.
   * @example opt.apply([w], [g], 0.01);
   */
  apply(params: tf.Variable[], grads: (tf.Tensor | null | undefined)[], lr: number): void {
    checkNumber('Optimizer.apply(lr)', lr, 'nonNegative');
    this.ensureSlots(params);
    const rule = rules[this.options.name];
    const decay = decays[this.options.decayMode as WeightDecayMode];
    const wdAll = this.options.weightDecay ?? 0;
    const t = this.step + 1;
    tf.tidy(() => {
      params.forEach((w, i) => {
        const grad = grads[i];
        if (grad == null) return;
        const wd = isKernel(w) ? wdAll : 0;
        const g = wd > 0 ? decay.grad(grad, w, wd) : grad;
        const { direction, slots } = rule.update(g, this.slots[i], t, this.options);
        const next = tf.sub(w, tf.mul(direction, lr));
        w.assign(wd > 0 ? decay.weight(next, w, lr, wd) : next);
        slots.forEach((s, k) => this.slots[i][k].assign(s));
      });
    });
    this.step = t;
  }

  /**
   * Copy of the optimizer state (slot tensors named `${paramIndex}/${slotName}`); the caller disposes them.
   * @example const s = opt.getState(); ...; tf.dispose(Object.values(s.tensors));
   */
  getState(): OptimizerState {
    const names = rules[this.options.name].slotNames;
    const tensors: tf.NamedTensorMap = {};
    this.slots.forEach((slots, i) => slots.forEach((s, k) => (tensors[`${i}/${names[k]}`] = tf.clone(s))));
    return { options: { ...this.options }, step: this.step, tensors };
  }

  /**
   * Replace the state with `state` (as from getState) for `params`; checks names and shapes.
   * @example opt.setState(saved, vars);
   */
  setState(state: OptimizerState, params: tf.Variable[]): void {
    if (state.options.name !== this.options.name) {
      throw new Error(`optimizer state is for '${state.options.name}', this optimizer is '${this.options.name}'`);
    }
    const names = rules[this.options.name].slotNames;
    const missing = params.flatMap((_, i) => names.map((n) => `${i}/${n}`)).filter((k) => !(k in state.tensors));
    // a state saved before the first step has no slots: start from zeros
    if (missing.length > 0 && Object.keys(state.tensors).length > 0) {
      throw new Error(`optimizer state lacks slots ${missing.slice(0, 3).join(', ')}: it was saved for a different model`);
    }
    params.forEach((w, i) =>
      names.forEach((n) => {
        const s = state.tensors[`${i}/${n}`];
        if (s && !tf.util.arraysEqual(s.shape, w.shape)) {
          throw new Error(`optimizer slot ${i}/${n} has shape [${s.shape}], parameter ${w.name} has [${w.shape}]`);
        }
      }),
    );
    this.dispose();
    if (missing.length === 0) {
      this.slots = params.map((_, i) => names.map((n) => tf.variable(state.tensors[`${i}/${n}`], false)));
    }
    this.step = state.step;
  }

  /** Free the slot tensors. @example opt.dispose(); */
  dispose(): void {
    tf.dispose(this.slots.flat());
    this.slots = [];
  }

  private ensureSlots(params: tf.Variable[]): void {
    if (this.slots.length === params.length) return;
    if (this.slots.length > 0) {
      throw new Error(`optimizer was used with ${this.slots.length} parameters, now given ${params.length}`);
    }
    const names = rules[this.options.name].slotNames;
    // tidy frees the zeros; the variable keeps its own reference to the data
    this.slots = params.map((w) => names.map(() => tf.tidy(() => tf.variable(tf.zerosLike(w), false))));
  }
}
