import * as tf from '@tensorflow/tfjs-core';
import { padSpatial } from './pad.js';
import { assertRank5, subsample, triple } from './spatial.js';

/**
 * Grouped 3-D convolution that is neither dense nor depthwise (3D UX-Net's pointwise
 * convolutions with `groups = dim`: each input channel feeds four outputs). The filter stays in
 * PyTorch's layout `[Cout, Cin/groups, kD, kH, kW]`; output channel o reads input channels
 * `(o / (Cout/groups)) · Cin/groups …` of its group, as in PyTorch.
 *
 *   x [N, D, H, W, Cin] (channels last)  →  [N, D', H', W', Cout]
 *
 * A 1×1×1 kernel runs as one batched matrix product over the groups; other kernels run one
 * dense convolution per group.
 */
export function groupedConv3d(x: tf.Tensor, filter: tf.Tensor, groups: number, stride: number | readonly number[], padding: number | readonly number[], bias?: tf.Tensor): tf.Tensor5D {
  assertRank5(x, 'groupedConv3d');
  const [co, cig, kd, kh, kw] = filter.shape as number[];
  const ci = x.shape[4];
  if (filter.rank !== 5 || cig! * groups !== ci || co! % groups !== 0) {
    throw new Error(`groupedConv3d: filter [${filter.shape.join(', ')}] with ${groups} groups does not fit input channels ${ci}`);
  }
  const cog = co! / groups;
  const s = triple(stride, 'groupedConv3d stride');
  const p = triple(padding, 'groupedConv3d padding');
  return tf.tidy(() => {
    const xp = padSpatial(x, p, p);
    let y: tf.Tensor;
    if (kd === 1 && kh === 1 && kw === 1) {
      const xs = subsample(xp, s);
      const [n, d, h, w] = xs.shape;
      const m = n * d * h * w;
      const xg = tf.transpose(tf.reshape(xs, [m, groups, cig!]), [1, 0, 2]) as tf.Tensor3D;
      const wg = tf.reshape(filter, [groups, cog, cig!]) as tf.Tensor3D;
      const yg = tf.matMul(xg, wg, false, true);
      y = tf.reshape(tf.transpose(yg, [1, 0, 2]), [n, d, h, w, co!]);
    } else {
      const parts: tf.Tensor[] = [];
      for (let g = 0; g < groups; g++) {
        const xg = tf.slice(xp, [0, 0, 0, 0, g * cig!], [-1, -1, -1, -1, cig!]) as tf.Tensor5D;
        const wg = tf.transpose(tf.slice(filter, [g * cog, 0, 0, 0, 0], [cog, -1, -1, -1, -1]), [2, 3, 4, 1, 0]) as tf.Tensor5D;
        parts.push(tf.conv3d(xg, wg, s, 'valid'));
      }
      y = tf.concat(parts, 4);
    }
    if (bias) y = tf.add(y, bias);
    return y as tf.Tensor5D;
  });
}
