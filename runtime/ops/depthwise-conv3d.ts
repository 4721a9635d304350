import * as tf from '@tensorflow/tfjs-core';
import { recomputeGrad } from '../kernels/recompute.js';
import { padSpatial } from './pad.js';
import { assertRank5, takeStrided, triple, validOut } from './spatial.js';

/**
 * Depthwise 3-D convolution (one filter per channel, channel multiplier 1) with PyTorch's
 * `padding` semantics: `padding[i]` zero planes on both sides of spatial axis i, then a VALID
 * strided window. (TF's `same` pads asymmetrically at stride 2, so it is not used.)
 *
 *   x       [N, D, H, W, C]
 *   filter  [kD, kH, kW, C, 1]   (runtime layout; PyTorch's is [C, 1, kD, kH, kW])
 *
 * TF.js has no depthwise conv3d and libtensorflow refuses grouped Conv3D on CPU, so the
 * depth axis is unrolled: for each depth tap a, the depth slices a, a+s, … of the padded
 * input are stacked into the batch and convolved with the 2-D depthwise filter of tap a;
 * the kD partial results are summed. Every step is a differentiable TF.js op, so the
 * gradient is TF.js autodiff (depthwiseConv2d has backward kernels on cpu and tensorflow;
 * wasm has only the forward one), taken on a rerun in the backward pass (`recomputeGrad`) so
 * that only x and the filter are kept between the passes, not the padded copy and kD slabs.
 */
export function depthwiseConv3d(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  // The bias is inside the rerun too: added outside, its gradient would keep the unbiased output.
  if (bias) return recomputeGrad((a, f, b) => depthwiseConv3dSlabs(a, f, stride, padding, b), [x, filter, bias]) as tf.Tensor5D;
  return recomputeGrad((a, f) => depthwiseConv3dSlabs(a, f, stride, padding), [x, filter]) as tf.Tensor5D;
}

/** The depthwise convolution as TF.js ops (its autodiff is the gradient). */
export function depthwiseConv3dSlabs(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  assertRank5(x, 'depthwiseConv3d');
  const [kd, kh, kw, fc, mult] = filter.shape as number[];
  const [n, , , , c] = x.shape;
  if (filter.rank !== 5 || fc !== c || mult !== 1) {
    throw new Error(`depthwiseConv3d: filter [${filter.shape.join(', ')}] does not fit input channels ${c} (expected [kD, kH, kW, ${c}, 1])`);
  }
  const s = triple(stride, 'depthwiseConv3d stride');
  const p = triple(padding, 'depthwiseConv3d padding');
  return tf.tidy(() => {
    const xp = padSpatial(x, p, p);
    const [, dp, hp, wp] = xp.shape;
    const dOut = validOut(dp, kd!, s[0]);
    if (dOut < 1 || validOut(hp, kh!, s[1]) < 1 || validOut(wp, kw!, s[2]) < 1) {
      throw new Error(`depthwiseConv3d: input [${x.shape.join(', ')}] is smaller than the kernel ${kd}×${kh}×${kw} after padding`);
    }
    const parts: tf.Tensor4D[] = [];
    for (let a = 0; a < kd!; a++) {
      const slab = tf.reshape(takeStrided(xp, 1, a, dOut, s[0]), [n * dOut, hp, wp, c]) as tf.Tensor4D;
      const f2 = tf.reshape(tf.slice(filter, [a, 0, 0, 0, 0], [1, kh!, kw!, c, 1]), [kh!, kw!, c, 1]) as tf.Tensor4D;
      parts.push(tf.depthwiseConv2d(slab, f2, [s[1], s[2]], 'valid'));
    }
    let y: tf.Tensor = parts.length === 1 ? parts[0]! : tf.addN(parts);
    const [, ho, wo] = y.shape;
    y = tf.reshape(y, [n, dOut, ho!, wo!, c]);
    if (bias) y = tf.add(y, bias);
    return y as tf.Tensor5D;
  });
}
