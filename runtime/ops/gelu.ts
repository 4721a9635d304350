import * as tf from '@tensorflow/tfjs-core';
import { geluFused } from '../kernels/gelu.js';
import './gradients.js';

/** GELU as the model runs it: `geluReference`'s values with a hand-written gradient (runtime/kernels/gelu.ts). */
export const gelu: typeof geluReference = geluFused;

/**
 * Exact GELU, `0.5·x·(1 + erf(x/√2))` (PyTorch's `nn.GELU()` default; the tanh form differs
 * by up to ~5e-4, well beyond the fixtures' tolerance). TF.js's Erf kernel exists on cpu
 * (an Abramowitz–Stegun 7.1.26 approximation, |error| < 1.5e-7), wasm and tensorflow; its
 * gradient is TF.js's Erf gradient.
 */
export function geluReference(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}
