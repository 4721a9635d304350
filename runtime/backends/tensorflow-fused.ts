import * as tf from '@tensorflow/tfjs-core';
import { MATMUL_BIAS_ADD, MATMUL_BIAS_GELU } from '../kernels/pointwise.js';
import { SUM_OF_SQUARES } from '../kernels/group-norm.js';
import { geluValue } from '../kernels/gelu.js';

/**
 * `_FusedMatMul` (tf.fused.matMul) on the `tensorflow` backend as TensorFlow's own fused kernel.
 *
 * tfjs-node runs it as a matrix product and then a separate Add of the bias: one more full pass
 * over the output, and in MedNeXt the outputs of the 1×1×1 convolutions are the largest
 * activations (R·C channels). TensorFlow's `_FusedMatMul` adds the bias while the output tile is
 * in cache. Its `fused_ops` attribute is a list of strings, which tfjs-node's addon can pass only
 * with mnxc's source patch (runtime/setup/tfjs-node-patch.ts), so this is installed only when a
 * probe on a small product gives the right numbers; otherwise tfjs-node's kernel stays.
 *
 * Handled: 2-D products (a 3-D batch of one, as tf.fused.matMul passes them) with a bias over
 * the output columns and no activation; everything else goes to tfjs-node's kernel.
 */

interface NodeBackend {
  binding: Record<string, number>;
  executeSingleOutput(name: string, attrs: Array<{ name: string; type: number; value: unknown }>, inputs: tf.Tensor[]): tf.Tensor;
}

let installed = false;
let epilogues = false;

/** Whether the fused kernel is in place (after `installFusedMatMul`). */
export function fusedMatMulInstalled(): boolean {
  return installed;
}

/** Whether the epilogue kernels are registered (after `installFusedMatMul`). */
export function epilogueKernelsInstalled(): boolean {
  return epilogues;
}

/** Replaces tfjs-node's `_FusedMatMul` kernel when the addon can run TensorFlow's; returns whether it did. */
export function installFusedMatMul(): boolean {
  if (installed) return true;
  const original = tf.getKernel(tf._FusedMatMul, 'tensorflow');
  const backend = tf.engine().findBackend('tensorflow') as unknown as NodeBackend | null;
  if (!original || !backend || !probe(backend)) return false;
  if (probeOneDnn(backend)) registerEpilogues(backend);
  if (probeSumOfSquares(backend)) registerSumOfSquares(backend);
  tf.unregisterKernel(tf._FusedMatMul, 'tensorflow');
  tf.registerKernel({
    kernelName: tf._FusedMatMul,
    backendName: 'tensorflow',
    kernelFunc: (args) => {
      const fused = fusedProduct(backend, args.inputs as unknown as FusedInputs, args.attrs as unknown as FusedAttrs);
      return fused ?? original.kernelFunc(args);
    },
  });
  installed = true;
  return true;
}

interface FusedInputs {
  a: tf.Tensor;
  b: tf.Tensor;
  bias?: tf.Tensor;
  preluActivationWeights?: tf.Tensor;
}

interface FusedAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation?: string;
}

/** op(a)·op(b) + bias as one TensorFlow kernel, or null for a case it does not cover. */
function fusedProduct(backend: NodeBackend, { a, b, bias, preluActivationWeights }: FusedInputs, { transposeA, transposeB, activation }: FusedAttrs): tf.Tensor | null {
  if (!bias || preluActivationWeights || (activation !== undefined && activation !== 'linear')) return null;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || bias.dtype !== 'float32') return null;
  const lead = (t: tf.Tensor) => t.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  if (a.rank < 2 || b.rank < 2 || lead(a) !== 1 || lead(b) !== 1) return null;
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? ac : ar;
  const n = transposeB ? br : bc;
  // The bias must be one value per output column, broadcast over the rows.
  if (bias.size !== n || bias.shape[bias.rank - 1] !== n) return null;
  return tf.tidy(() => {
    const y = fusedProduct2d(backend, '_FusedMatMul', ['BiasAdd'], tf.reshape(a, [ar, ac]), tf.reshape(b, [br, bc]), [tf.reshape(bias, [n])], transposeA, transposeB);
    return tf.reshape(y, [...a.shape.slice(0, -2).map(() => 1), m, n]);
  });
}

/**
 * One fused matrix product op of TensorFlow's: `op` with `fusedOps` applied to a·b, their
 * operands `args` (the bias, then an addend). oneDNN's variant is registered under a kernel label.
 */
function fusedProduct2d(
  backend: NodeBackend,
  op: '_FusedMatMul' | '_MklNativeFusedMatMul',
  fusedOps: string[],
  a: tf.Tensor,
  b: tf.Tensor,
  args: tf.Tensor[],
  transposeA = false,
  transposeB = false,
): tf.Tensor {
  const t = backend.binding;
  const attrs: Array<{ name: string; type: number; value: unknown }> = [
    { name: 'T', type: t.TF_ATTR_TYPE!, value: t.TF_FLOAT },
    { name: 'transpose_a', type: t.TF_ATTR_BOOL!, value: transposeA },
    { name: 'transpose_b', type: t.TF_ATTR_BOOL!, value: transposeB },
    { name: 'num_args', type: t.TF_ATTR_INT!, value: args.length },
    { name: 'fused_ops', type: t.TF_ATTR_STRING!, value: fusedOps },
  ];
  // oneDNN kernels are registered under this label (TensorFlow's graph rewrite sets it).
  if (op === '_MklNativeFusedMatMul') attrs.push({ name: '_kernel', type: t.TF_ATTR_STRING!, value: 'MklNameChangeOp' });
  return backend.executeSingleOutput(op, attrs, [a, b, ...args]);
}

