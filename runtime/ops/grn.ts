import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';

/**
 * Global response normalisation in MedNeXt's form (ConvNeXt-V2's GRN on NCDHW):
 *   gx = ‖x‖₂ over the spatial axes, per sample and channel
 *   nx = gx / (mean over channels of gx + eps)       (eps 1e-6 in MedNeXt)
 *   y  = gamma·(x·nx) + beta + x
 *
 *   x      [N, ...spatial, C]
 *   gamma, beta  [C]  (runtime layout; PyTorch's is [1, C, 1, 1, 1])
 */
export function grn(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const spatialAxes = x.shape.slice(1, -1).map((_, i) => i + 1);
  return tf.tidy(() => {
    const gx = tf.sqrt(tf.sum(tf.square(x), spatialAxes, true));
    const nx = tf.div(gx, tf.add(tf.mean(gx, -1, true), eps));
    return tf.add(tf.add(tf.mul(gamma, tf.mul(x, nx)), beta), x);
  });
}
