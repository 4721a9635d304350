import * as tf from '@tensorflow/tfjs-core';
import { assertRank5, triple } from './spatial.js';

/**
 * Average pooling of an NDHWC tensor with window = stride and no padding: PyTorch's
 * `AvgPool3d(kernel_size=s, stride=s)` (padding 0, `ceil_mode=False`; with no padding
 * `count_include_pad` changes nothing), the mean of each non-overlapping window; a remainder
 * along an axis is dropped (floor). A 2-D network runs with depth 1 and stride [1, sH, sW].
 * TF.js's AvgPool3D with 'valid' padding computes exactly this on every backend, with its
 * gradient (AvgPool3DGrad) on each.
 */
export function avgPool(x: tf.Tensor, stride: number | readonly number[]): tf.Tensor5D {
  assertRank5(x, 'avgPool');
  const s = triple(stride, 'avgPool stride');
  if (s.some((v) => !Number.isInteger(v) || v < 1)) throw new Error(`avgPool: stride [${s.join(', ')}] must be positive integers`);
  if (s.every((v) => v === 1)) return tf.clone(x) as tf.Tensor5D;
  for (let a = 0; a < 3; a++) {
    if (x.shape[a + 1]! < s[a]!) throw new Error(`avgPool: spatial axis ${a} has ${x.shape[a + 1]} voxels, fewer than the window ${s[a]}`);
  }
  return tf.avgPool3d(x, s, s, 'valid');
}