/** Runs the kernel on a small product with transposes; false when the addon cannot or it computes wrongly. */
function probe(backend: NodeBackend): boolean {
  try {
    return tf.tidy(() => {
      const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
      const b = tf.tensor2d([1, -1, 2, 0, 1, -2], [3, 2]);
      const y = fusedProduct2d(backend, '_FusedMatMul', ['BiasAdd'], a, b, [tf.tensor1d([10, 20, 30])], false, true); // a·bᵀ + bias
      return y.shape.join() === '3,3' && Array.from(y.dataSync()).join() === '9,22,27,9,26,25,9,30,23';
    });
  } catch {
    return false;
  }
}

/**
 * Forward-only products with an epilogue, as oneDNN's fused matrix product (TensorFlow's
 * `_MklNativeFusedMatMul`, reached in eager mode through its kernel label):
 *
 *   MnxcMatMulBiasGelu  a [M, K], b [K, N], bias [N]            → GELU(a·b + bias)   (exact, erf)
 *   MnxcMatMulBiasAdd   a [M, K], b [K, N], bias [N], addend [M, N] → a·b + bias + addend
 *
 * In a MedNeXt block the first is the expansion conv with its GELU, the second the compression
 * conv with the residual sum: each removes full passes over the largest activations (GELU
 * alone is four). They have no gradient: the model's inference plan uses them, and
 * `normGeluPointwise` in its forward pass (its backward pass is written out). Registered only
 * when a probe gives the right numbers.
 */
function registerEpilogues(backend: NodeBackend): void {
  tf.registerKernel({
    kernelName: MATMUL_BIAS_GELU,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs }) => {
      const { a, b, bias } = inputs as unknown as { a: tf.Tensor; b: tf.Tensor; bias: tf.Tensor };
      return oneDnn(backend, ['BiasAdd', 'GeluExact'], a, b, [bias]);
    },
  });
  tf.registerKernel({
    kernelName: MATMUL_BIAS_ADD,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs }) => {
      const { a, b, bias, addend } = inputs as unknown as { a: tf.Tensor; b: tf.Tensor; bias: tf.Tensor; addend: tf.Tensor };
      return oneDnn(backend, ['BiasAdd', 'Add'], a, b, [bias, addend]);
    },
  });
  epilogues = true;
}

function oneDnn(backend: NodeBackend, fusedOps: string[], a: tf.Tensor, b: tf.Tensor, args: tf.Tensor[]): tf.Tensor {
  if (a.rank !== 2 || b.rank !== 2 || args.some((x) => x.dtype !== 'float32')) {
    throw new Error(`${fusedOps.join('+')}: expects 2-D float32 a and b, got [${a.shape}] and [${b.shape}]`);
  }
  return fusedProduct2d(backend, '_MklNativeFusedMatMul', fusedOps, a, b, args);
}

/** Both oneDNN epilogues on a small product, against the separate ops; false when absent or wrong. */
function probeOneDnn(backend: NodeBackend): boolean {
  try {
    return tf.tidy(() => {
      const a = tf.tensor2d([0.5, -1, 2, 0.25, -3, 1.5], [3, 2]);
      const b = tf.tensor2d([1, -2, 0.5, 3], [2, 2]);
      const bias = tf.tensor1d([0.1, -0.2]);
      const addend = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
      const h = tf.add(tf.matMul(a, b), bias);
      const gelu = geluValue(h);
      const close = (x: tf.Tensor, y: tf.Tensor) => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]! < 1e-5;
      return close(oneDnn(backend, ['BiasAdd', 'GeluExact'], a, b, [bias]), gelu) && close(oneDnn(backend, ['BiasAdd', 'Add'], a, b, [bias, addend]), tf.add(h, addend));
    });
  } catch {
    return false;
  }
}

/** Σᵣ x² of x [B, R, C] → [B, C]: TensorFlow's EuclideanNorm over the middle axis, squared (one read of x). */
function sumOfSquares(backend: NodeBackend, x: tf.Tensor): tf.Tensor {
  if (x.rank !== 3 || x.dtype !== 'float32') throw new Error(`${SUM_OF_SQUARES}: expects a 3-D float32 tensor, got [${x.shape}] ${x.dtype}`);
  const t = backend.binding;
  const axis = tf.tensor1d([1], 'int32');
  const norm = backend.executeSingleOutput(
    'EuclideanNorm',
    [
      { name: 'keep_dims', type: t.TF_ATTR_BOOL!, value: false },
      { name: 'T', type: t.TF_ATTR_TYPE!, value: t.TF_FLOAT },
      { name: 'Tidx', type: t.TF_ATTR_TYPE!, value: t.TF_INT32 },
    ],
    [x, axis],
  );
  axis.dispose();
  const squared = backend.executeSingleOutput('Square', [{ name: 'T', type: t.TF_ATTR_TYPE!, value: t.TF_FLOAT }], [norm]);
  norm.dispose();
  return squared;
}

function registerSumOfSquares(backend: NodeBackend): void {
  tf.registerKernel({ kernelName: SUM_OF_SQUARES, backendName: 'tensorflow', kernelFunc: ({ inputs }) => sumOfSquares(backend, (inputs as unknown as { x: tf.Tensor }).x) });
}

/** The sum of squares on a small tensor against the separate ops; false when absent or wrong. */
function probeSumOfSquares(backend: NodeBackend): boolean {
  try {
    return tf.tidy(() => {
      const x = tf.tensor3d([1, -2, 3, 0.5, -1, 2, 4, 1, -3, 2, 0, 1], [2, 3, 2]);
      const y = sumOfSquares(backend, x);
      return y.shape.join() === '2,2' && tf.max(tf.abs(tf.sub(y, tf.sum(tf.square(x), 1)))).dataSync()[0]! < 1e-5;
    });
  } catch {
    return false;
  }
}
