import * as tf from '@tensorflow/tfjs-core';
import '../ops/gradients.js';
import { groupNormPlan } from './group-norm.js';
import { geluDerivativeTimesTwo, onePlusErf } from './gelu.js';
import { joinFree, thenFree } from './chain.js';
import { MATMUL_CENTRED, matMulBias, matMulBiasAdd, matMulBiasGelu } from './pointwise.js';

/**
 * An element-wise op followed by a 1×1×1 convolution, as one op that keeps only the op's input
 * for backprop. In a MedNeXt block the norm's output feeds conv2 and GELU's output feeds conv3;
 * each convolution's weight gradient needs its input, so run separately both the op's input and
 * its output stay in memory until the backward pass (GELU's output is the expanded R·C-channel
 * activation). Here the output is recomputed in the backward pass from the input, the way
 * PyTorch's activation checkpointing would: one cheap element-wise pass more, and per block
 * 1 + R channel-volumes less held (3 of 7 for R = 2).
 *
 *   x [N, D, H, W, Cin], w [Cin, Cout], b [Cout] → [N, D, H, W, Cout]
 */

/**
 * conv1×1×1(GELU(x)) + b, keeping only x. GELU's factor ½ moves onto the weights (exact in
 * floating point): x·(1 + erf(x/√2)) · (½W), one full pass fewer each way.
 */
export function geluPointwise(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const [ci, co] = w.shape;
  const voxels = x.size / ci;
  const outShape = [...shape.slice(0, -1), co];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, ws, bs] = args as [tf.Tensor, tf.Tensor2D, tf.Tensor];
    (args[3] as tf.GradSaveFunc)([xs, ws]);
    const u = tf.reshape(geluTimesTwo(xs), [voxels, ci]) as tf.Tensor2D;
    return {
      value: tf.reshape(thenFree(u, (t) => matMulBias(t, tf.mul(ws, 0.5), bs)), outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor, tf.Tensor2D];
        const { dx, dw, db } = geluProductBackward(tf.reshape(dy, [voxels, co]) as tf.Tensor2D, tf.reshape(sx, [voxels, ci]) as tf.Tensor2D, sw);
        return [tf.reshape(dx, shape), dw, tf.reshape(db, bs.shape)];
      },
    };
  });
  return op(x, w, b);
}

/**
 * Backward pass of y = GELU(x)·W + b from dy [V, Cout], x [V, Cin] and W: dx, dW, db. GELU is
 * recomputed from x; 1 + erf(x/√2) serves both it and GELU's derivative.
 */
function geluProductBackward(dy: tf.Tensor2D, x: tf.Tensor2D, w: tf.Tensor2D): { dx: tf.Tensor; dw: tf.Tensor; db: tf.Tensor } {
  const cdfTimesTwo = onePlusErf(x);
  const dw = thenFree(thenFree(tf.mul(x, cdfTimesTwo), (u) => tf.matMul(u as tf.Tensor2D, dy, true, false)), (t) => tf.mul(t, 0.5));
  const db = tf.reshape(tf.matMul(tf.ones([1, dy.shape[0]]), dy), [dy.shape[1]]);
  // dx = dy·Wᵀ ⊙ GELU'(x) = (dy·(½W)ᵀ) ⊙ 2·GELU'(x): the ½ on the small matrix.
  const dhHalf = tf.matMul(dy, tf.mul(w, 0.5), false, true);
  return { dx: joinFree(dhHalf, geluDerivativeTimesTwo(x, cdfTimesTwo), tf.mul), dw, db };
}

/** x·(1 + erf(x/√2)) = 2·GELU(x). */
function geluTimesTwo(x: tf.Tensor): tf.Tensor {
  return thenFree(onePlusErf(x), (t) => tf.mul(t, x));
}

/**
 * conv1×1×1(GroupNorm(x)) + b, keeping x − μ, σ⁻¹ and γ (GroupNorm's own saved set).
 *
 * The normalisation is folded into the product: with c = x − μ and a = γσ⁻¹ per sample and
 * channel, (c·a + β)·W + b = c·(diag(a)·W) + (β·W + b), so neither pass materialises the
 * normalised activation: the forward pass scales the small weight matrix instead of the
 * activation, and the weight gradient is diag(a)·(cᵀ·dy) + βᵀ·Σdy.
 */
