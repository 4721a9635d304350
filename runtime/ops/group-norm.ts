import * as tf from '@tensorflow/tfjs-core';
import { groupNormFused } from '../kernels/group-norm.js';
import './gradients.js';

/**
 * GroupNorm (see `groupNormReference` for the definition). The op the model runs is the fused
 * kernel with a hand-written gradient (runtime/kernels/group-norm.ts): the same values, about
 * half the passes over the activation in training.
 */
export const groupNorm: typeof groupNormReference = groupNormFused;

/**
 * GroupNorm as PyTorch computes it: channels split into `groups` consecutive groups; each
 * sample's group is normalised over its channels and all voxels with the biased variance,
 * `(x − mean) / sqrt(var + eps)`, then scaled and shifted per channel. groups = C (MedNeXt's
 * default) normalises each channel over D·H·W, which is also InstanceNorm(affine).
 *
 *   x      [N, ...spatial, C]  (channels last; any number of spatial axes)
 *   gamma, beta  [C]  (omitted: no affine)
 */
export function groupNormReference(x: tf.Tensor, groups: number, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const n = shape[0]!;
  const c = shape[shape.length - 1]!;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new Error(`groupNorm: ${groups} groups do not divide ${c} channels`);
  }
  const voxels = shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return tf.tidy(() => {
    // Per-channel sums over the voxels as a batched matrix product ([1, S] × [S, C]): TF.js's
    // cpu backend reduces a non-last axis by transposing first, which is several times slower.
    const x3 = tf.reshape(x, [n, voxels, c]);
    const ones = tf.ones([n, 1, voxels]);
    const count = voxels * (c / groups);
    const groupMean = (t: tf.Tensor) => tf.div(tf.sum(tf.reshape(tf.matMul(ones, t), [n, 1, groups, c / groups]), 3, true), count);
    const g = tf.reshape(x3, [n, voxels, groups, c / groups]);
    const mean = groupMean(x3);
    const centred = tf.sub(g, mean);
    const variance = groupMean(tf.reshape(tf.square(centred), [n, voxels, c]));
    let y: tf.Tensor = tf.reshape(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), shape);
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    return y;
  });
}
