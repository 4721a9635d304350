import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';

/**
 * MedNeXt's `LayerNorm(data_format='channels_first')` (blocks.py, eps 1e-5 by default):
 * at each voxel, the channel vector is normalised with its mean and biased variance,
 * `(x − u) / sqrt(s + eps)`, then scaled and shifted per channel. In the runtime's
 * channels-last layout that is a normalisation over the last axis.
 *
 *   x      [N, ...spatial, C]
 *   gamma, beta  [C]
 */
export function layerNorm(x: tf.Tensor, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    let y: tf.Tensor = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    return y;
  });
}