export function normPointwise(x: tf.Tensor, groups: number, eps: number, gamma: tf.Tensor | undefined, beta: tf.Tensor | undefined, w: tf.Tensor2D, b: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const fold = normFold(shape, groups, eps, w);
  const outShape = [...shape.slice(0, -1), fold.co];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, gs, bts, ws, bs] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor2D, tf.Tensor];
    const { centred, rstd } = fold.gn.statistics(tf.reshape(xs, [fold.gn.n, fold.gn.voxels, fold.ci]));
    (args[5] as tf.GradSaveFunc)([centred, rstd, gs, bts, ws]);
    return {
      value: tf.reshape(matMulBias(centred, fold.weights(rstd, gs, ws), fold.bias(bts, ws, bs)), outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [cen, rs, gm, bt, sw] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor2D];
        const g = fold.backward(dy, cen, rs, gm, bt, sw);
        return [tf.reshape(g.dx, shape), g.dgamma, g.dbeta, g.dw, tf.reshape(g.db, bs.shape)];
      },
    };
  });
  return tf.tidy(() => op(x, ...normAffine(fold.ci, gamma, beta), w, b));
}

/** γ and β as vectors (ones and zeros where the norm has none). */
function normAffine(c: number, gamma?: tf.Tensor, beta?: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return [gamma ? tf.reshape(gamma, [c]) : tf.ones([c]), beta ? tf.reshape(beta, [c]) : tf.zeros([c])];
}

/**
 * GroupNorm folded into the 1×1×1 conv after it, for activations of `shape` and weight w
 * [Cin, Cout]: with c = x − μ and a = γσ⁻¹, (c·a + β)·W + b = c·(diag(a)·W) + (β·W + b).
 */
function normFold(shape: readonly number[], groups: number, eps: number, w: tf.Tensor2D) {
  const gn = groupNormPlan(shape, groups, eps);
  const [ci, co] = w.shape;
  if (ci !== gn.channels) throw new Error(`normPointwise: weight [${w.shape}] does not fit ${gn.channels} channels`);
  const { n, voxels } = gn;
  /** a = γσ⁻¹ as a column per sample: [N, Cin, 1]. */
  const scaleColumn = (rstd: tf.Tensor, g: tf.Tensor) => tf.reshape(tf.mul(rstd, g), [n, ci, 1]);
  return {
    gn,
    ci,
    co,
    /** diag(a)·W per sample: [N, Cin, Cout]. */
    weights: (rstd: tf.Tensor, g: tf.Tensor, wm: tf.Tensor) => tf.mul(scaleColumn(rstd, g), wm),
    /** β·W + b: [Cout] (a vector made as one: see matMulBias). */
    bias: (bt: tf.Tensor, wm: tf.Tensor, b: tf.Tensor) => tf.add(tf.reshape(tf.matMul(tf.reshape(bt, [1, ci]), wm), [co]), tf.reshape(b, [co])),
    /**
     * From dy (the product's output gradient, any shape of N·V·Cout values): dx [N, V, Cin], dγ,
     * dβ, dW = diag(a)·(cᵀ·dy) + βᵀ·Σdy, db = Σdy [Cout]; dy·Wᵀ goes through GroupNorm's backward.
     */
    backward(dy: tf.Tensor, cen: tf.Tensor, rs: tf.Tensor, gm: tf.Tensor, bt: tf.Tensor, wm: tf.Tensor2D) {
      const dy2 = tf.reshape(dy, [n * voxels, co]) as tf.Tensor2D;
      const sumDy = tf.matMul(tf.ones([1, n * voxels]), dy2); // [1, Cout]
      const perSample = tf.matMul(cen, tf.reshape(dy2, [n, voxels, co]), true, false); // cᵀ·dy: [N, Cin, Cout]
      const dw = tf.add(tf.sum(thenFree(perSample, (t) => tf.mul(scaleColumn(rs, gm), t)), 0), tf.matMul(tf.reshape(bt, [ci, 1]), sumDy));
      const dh = tf.reshape(tf.matMul(dy2, wm, false, true), [n, voxels, ci]);
      const [dx, dgamma, dbeta] = gn.backward(dh, cen, rs, gm);
      dh.dispose();
      return { dx, dgamma, dbeta, dw, db: tf.reshape(sumDy, [co]) };
    },
  };
}

