/**
 * nnU-Net's resampling of a case to a target spacing (`resample_patient` / `resample_data_or_seg` in
 * nnU-Net v1 `preprocessing/preprocessing.py`): the new shape, the "separate z" decision for anisotropic
 * data, and the per-channel image / label resampling built on `resize.ts`.
 * Every per-axis list is in array order (the same order as the volume's shape).
 */
import { nearestAlongAxis, resizeImage, resizeLabels, type Shape3 } from './resize.js';
import { zoomAxis, type SplineOrder } from './spline.js';

/** nnU-Net's RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD. */
export const ANISOTROPY_THRESHOLD = 3;

/** numpy's `np.round`: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `round(spacing / target · shape)` per axis, with numpy's rounding. */
export function resampledShape(shape: readonly number[], spacing: readonly number[], target: readonly number[]): Shape3 {
  return shape.map((n, a) => roundHalfEven((spacing[a]! / target[a]!) * n)) as Shape3;
}

/** True when the coarsest spacing is more than `threshold` times the finest. */
export function isAnisotropic(spacing: readonly number[], threshold = ANISOTROPY_THRESHOLD): boolean {
  return Math.max(...spacing) / Math.min(...spacing) > threshold;
}

/** The axes whose spacing equals the largest (nnU-Net's `get_lowres_axis`). */
export function lowResAxes(spacing: readonly number[]): number[] {
  const max = Math.max(...spacing);
  return spacing.map((s, a) => (max / s === 1 ? a : -1)).filter((a) => a >= 0);
}

/**
 * The axis to resample separately (nearest neighbour along it, in-plane interpolation across it), or
 * undefined: decided on the original spacing first, then on the target spacing; never when two or three
 * axes share the coarsest spacing.
 */
export function separateAxis(spacing: readonly number[], target: readonly number[], threshold = ANISOTROPY_THRESHOLD): number | undefined {
  let axes: number[] | undefined;
  if (isAnisotropic(spacing, threshold)) axes = lowResAxes(spacing);
  else if (isAnisotropic(target, threshold)) axes = lowResAxes(target);
  return axes !== undefined && axes.length === 1 ? axes[0] : undefined;
}

export interface ResampleOrders {
  /** In-plane (or full 3-D) order for images; nnU-Net: 3. */
  order: SplineOrder;
  /** Order along the separate axis; nnU-Net: 0. */
  orderZ: 0;
}

/**
 * The slices nearest-neighbour zooming of `axis` to `newLength` keeps (scipy's order-0 zoom, as
 * `zoomAxis` computes it), copied into a float64 volume: only the kept slices are ever converted.
 */
function pickSlices(data: ArrayLike<number>, shape: Shape3, axis: number, newLength: number): Float64Array {
  const n = shape[axis];
  const source = zoomAxis(Float64Array.from({ length: n }, (_, i) => i), [n], 0, newLength, 0).data;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(outer * newLength * inner);
  for (let o = 0; o < outer; o++)
    for (let k = 0; k < newLength; k++) {
      const from = (o * n + source[k]!) * inner;
      const to = (o * newLength + k) * inner;
      for (let i = 0; i < inner; i++) out[to + i] = data[from + i]!;
    }
  return out;
}

/** One image channel to `newShape` (nnU-Net `resample_data_or_seg(is_seg=False)`). */
export function resampleImage(
  data: ArrayLike<number>,
  shape: Shape3,
  newShape: Shape3,
  axis: number | undefined,
  order: SplineOrder = 3,
): Float64Array {
  if (shape.every((n, a) => n === newShape[a])) return Float64Array.from(data);
  if (axis === undefined) return resizeImage(data, shape, newShape, order);
  if (newShape[axis] < shape[axis]) {
    // Nearest neighbour along the separate axis copies whole slices, and the in-plane resize treats
    // each slice on its own (clipped to its own range), so the two commute: when that axis shrinks,
    // picking the slices first resizes only the kept ones — the same values, with less work and
    // memory (exporting a CT case: 500 → 200 slices, 2.5× fewer in-plane resizes).
    const pickedShape = [...shape] as Shape3;
    pickedShape[axis] = newShape[axis];
    return resizeImage(pickSlices(data, shape, axis, newShape[axis]), pickedShape, newShape, order, axis);
  }
  const inPlane = resizeImage(data, shape, newShape, order, axis);
  const planeShape = [...newShape] as Shape3;
  planeShape[axis] = shape[axis];
  return nearestAlongAxis(inPlane, planeShape, axis, newShape[axis]);
}

/** A label volume to `newShape` (nnU-Net `resample_data_or_seg(is_seg=True)`, order 1, z order 0). */
export function resampleLabels(
  labels: ArrayLike<number>,
  shape: Shape3,
  newShape: Shape3,
  axis: number | undefined,
  order: 0 | 1 = 1,
): Int16Array {
  if (shape.every((n, a) => n === newShape[a])) return Int16Array.from(labels);
  if (axis === undefined) return resizeLabels(labels, shape, newShape, order);
  const inPlane = resizeLabels(labels, shape, newShape, order, axis);
  const planeShape = [...newShape] as Shape3;
  planeShape[axis] = shape[axis];
  return nearestAlongAxis(inPlane, planeShape, axis, newShape[axis]);
}
