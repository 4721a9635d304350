import * as tf from '@tensorflow/tfjs-core';
import '../ops/gradients.js';
import { grads } from '../autodiff/backprop.js';

/**
 * `fn` with a gradient that keeps only its inputs. TF.js's autodiff keeps every intermediate an
 * op's gradient needs until the backward pass; an op built from many primitives (the depthwise
 * 3-D convolution's padded copy and kD depth slabs, the transposed one's zero-inserted input,
 * 8× the voxels) keeps several copies of its activation for the whole forward pass. Here the
 * backward pass reruns `fn` on the saved inputs and differentiates that rerun: one op's
 * intermediates live at a time, for the price of a second forward of that op.
 */
export function recomputeGrad(fn: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xs = args.slice(0, inputs.length) as tf.Tensor[];
    const save = args[inputs.length] as tf.GradSaveFunc;
    save(xs);
    return {
      value: fn(...xs),
      // The walk owns its tape (runtime/autodiff/backprop.ts): safe to nest in a backward pass.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => grads(fn, saved, dy),
    };
  });
  return op(...inputs);
}
