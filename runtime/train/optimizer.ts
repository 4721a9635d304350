/**
 * The optimisers MedNeXt's trainer uses, written out because TF.js has neither decoupled weight
 * decay nor global-norm clipping: AdamW exactly as `torch.optim.AdamW` steps (MedNeXt: lr 1e-3,
 * eps 1e-4, betas 0.9/0.999, weight decay 3e-5), nnU-Net's SGD (Nesterov momentum, coupled weight
 * decay) for the `sgd` plans option, `clip_grad_norm_` and the poly learning-rate schedule.
 * State (moments, step count) is plain tensors so checkpoints can hold it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Plans } from '../data/plan/plans.js';
import type { TensorMap } from '../io/safetensors.js';

export type OptimizerConfig = Plans['training']['optimizer'];

/** lr for `epoch` (0-based): poly lr0·(1 − epoch/epochs)^exponent, or constant. */
export function learningRate(schedule: Plans['training']['lr_schedule'], lr0: number, epoch: number, epochs: number): number {
  if (schedule.name === 'constant') return lr0;
  return lr0 * Math.pow(1 - epoch / epochs, schedule.exponent);
}

/**
 * torch.nn.utils.clip_grad_norm_: scales every gradient by min(1, max/(‖g‖₂ + 1e-6)), ‖g‖₂ over
 * all gradients together. Returns the clipped gradients (new tensors) and the norm before clipping.
 * A parameter without a gradient (null: nothing in the loss reads it, e.g. a deep-supervision head
 * of weight 0) stays null, as PyTorch leaves its `grad` None.
 */
export function clipByGlobalNorm<G extends tf.Tensor | null>(grads: G[], maxNorm: number): { grads: G[]; norm: tf.Scalar } {
  // tidy keeps the tensors of the returned container (nulls are passed over).
  const kept = tf.tidy(() => {
    const present = grads.filter((g): g is NonNullable<G> => g !== null);
    const norm = (present.length ? tf.sqrt(tf.addN(present.map((g) => tf.sum(tf.square(g))))) : tf.scalar(0)) as tf.Scalar;
    if (!(maxNorm > 0)) return { grads: grads.map((g) => (g === null ? g : tf.clone(g))), norm } as unknown as tf.TensorContainer;
    const coef = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    return { grads: grads.map((g) => (g === null ? g : tf.mul(g, coef))), norm } as unknown as tf.TensorContainer;
  });
  return kept as unknown as { grads: G[]; norm: tf.Scalar };
}

/** A non-trainable zero variable shaped like `p` (the initial tensor is freed: the variable keeps its data). */
function zeroVariable(p: tf.Tensor): tf.Variable {
  const z = tf.zerosLike(p);
  const v = tf.variable(z, false);
  z.dispose();
  return v;
}

export class Optimizer {
  /** Number of steps taken. */
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(readonly params: tf.Variable[], readonly names: string[], readonly cfg: OptimizerConfig) {
    this.m = params.map(zeroVariable);
    this.v = cfg.name === 'adamw' ? params.map(zeroVariable) : [];
  }

  /**
   * One update with learning rate `lr`; `grads` in `params` order. A parameter whose gradient is
   * null is left alone (no moment update, no weight decay), as PyTorch's optimisers skip a
   * parameter whose `grad` is None.
   */
  apply(grads: (tf.Tensor | null)[], lr: number): void {
    this.step++;
    const { cfg } = this;
    tf.tidy(() => {
      if (cfg.name === 'adamw') {
        const [b1, b2] = cfg.betas;
        const bc1 = 1 - Math.pow(b1, this.step);
        const bc2 = 1 - Math.pow(b2, this.step);
        this.params.forEach((p, i) => {
          const g = grads[i];
          if (!g) return;
          const m = tf.add(tf.mul(this.m[i]!, b1), tf.mul(g, 1 - b1));
          const v = tf.add(tf.mul(this.v[i]!, b2), tf.mul(tf.square(g), 1 - b2));
          this.m[i]!.assign(m);
          this.v[i]!.assign(v);
          const decayed = tf.mul(p, 1 - lr * cfg.weight_decay);
          const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), cfg.eps);
          p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
        });
      } else {
        const mu = cfg.momentum;
        this.params.forEach((p, i) => {
          if (!grads[i]) return;
          const g = tf.add(grads[i]!, tf.mul(p, cfg.weight_decay));
          const buf = tf.add(tf.mul(this.m[i]!, mu), g);
          this.m[i]!.assign(buf);
          const d = cfg.nesterov ? tf.add(g, tf.mul(buf, mu)) : buf;
          p.assign(tf.sub(p, tf.mul(d, lr)));
        });
      }
    });
  }

  /** Moments as tensors named `exp_avg.<param>` / `exp_avg_sq.<param>` (SGD: `momentum_buffer.<param>`). */
  exportState(): TensorMap {
    const out: TensorMap = new Map();
    const put = (prefix: string, vars: tf.Variable[]) =>
      vars.forEach((t, i) => out.set(`${prefix}.${this.names[i]}`, { dtype: 'F32', shape: [...t.shape], data: t.dataSync() as Float32Array }));
    if (this.cfg.name === 'adamw') {
      put('exp_avg', this.m);
      put('exp_avg_sq', this.v);
    } else put('momentum_buffer', this.m);
    out.set('step', { dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(this.step)]) });
    return out;
  }

  importState(state: TensorMap, what: string): void {
    const get = (prefix: string, vars: tf.Variable[]) =>
      vars.forEach((t, i) => {
        const s = state.get(`${prefix}.${this.names[i]}`);
        if (!s || !(s.data instanceof Float32Array) || s.data.length !== t.size) throw new Error(`${what}: no usable optimiser tensor ${prefix}.${this.names[i]}`);
        tf.tidy(() => t.assign(tf.tensor(s.data as Float32Array, t.shape, 'float32')));
      });
    if (this.cfg.name === 'adamw') {
      get('exp_avg', this.m);
      get('exp_avg_sq', this.v);
    } else get('momentum_buffer', this.m);
    const step = state.get('step');
    if (!step) throw new Error(`${what}: no optimiser step count`);
    this.step = Number((step.data as BigInt64Array)[0]);
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