/**
 * A MedNeXt block's pointwise tail as one op: conv3(GELU(conv2(GroupNorm(x)))), i.e.
 * (GELU(GN(x)·W2 + b2))·W3 + b3. It keeps only GroupNorm's saved set (x − μ, σ⁻¹, γ, β) and
 * the weights: the expanded activation h = GN(x)·W2 + b2 (R·C channels, the block's largest)
 * is recomputed in the backward pass by one product with C rows of weights, where
 * `normPointwise` → `geluPointwise` would keep it from the forward pass until then. Per sample,
 * GELU runs as the expansion's epilogue where the backend has the kernel (`matMulBiasGelu`).
 *
 *   x [N, ...spatial, C], w2 [C, C2], b2 [C2], w3 [C2, Cout], b3 [Cout] → [N, ...spatial, Cout]
 */
export function normGeluPointwise(
  x: tf.Tensor,
  groups: number,
  eps: number,
  gamma: tf.Tensor | undefined,
  beta: tf.Tensor | undefined,
  w2: tf.Tensor2D,
  b2: tf.Tensor,
  w3: tf.Tensor2D,
  b3: tf.Tensor,
): tf.Tensor {
  const shape = x.shape;
  const fold = normFold(shape, groups, eps, w2);
  const [c2, co] = w3.shape;
  if (c2 !== fold.co) throw new Error(`normGeluPointwise: w3 [${w3.shape}] does not follow w2 [${w2.shape}]`);
  const { n, voxels } = fold.gn;
  const outShape = [...shape.slice(0, -1), co];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, gs, bts, w2s, b2s, w3s, b3s] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor2D, tf.Tensor, tf.Tensor2D, tf.Tensor];
    const { centred, rstd } = fold.gn.statistics(tf.reshape(xs, [n, voxels, fold.ci]));
    (args[7] as tf.GradSaveFunc)([centred, rstd, gs, bts, w2s, b2s, w3s]);
    const wScaled = fold.weights(rstd, gs, w2s);
    const bias = fold.bias(bts, w2s, b2s);
    const y = bySample(n, (i) =>
      thenFree(matMulBiasGelu(sampleMatrix(centred, i, voxels, fold.ci), sampleMatrix(wScaled, i, fold.ci, c2), bias), (t) => matMulBias(t, w3s, b3s)),
    );
    return {
      value: tf.reshape(y, outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [cen, rs, gm, bt, sw2, sb2, sw3] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor2D, tf.Tensor, tf.Tensor2D];
        const h = tf.reshape(matMulBias(cen, fold.weights(rs, gm, sw2), fold.bias(bt, sw2, sb2)), [n * voxels, c2]) as tf.Tensor2D;
        const g3 = geluProductBackward(tf.reshape(dy, [n * voxels, co]) as tf.Tensor2D, h, sw3);
        h.dispose();
        const g2 = fold.backward(g3.dx, cen, rs, gm, bt, sw2);
        g3.dx.dispose();
        return [tf.reshape(g2.dx, shape), g2.dgamma, g2.dbeta, g2.dw, g2.db, g3.dw, g3.db];
      },
    };
  });
  return tf.tidy(() => op(x, ...normAffine(fold.ci, gamma, beta), w2, tf.reshape(b2, [c2]), w3, tf.reshape(b3, [co])));
}

/** Sample i of a per-sample tensor ([N, …], rows·cols values each) as a matrix (a view of the outermost axis). */
function sampleMatrix(t: tf.Tensor, i: number, rows: number, cols: number): tf.Tensor2D {
  return tf.reshape(t.shape[0] === 1 ? t : tf.slice(t, i, 1), [rows, cols]) as tf.Tensor2D;
}

