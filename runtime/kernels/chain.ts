import * as tf from '@tensorflow/tfjs-core';

/**
 * `f(t)`, then `t` freed. Element-wise chains written with it hold one or two full-size
 * temporaries at a time instead of every step's result until the enclosing tidy ends: in a
 * gradient function at the network's full resolution (a 128-channel 64³ activation is 134 MB)
 * that difference is the training step's peak memory.
 */
// (Not named `then`: a module that exports `then` is a thenable, and `await import()` of it
// calls that function.)
export function thenFree(t: tf.Tensor, f: (t: tf.Tensor) => tf.Tensor): tf.Tensor {
  const r = f(t);
  if (r !== t) t.dispose();
  return r;
}

/** `f(a, b)`, then `a` and `b` freed. */
export function joinFree(a: tf.Tensor, b: tf.Tensor, f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): tf.Tensor {
  const r = f(a, b);
  if (r !== a) a.dispose();
  if (r !== b) b.dispose();
  return r;
}
