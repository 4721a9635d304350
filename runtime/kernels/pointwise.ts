import * as tf from '@tensorflow/tfjs-core';
import '../ops/gradients.js';

/**
 * A 1×1×1 convolution with bias as one matrix product per pass: y = x·W + b over the flattened
 * voxels. With autodiff of matMul then add, the unbiased product (the expanded 2C-channel
 * activation in MedNeXt's conv2) is kept for the add's gradient; here only x and W are kept,
 * and the bias gradient is a ones-row product like the other voxel sums.
 *
 *   x [V, Cin], w [Cin, Cout], b [Cout] → [V, Cout]
 */
export function pointwiseBias(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, ws, bs] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor];
    (args[3] as tf.GradSaveFunc)([xs, ws]);
    return {
      value: tf.add(tf.matMul(xs, ws), bs),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
        const dy2 = dy as tf.Tensor2D;
        const db = tf.reshape(tf.matMul(tf.ones([1, dy2.shape[0]]), dy2), bs.shape);
        return [tf.matMul(dy2, sw, false, true), tf.matMul(sx, dy2, true, false), db];
      },
    };
  });
  return op(x, w, b) as tf.Tensor2D;
}