/** f(i) for each of n samples, stacked along the rows (one sample: f(0) itself, no copy). */
function bySample(n: number, f: (i: number) => tf.Tensor): tf.Tensor {
  return n === 1 ? f(0) : tf.concat(Array.from({ length: n }, (_, i) => f(i)), 0);
}

/** What `pointwiseInference` does around the product. */
export interface PointwiseInference {
  /** GroupNorm before the product, folded into it as in `normPointwise`. */
  norm?: { groups: number; eps: number; gamma?: tf.Tensor; beta?: tf.Tensor };
  /** GELU of the result (exact). */
  gelu?: boolean;
  /** Added to the result (the residual sum a 1×1×1 conv feeds), [N, ...spatial, Cout]. */
  residual?: tf.Tensor;
}

/**
 * The forward pass of a 1×1×1 conv with what the inference plan fused into it: an optional
 * GroupNorm before (folded into the weights) and GELU or a residual sum after, each as the
 * product's epilogue where the backend has the kernel (runtime/kernels/pointwise.ts). No
 * gradient: the training plan runs `normPointwise` / `geluPointwise`, which keep what backprop
 * needs. x [N, ...spatial, Cin], w [Cin, Cout], b [Cout].
 */
export function pointwiseInference(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor, { norm, gelu = false, residual }: PointwiseInference): tf.Tensor {
  if (gelu && residual) throw new Error('pointwiseInference: GELU and a residual sum after the same product');
  const shape = x.shape;
  const [ci, co] = w.shape;
  if (shape[shape.length - 1] !== ci) throw new Error(`pointwiseInference: weight [${w.shape}] does not fit input [${shape}]`);
  const outShape = [...shape.slice(0, -1), co];
  const epilogue = (a: tf.Tensor2D, wm: tf.Tensor2D, bias: tf.Tensor, res?: tf.Tensor) =>
    gelu ? matMulBiasGelu(a, wm, bias) : res ? matMulBiasAdd(a, wm, bias, tf.reshape(res, [a.shape[0], co]) as tf.Tensor2D) : matMulBias(a, wm, bias);
  return tf.tidy(() => {
    if (!norm) return tf.reshape(epilogue(tf.reshape(x, [x.size / ci, ci]) as tf.Tensor2D, w, tf.reshape(b, [co]), residual), outShape);
    const fold = normFold(shape, norm.groups, norm.eps, w);
    const { n, voxels } = fold.gn;
    const x3 = tf.reshape(x, [n, voxels, ci]);
    const [gamma, beta] = normAffine(ci, norm.gamma, norm.beta);
    // Where the backend has the product with the centring as its prologue, x − μ is never written: the product subtracts μ
    // from each block of x's rows while they are in cache (the same float32 values, so the same result).
    const moments = tf.getKernel(MATMUL_CENTRED, tf.getBackend()) ? fold.gn.moments(x3) : null;
    const centred = moments ? null : fold.gn.statistics(x3);
    const wScaled = fold.weights((moments ?? centred!).rstd, gamma, w); // [N, Cin, Cout]: per sample
    const bias = fold.bias(beta, w, b);
    const res = (i: number) => residual && sampleMatrix(residual, i, voxels, co);
    const y = bySample(n, (i) => {
      if (centred) return epilogue(sampleMatrix(centred.centred, i, voxels, ci), sampleMatrix(wScaled, i, ci, co), bias, res(i));
      const inputs: tf.NamedTensorMap = { a: sampleMatrix(x3, i, voxels, ci), b: sampleMatrix(wScaled, i, ci, co), bias, mean: sampleMatrix(moments!.mean, i, 1, ci) };
      if (residual) inputs.addend = res(i)!;
      return tf.engine().runKernel(MATMUL_CENTRED, inputs, { epilogue: gelu ? 1 : residual ? 2 : 0 }) as tf.Tensor;
    });
    return tf.reshape(y, outShape);
  });
}
