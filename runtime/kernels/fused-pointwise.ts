import * as tf from '@tensorflow/tfjs-core';
import '../ops/gradients.js';
import { groupNormPlan } from './group-norm.js';
import { geluDensityTimesX, onePlusErf } from './gelu.js';
import { joinFree, thenFree } from './chain.js';
import { matMulBias, matMulBiasAdd, matMulBiasGelu } from './pointwise.js';

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
        const x2 = tf.reshape(sx, [voxels, ci]);
        const dy2 = tf.reshape(dy, [voxels, co]) as tf.Tensor2D;
        // 1 + erf(x/√2) serves both the recomputed activation and GELU's derivative.
        const cdfTimesTwo = onePlusErf(x2);
        const dw = thenFree(thenFree(tf.mul(x2, cdfTimesTwo), (u2) => tf.matMul(u2 as tf.Tensor2D, dy2, true, false)), (t) => tf.mul(t, 0.5));
        const db = tf.reshape(tf.matMul(tf.ones([1, voxels]), dy2), bs.shape);
        const dh = tf.matMul(dy2, sw, false, true);
        // GELU'(x) = ½(1 + erf(x/√2)) + x·φ(x)
        const derivative = joinFree(thenFree(cdfTimesTwo, (t) => tf.mul(t, 0.5)), geluDensityTimesX(x2), tf.add);
        return [tf.reshape(joinFree(dh, derivative, tf.mul), shape), dw, db];
      },
    };
  });
  return op(x, w, b);
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
  const gn = groupNormPlan(shape, groups, eps);
  const [ci, co] = w.shape;
  if (ci !== gn.channels) throw new Error(`normPointwise: weight [${w.shape}] does not fit ${gn.channels} channels`);
  const { n, voxels } = gn;
  const outShape = [...shape.slice(0, -1), co];
  /** a = γσ⁻¹ as a column per sample: [N, Cin, 1]. */
  const scaleColumn = (rstd: tf.Tensor, g: tf.Tensor) => tf.reshape(tf.mul(rstd, g), [n, ci, 1]);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, gs, bts, ws, bs] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor2D, tf.Tensor];
    const { centred, rstd } = gn.statistics(tf.reshape(xs, [n, voxels, ci]));
    (args[5] as tf.GradSaveFunc)([centred, rstd, gs, bts, ws]);
    const wScaled = tf.mul(scaleColumn(rstd, gs), ws); // [N, Cin, Cout]
    const bias = tf.add(tf.reshape(tf.matMul(tf.reshape(bts, [1, ci]), ws), [co]), tf.reshape(bs, [co])); // [Cout]
    return {
      value: tf.reshape(matMulBias(centred, wScaled, bias), outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [cen, rs, gm, bt, sw] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor2D];
        const dy2 = tf.reshape(dy, [n * voxels, co]) as tf.Tensor2D;
        const sumDy = tf.matMul(tf.ones([1, n * voxels]), dy2); // [1, Cout]
        const perSample = tf.matMul(cen, tf.reshape(dy2, [n, voxels, co]), true, false); // cᵀ·dy: [N, Cin, Cout]
        const dw = tf.add(tf.sum(thenFree(perSample, (t) => tf.mul(scaleColumn(rs, gm), t)), 0), tf.matMul(tf.reshape(bt, [ci, 1]), sumDy));
        const dh = tf.reshape(tf.matMul(dy2, sw, false, true), [n, voxels, ci]);
        const [dx, dgamma, dbeta] = gn.backward(dh, cen, rs, gm);
        dh.dispose();
        return [tf.reshape(dx, shape), dgamma, dbeta, dw, tf.reshape(sumDy, bs.shape)];
      },
    };
  });
  return tf.tidy(() => {
    const g = gamma ? tf.reshape(gamma, [ci]) : tf.ones([ci]);
    const bt = beta ? tf.reshape(beta, [ci]) : tf.zeros([ci]);
    return op(x, g, bt, w, b);
  });
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
    const gn = groupNormPlan(shape, norm.groups, norm.eps);
    const { n, voxels } = gn;
    const { centred, rstd } = gn.statistics(tf.reshape(x, [n, voxels, ci]));
    const gamma = norm.gamma ? tf.reshape(norm.gamma, [ci]) : tf.ones([ci]);
    const beta = norm.beta ? tf.reshape(norm.beta, [ci]) : tf.zeros([ci]);
    const wScaled = tf.mul(tf.reshape(tf.mul(rstd, gamma), [n, ci, 1]), w); // [N, Cin, Cout]: per sample
    const bias = tf.add(tf.reshape(tf.matMul(tf.reshape(beta, [1, ci]), w), [co]), tf.reshape(b, [co]));
    const samples = Array.from({ length: n }, (_, i) => {
      const one = (t: tf.Tensor, rows: number, cols: number) => tf.reshape(n === 1 ? t : tf.slice(t, i, 1), [rows, cols]) as tf.Tensor2D;
      return epilogue(one(centred, voxels, ci), one(wScaled, ci, co), bias, residual && (n === 1 ? residual : tf.slice(residual, i, 1)));
    });
    return tf.reshape(samples.length === 1 ? samples[0]! : tf.concat(samples, 0), outShape);
  });
}
