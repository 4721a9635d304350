import * as tf from '@tensorflow/tfjs-core';
import '../ops/gradients.js';
import { joinFree, thenFree } from './chain.js';

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** 1 + erf(x/√2) = 2·Φ(x), at most two temporaries alive. */
export function onePlusErf(x: tf.Tensor): tf.Tensor {
  return thenFree(thenFree(tf.mul(x, Math.SQRT1_2), (t) => tf.erf(t)), (e) => tf.add(e, 1));
}

/** 0.5·x·(1 + erf(x/√2)). */
export function geluValue(x: tf.Tensor): tf.Tensor {
  return joinFree(onePlusErf(x), tf.mul(x, 0.5), tf.mul);
}

/** x·φ(x), φ(x) = exp(−x²/2)/√(2π) the standard normal density. */
export function geluDensityTimesX(x: tf.Tensor): tf.Tensor {
  const pdf = thenFree(thenFree(thenFree(tf.square(x), (s) => tf.mul(s, -0.5)), (t) => tf.exp(t)), (e) => tf.mul(e, INV_SQRT_2PI));
  return thenFree(pdf, (p) => tf.mul(p, x));
}

/**
 * 2·GELU'(x) = (1 + erf(x/√2)) + √(2/π)·x·e^(−x²/2), given `cdfTimesTwo` = 1 + erf(x/√2) (which
 * is freed). x·e^(−x²/2) is computed as x / e^(x²/2): the negation rides on the division (an
 * overflow to ∞ for |x| > 13 gives the right 0).
 */
export function geluDerivativeTimesTwo(x: tf.Tensor, cdfTimesTwo: tf.Tensor): tf.Tensor {
  const density = thenFree(thenFree(thenFree(tf.mul(x, Math.SQRT1_2), (t) => tf.square(t)), (q) => tf.exp(q)), (e) => tf.div(x, e));
  return joinFree(cdfTimesTwo, thenFree(density, (d) => tf.mul(d, Math.sqrt(2 / Math.PI))), tf.add);
}

/** d GELU / dx = Φ(x) + x·φ(x), at most three temporaries alive. */
export function geluDerivative(x: tf.Tensor): tf.Tensor {
  return joinFree(thenFree(onePlusErf(x), (t) => tf.mul(t, 0.5)), geluDensityTimesX(x), tf.add);
}

/**
 * Exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)), with its derivative written out,
 * Φ(x) + x·φ(x): autodiff of the forward chain keeps three intermediates of the (expanded,
 * 2C-channel) activation and runs about twice the passes; this keeps only x.
 */
export function geluFused(x: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xs = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([xs]);
    return {
      value: geluValue(xs),
      gradFunc: (dy: tf.Tensor, [s]: tf.Tensor[]) => [thenFree(geluDerivative(s!), (d) => tf.mul(dy, d))],
    };
  });
  return op(x);
}
