import * as tf from '@tensorflow/tfjs-core';
import '../ops/gradients.js';
import { geluValue } from './gelu.js';
import { thenFree } from './chain.js';

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
      value: matMulBias(xs, ws, bs),
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

/**
 * a·b + bias (bias over the last axis) as one fused kernel where the backend has one: the
 * `tensorflow` backend's adds the bias while the output is in cache instead of in a second full
 * pass (runtime/backends/tensorflow-fused.ts); elsewhere it is the product and an add. For
 * forward values inside custom gradients: tf.fused.matMul's own gradient would keep its output.
 */
export function matMulBias<T extends tf.Tensor>(a: T, b: tf.Tensor, bias: tf.Tensor): T {
  const n = b.shape[b.rank - 1]!;
  // A vector made as one (the wasm kernel reads the shape its data was created with, so a
  // reshaped [1, n] would still be refused there).
  if (bias.rank !== 1 || bias.size !== n) throw new Error(`matMulBias: bias [${bias.shape}] for ${n} output columns; expected [${n}]`);
  return tf.fused.matMul({ a, b, bias }) as T;
}

/** Kernel names of the forward-only products with an epilogue (a backend may register them). */
export const MATMUL_BIAS_GELU = 'MnxcMatMulBiasGelu';
export const MATMUL_BIAS_ADD = 'MnxcMatMulBiasAdd';

/**
 * Kernel name of the product with GroupNorm's centring as its prologue, where a backend registers it (native): inputs a [M, K],
 * b [K, N], bias [N], mean [K] (any shape of K values), addend [M, N] with epilogue 2; attrs { epilogue: 0 | 1 | 2 } →
 * epilogue((a − mean)·b + bias), epilogue 0 none, 1 GELU (exact), 2 + addend. a − mean is the float32 difference, value for value
 * what a centred tensor x − μ holds, so the product equals the one of that tensor without writing or reading it.
 */
export const MATMUL_CENTRED = 'MnxcMatMulCentred';

/** Whether the active backend runs both epilogue products as single kernels. */
export function hasEpilogueKernels(): boolean {
  const backend = tf.getBackend();
  return !!tf.getKernel(MATMUL_BIAS_GELU, backend) && !!tf.getKernel(MATMUL_BIAS_ADD, backend);
}

/**
 * GELU(a·b + bias), exact. Forward only (no gradient): for the inference plan and forward
 * passes of ops with a written-out gradient. One kernel where the backend has it
 * (runtime/backends/tensorflow-fused.ts), else the product and GELU's chain.
 *   a [M, K], b [K, N], bias [N]
 */
export function matMulBiasGelu(a: tf.Tensor2D, b: tf.Tensor2D, bias: tf.Tensor): tf.Tensor2D {
  if (tf.getKernel(MATMUL_BIAS_GELU, tf.getBackend())) return tf.engine().runKernel(MATMUL_BIAS_GELU, { a, b, bias }, {}) as tf.Tensor2D;
  return thenFree(matMulBias(a, b, bias), geluValue) as tf.Tensor2D;
}

/** a·b + bias + addend, forward only, as `matMulBiasGelu`. addend [M, N]. */
export function matMulBiasAdd(a: tf.Tensor2D, b: tf.Tensor2D, bias: tf.Tensor, addend: tf.Tensor2D): tf.Tensor2D {
  if (tf.getKernel(MATMUL_BIAS_ADD, tf.getBackend())) return tf.engine().runKernel(MATMUL_BIAS_ADD, { a, b, bias, addend }, {}) as tf.Tensor2D;
  return thenFree(matMulBias(a, b, bias), (y) => tf.add(y, addend)) as tf.Tensor2D;
}
