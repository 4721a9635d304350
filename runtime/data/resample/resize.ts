/**
 * Whole-volume resizing with nnU-Net's semantics:
 * - `resizeImage` = `skimage.transform.resize(x, shape, order, mode='edge', anti_aliasing=False)` (clip=True:
 *   the result is clipped to the input's min/max, which cubic overshoot would otherwise leave);
 * - `resizeLabels` = nnU-Net's `resize_segmentation(seg, shape, order=1)`: every label value, in
 *   ascending order, has its one-hot mask resized linearly and claims the voxels where it reaches 0.5
 *   (later labels overwrite earlier ones; voxels no label reaches stay 0).
 * Both can leave one axis out (`skipAxis`), which is how nnU-Net's "separate z" resampling works: in-plane
 * first (each slice on its own), then the coarse axis with nearest neighbour (`zoomAxis` order 0).
 * Volumes are C-order with shape [d0, d1, d2] (last axis fastest).
 */
import { zoomAxis, type SplineOrder } from './spline.js';

export type Shape3 = [number, number, number];

function zoomAxes(
  data: Float64Array,
  shape: readonly number[],
  newShape: readonly number[],
  order: SplineOrder,
  axes: number[],
): Float64Array {
  let cur = data;
  let curShape = [...shape];
  // shrinking axes first keeps the intermediate arrays small
  const sorted = [...axes].sort((a, b) => newShape[a]! / shape[a]! - newShape[b]! / shape[b]!);
  for (const a of sorted) {
    const r = zoomAxis(cur, curShape, a, newShape[a]!, order);
    cur = r.data;
    curShape = r.shape;
  }
  return cur;
}

/** Min and max per slice along `axis`, or over the whole volume when axis is undefined. */
function rangesAlong(data: ArrayLike<number>, shape: readonly number[], axis: number | undefined): { lo: Float64Array; hi: Float64Array } {
  const count = axis === undefined ? 1 : shape[axis]!;
  const lo = new Float64Array(count).fill(Infinity);
  const hi = new Float64Array(count).fill(-Infinity);
  const [d0, d1, d2] = shape as Shape3;
  let i = 0;
  for (let a = 0; a < d0; a++)
    for (let b = 0; b < d1; b++)
      for (let c = 0; c < d2; c++, i++) {
        const s = axis === undefined ? 0 : axis === 0 ? a : axis === 1 ? b : c;
        const v = data[i]!;
        if (v < lo[s]!) lo[s] = v;
        if (v > hi[s]!) hi[s] = v;
      }
  return { lo, hi };
}

function clipAlong(data: Float64Array, shape: readonly number[], axis: number | undefined, lo: Float64Array, hi: Float64Array): void {
  const [d0, d1, d2] = shape as Shape3;
  let i = 0;
  for (let a = 0; a < d0; a++)
    for (let b = 0; b < d1; b++)
      for (let c = 0; c < d2; c++, i++) {
        const s = axis === undefined ? 0 : axis === 0 ? a : axis === 1 ? b : c;
        const v = data[i]!;
        if (v < lo[s]!) data[i] = lo[s]!;
        else if (v > hi[s]!) data[i] = hi[s]!;
      }
}

/**
 * skimage-style resize of one 3-D volume. With `skipAxis`, that axis keeps its length and each slice
 * across it is resized (and clipped to its own range) on its own, as nnU-Net's per-slice 2-D resize.
 */
export function resizeImage(
  data: ArrayLike<number>,
  shape: Shape3,
  newShape: Shape3,
  order: SplineOrder,
  skipAxis?: number,
): Float64Array {
  const src = data instanceof Float64Array ? data : Float64Array.from(data);
  const axes = [0, 1, 2].filter((a) => a !== skipAxis);
  const target = [...newShape] as Shape3;
  if (skipAxis !== undefined) target[skipAxis] = shape[skipAxis];
  if (axes.every((a) => target[a] === shape[a])) return src === data ? Float64Array.from(src) : src;
  const { lo, hi } = rangesAlong(src, shape, skipAxis);
  const out = zoomAxes(src, shape, target, order, axes);
  const result = out === src ? Float64Array.from(out) : out;
  clipAlong(result, target, skipAxis, lo, hi);
  return result;
}

/** Sorted distinct values of an integer label volume. */
export function labelValues(labels: ArrayLike<number>): number[] {
  // labels are small integers (−1 … 32767): a presence table is much faster than a Set over millions of voxels
  const seen = new Uint8Array(65536);
  const other = new Set<number>();
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (Number.isInteger(v) && v >= -32768 && v < 32768) seen[v + 32768] = 1;
    else other.add(v);
  }
  const out = [...other];
  for (let k = 0; k < 65536; k++) if (seen[k]) out.push(k - 32768);
  return out.sort((a, b) => a - b);
}

/** nnU-Net's `resize_segmentation` (order 1 by default; order 0 is plain nearest neighbour). */
export function resizeLabels(
  labels: ArrayLike<number>,
  shape: Shape3,
  newShape: Shape3,
  order: 0 | 1 = 1,
  skipAxis?: number,
): Int16Array {
  const axes = [0, 1, 2].filter((a) => a !== skipAxis);
  const target = [...newShape] as Shape3;
  if (skipAxis !== undefined) target[skipAxis] = shape[skipAxis];
  const outSize = target[0] * target[1] * target[2];
  const out = new Int16Array(outSize);
  if (axes.every((a) => target[a] === shape[a])) {
    for (let i = 0; i < outSize; i++) out[i] = labels[i]!;
    return out;
  }
  if (order === 0) {
    const z = zoomAxes(Float64Array.from(labels), shape, target, 0, axes);
    for (let i = 0; i < outSize; i++) out[i] = z[i]!;
    return out;
  }
  const oneHot = new Float64Array(labels.length);
  for (const value of labelValues(labels)) {
    for (let i = 0; i < labels.length; i++) oneHot[i] = labels[i] === value ? 1 : 0;
    const z = zoomAxes(oneHot, shape, target, 1, axes);
    for (let i = 0; i < outSize; i++) if (z[i]! >= 0.5) out[i] = value;
  }
  return out;
}

/** Nearest-neighbour zoom of one axis only (nnU-Net's `map_coordinates(order=0, mode='nearest')` along z). */
export function nearestAlongAxis<T extends Float64Array | Int16Array>(data: T, shape: Shape3, axis: number, newLength: number): T {
  if (shape[axis] === newLength) return data;
  const z = zoomAxis(Float64Array.from(data), shape, axis, newLength, 0).data;
  if (data instanceof Float64Array) return z as T;
  return Int16Array.from(z) as T;
}
