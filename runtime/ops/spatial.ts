import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';

/**
 * Shape helpers shared by the 3-D ops. Activations are NDHWC: axes 1, 2, 3 are spatial,
 * axis 4 is channels. Every helper is built from differentiable TF.js ops (slice, reshape,
 * pad, concat), so gradients come from TF.js autodiff on every backend that has them.
 */

export type Triple = [number, number, number];

/** A scalar or per-axis value as three per-axis values. */
export function triple(v: number | readonly number[], what: string): Triple {
  if (typeof v === 'number') return [v, v, v];
  if (v.length !== 3) throw new Error(`${what}: expected 3 values (D, H, W), got [${v.join(', ')}]`);
  return [v[0]!, v[1]!, v[2]!];
}

export function assertRank5(x: tf.Tensor, what: string): asserts x is tf.Tensor5D {
  if (x.rank !== 5) throw new Error(`${what}: expected a rank-5 NDHWC tensor, got shape [${x.shape.join(', ')}]`);
}

/** Refuses a depthwise filter that is not [kD, kH, kW, C, 1] for x's C channels. */
export function assertDepthwiseFilter(x: tf.Tensor, filter: tf.Tensor, what: string): void {
  if (filter.rank !== 5 || filter.shape[3] !== x.shape[4] || filter.shape[4] !== 1) {
    throw new Error(`${what}: filter [${filter.shape.join(', ')}] does not fit input channels ${x.shape[4]} (expected [kD, kH, kW, ${x.shape[4]}, 1])`);
  }
}

/** Output extent of a strided VALID window: floor((n - k) / s) + 1. */
export function validOut(n: number, k: number, s: number): number {
  return Math.floor((n - k) / s) + 1;
}

/**
 * Picks planes along `axis`: output plane j is input plane idx[j], or zeros where idx[j] = −1.
 * Each input plane is picked at most once, so the gradient is the adjoint selection (dy's
 * planes put back where they came from, zeros elsewhere). It runs as a gather both ways:
 * TF.js's own gradients of strided slices (none) and of gather (a segment sum) are missing
 * or slow, and reshape-and-slice on rank 6 is 10× slower than a gather on cpu and wasm.
 */
export function selectPlanes(x: tf.Tensor, axis: number, idx: readonly number[]): tf.Tensor {
  const n = x.shape[axis]!;
  const inverse = new Array<number>(n).fill(-1);
  idx.forEach((i, j) => {
    if (i >= n || (i >= 0 && inverse[i] !== -1)) throw new Error(`selectPlanes: index ${i} repeated or out of range ${n}`);
    if (i >= 0) inverse[i] = j;
  });
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: gatherPlanes(args[0] as tf.Tensor, axis, idx),
    gradFunc: (dy: tf.Tensor) => gatherPlanes(dy, axis, inverse),
  }));
  return op(x);
}

function gatherPlanes(x: tf.Tensor, axis: number, idx: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    const n = x.shape[axis]!;
    let src = x;
    if (idx.some((i) => i < 0)) {
      const zshape = [...x.shape];
      zshape[axis] = 1;
      src = tf.concat([x, tf.zeros(zshape, x.dtype)], axis);
    }
    return tf.gather(src, tf.tensor1d(idx.map((i) => (i < 0 ? n : i)), 'int32'), axis);
  });
}

/** Takes planes `start, start + s, …` (`count` of them) along spatial `axis` (1..3). */
export function takeStrided(x: tf.Tensor5D, axis: 1 | 2 | 3, start: number, count: number, s: number): tf.Tensor5D {
  if (s === 1 && axis === 1 && x.shape[0] === 1) {
    // One sample: the depth planes are the outermost axis of a 4-D view, and a slice of the
    // outermost axis shares the tensor's buffer on the tensorflow backend instead of copying it.
    const [, d, h, w, c] = x.shape;
    return tf.reshape(tf.slice(tf.reshape(x, [d, h, w, c]), [start, 0, 0, 0], [count, h, w, c]), [1, count, h, w, c]);
  }
  if (s === 1) {
    const begin = [0, 0, 0, 0, 0];
    const size: number[] = [...x.shape];
    begin[axis] = start;
    size[axis] = count;
    return tf.slice(x, begin, size);
  }
  return selectPlanes(x, axis, Array.from({ length: count }, (_, j) => start + j * s)) as tf.Tensor5D;
}

/**
 * Kernels a backend may register for the two strided copies below, each one pass (attrs
 * `stride` [3] and `outShape` [5]): the gather y[n, i, j, k, c] = x[n, i·sD, j·sH, k·sW, c], and
 * the scatter into zeros of outShape, y[n, i·sD, j·sH, k·sW, c] = x[n, i, j, k, c]. Each is the
 * other's gradient. Elsewhere the ops run as plane selections along one axis at a time.
 */
export const STRIDED_GATHER_3D = 'MnxcStridedGather3d';
export const STRIDED_SCATTER_3D = 'MnxcStridedScatter3d';

function stridedCopyOp(x: tf.Tensor5D, stride: Triple, outShape: number[], gather: boolean): tf.Tensor5D {
  const run = (name: string, t: tf.Tensor, shape: number[]) =>
    tf.engine().runKernel(name, { x: t }, { stride: [...stride], outShape: shape } as unknown as tf.NamedAttrMap) as tf.Tensor5D;
  const [forward, backward] = gather ? [STRIDED_GATHER_3D, STRIDED_SCATTER_3D] : [STRIDED_SCATTER_3D, STRIDED_GATHER_3D];
  const inShape = [...x.shape];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: run(forward, args[0] as tf.Tensor, outShape),
    gradFunc: (dy: tf.Tensor) => run(backward, dy, inShape),
  }));
  return op(x.dtype === 'float32' ? x : tf.cast(x, 'float32')) as tf.Tensor5D;
}

const hasStridedCopies = () => !!tf.getKernel(STRIDED_GATHER_3D, tf.getBackend()) && !!tf.getKernel(STRIDED_SCATTER_3D, tf.getBackend());

/** Keeps every s-th voxel (phase 0) along each spatial axis, as a stride-s 1×1×1 window does. */
export function subsample(x: tf.Tensor5D, stride: Triple): tf.Tensor5D {
  if (stride.some((s) => s !== 1) && hasStridedCopies()) {
    const out = x.shape.map((len, i) => (i >= 1 && i <= 3 ? validOut(len, 1, stride[i - 1]!) : len));
    return stridedCopyOp(x, stride, out, true);
  }
  let y = x;
  for (const axis of [1, 2, 3] as const) {
    const s = stride[axis - 1]!;
    if (s === 1) continue;
    y = takeStrided(y, axis, 0, validOut(y.shape[axis], 1, s), s);
  }
  return y;
}

/**
 * Inserts s-1 zeros between neighbouring voxels along each spatial axis (n -> (n-1)s + 1):
 * the input of a transposed convolution seen as a plain convolution.
 */
export function zeroInsert(x: tf.Tensor5D, stride: Triple): tf.Tensor5D {
  if (stride.some((s) => s !== 1) && hasStridedCopies()) {
    const out = x.shape.map((len, i) => (i >= 1 && i <= 3 ? (len - 1) * stride[i - 1]! + 1 : len));
    return stridedCopyOp(x, stride, out, false);
  }
  let y = x;
  for (const axis of [1, 2, 3] as const) {
    const s = stride[axis - 1]!;
    if (s === 1) continue;
    const len = (y.shape[axis] - 1) * s + 1;
    y = selectPlanes(y, axis, Array.from({ length: len }, (_, j) => (j % s === 0 ? j / s : -1))) as tf.Tensor5D;
  }
  return y;
}
