import * as tf from '@tensorflow/tfjs-core';
import '../ops/gradients.js';

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
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => nestedGrads(fn, saved, dy),
    };
  });
  return op(...inputs);
}

interface EngineState {
  activeTape: unknown;
}

/**
 * tf.grads of `fn` at `inputs` from inside a gradient function. TF.js's engine has one active
 * tape: a gradient computation started during another's backward pass replaces it and clears it
 * when done, and the outer one then fails cleaning up its own tape. Keeping the outer tape aside
 * for the duration makes the nesting safe (the inner computation frees its own intermediates).
 */
function nestedGrads(fn: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const state = (tf.engine() as unknown as { state: EngineState }).state;
  const outer = state.activeTape;
  try {
    return tf.grads((...ins: tf.Tensor[]) => fn(...ins))(inputs, dy);
  } finally {
    state.activeTape = outer;
  }
}
