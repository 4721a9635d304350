import * as tf from '@tensorflow/tfjs-core';
import { conv3d, pointwise } from './conv3d.js';
import { assertRank5, triple, zeroInsert } from './spatial.js';

/**
 * Dense transposed 3-D convolution (groups = 1) with PyTorch's `ConvTranspose3d` semantics:
 * output extent (n − 1)·s − 2p + k per axis, no output_padding.
 *
 *   x       [N, D, H, W, Cin]
 *   filter  [kD, kH, kW, Cout, Cin]   (runtime layout, TF's conv3dTranspose order; PyTorch's
 *                                      is [Cin, Cout, kD, kH, kW])
 *
 * TF.js has no gradient for conv3dTranspose, so it is computed as a plain convolution of the
 * zero-inserted input with the flipped kernel (k − 1 − p padding), whose gradient TF.js has.
 * A 1×1×1 kernel (MedNeXt's output heads and up-block res_conv) is a matrix product followed
 * by the zero insertion; the bias is then added everywhere, as PyTorch does (at stride 1 by the product).
 */
export function convTranspose3d(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  assertRank5(x, 'convTranspose3d');
  const [kd, kh, kw, co, ci] = filter.shape as number[];
  if (filter.rank !== 5 || ci !== x.shape[4]) {
    throw new Error(`convTranspose3d: filter [${filter.shape.join(', ')}] does not fit input channels ${x.shape[4]}`);
  }
  const k = [kd!, kh!, kw!];
  const s = triple(stride, 'convTranspose3d stride');
  const p = triple(padding, 'convTranspose3d padding');
  const inner = k.map((kk, i) => kk - 1 - p[i]!);
  if (inner.some((v) => v < 0)) {
    throw new Error(`convTranspose3d: padding [${p.join(', ')}] exceeds kernel − 1 for kernel [${k.join(', ')}]`);
  }
  return tf.tidy(() => {
    let y: tf.Tensor;
    if (kd === 1 && kh === 1 && kw === 1) {
      const w = tf.transpose(tf.reshape(filter, [co!, ci!])) as tf.Tensor2D;
      // Stride 1 (an output head): the product adds the bias, as conv3d's 1×1×1 case, not a pass of its own.
      if (s.every((v) => v === 1)) return pointwise(x, w, bias);
      y = zeroInsert(pointwise(x, w), s);
    } else {
      // [kD, kH, kW, Cout, Cin] -> flipped, [kD, kH, kW, Cin, Cout] for the forward conv.
      const f = tf.transpose(tf.reverse(filter, [0, 1, 2]), [0, 1, 2, 4, 3]);
      y = conv3d(zeroInsert(x, s), f, 1, inner);
    }
    if (bias) y = tf.add(y, bias);
    return y as tf.Tensor5D;
  });
}
