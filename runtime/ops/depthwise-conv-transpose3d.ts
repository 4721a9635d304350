import * as tf from '@tensorflow/tfjs-core';
import { depthwiseConv3d } from './depthwise-conv3d.js';
import { assertRank5, triple, zeroInsert } from './spatial.js';

/**
 * Depthwise transposed 3-D convolution with PyTorch's `ConvTranspose3d(groups=C)` semantics:
 * output extent (n - 1)·s − 2p + k per axis (2n − 1 for MedNeXt's up block: s = 2, p = k//2,
 * odd k). No output_padding; the up block's extra zero plane is a separate `pad` op.
 *
 *   x       [N, D, H, W, C]
 *   filter  [kD, kH, kW, C, 1]   (runtime layout; PyTorch's is [C, 1, kD, kH, kW])
 *
 * A transposed convolution is a plain convolution of the zero-inserted input (s − 1 zeros
 * between voxels) with the spatially flipped kernel and k − 1 − p zero planes on each side,
 * so it reuses `depthwiseConv3d` and inherits its gradient.
 */
export function depthwiseConvTranspose3d(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  assertRank5(x, 'depthwiseConvTranspose3d');
  const k = triple(filter.shape.slice(0, 3), 'depthwiseConvTranspose3d kernel');
  const s = triple(stride, 'depthwiseConvTranspose3d stride');
  const p = triple(padding, 'depthwiseConvTranspose3d padding');
  const inner = k.map((kk, i) => kk - 1 - p[i]!);
  if (inner.some((v) => v < 0)) {
    throw new Error(`depthwiseConvTranspose3d: padding [${p.join(', ')}] exceeds kernel − 1 for kernel [${k.join(', ')}]`);
  }
  return tf.tidy(() => {
    const flipped = tf.reverse(filter, [0, 1, 2]);
    return depthwiseConv3d(zeroInsert(x, s), flipped, 1, inner, bias);
  });
}
