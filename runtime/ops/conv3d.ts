import * as tf from '@tensorflow/tfjs-core';
import { pointwiseBias } from '../kernels/pointwise.js';
import { padSpatial } from './pad.js';
import { assertRank5, subsample, triple } from './spatial.js';

/**
 * Dense 3-D convolution (groups = 1) with PyTorch's `padding` semantics (symmetric zero
 * padding, then a VALID strided window).
 *
 *   x       [N, D, H, W, Cin]
 *   filter  [kD, kH, kW, Cin, Cout]   (runtime layout; PyTorch's is [Cout, Cin, kD, kH, kW])
 *
 * A 1×1×1 kernel is a matrix product over the flattened voxels (after subsampling when
 * strided), which is much faster than Conv3D on the cpu and wasm backends.
 */
export function conv3d(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  assertRank5(x, 'conv3d');
  const [kd, kh, kw, ci, co] = filter.shape as number[];
  if (filter.rank !== 5 || ci !== x.shape[4]) {
    throw new Error(`conv3d: filter [${filter.shape.join(', ')}] does not fit input channels ${x.shape[4]}`);
  }
  const s = triple(stride, 'conv3d stride');
  const p = triple(padding, 'conv3d padding');
  return tf.tidy(() => {
    const xp = padSpatial(x, p, p);
    let y: tf.Tensor;
    if (kd === 1 && kh === 1 && kw === 1) {
      y = pointwise(subsample(xp, s), tf.reshape(filter, [ci!, co!]), bias);
      return y as tf.Tensor5D;
    } else {
      y = tf.conv3d(xp, filter as tf.Tensor5D, s, 'valid');
    }
    if (bias) y = tf.add(y, bias);
    return y as tf.Tensor5D;
  });
}

/** x [N, D, H, W, Cin] times w [Cin, Cout] at every voxel, plus the bias (runtime/kernels/pointwise.ts). */
export function pointwise(x: tf.Tensor5D, w: tf.Tensor2D, bias?: tf.Tensor): tf.Tensor5D {
  const [n, d, h, wd, ci] = x.shape;
  const flat = tf.reshape(x, [n * d * h * wd, ci]) as tf.Tensor2D;
  const y = bias ? pointwiseBias(flat, w, bias) : tf.matMul(flat, w);
  return tf.reshape(y, [n, d, h, wd, w.shape[1]]);
}
