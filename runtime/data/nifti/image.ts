import type { NiftiImage, VoxelArray } from './types.js';

/** Helpers on in-memory images that readers of datasets and predictions share. */

/** Number of channels: the 4th axis of a 4-D image, else 1. */
export function channelCount(image: NiftiImage): number {
  return image.shape.length >= 4 ? image.shape.slice(3).reduce((a, b) => a * b, 1) : 1;
}

/** Channel c of a 4-D image as a 3-D image (a view on the same data; the header is shared). */
export function channelOf(image: NiftiImage, c: number): NiftiImage {
  const [x = 1, y = 1, z = 1] = image.shape;
  const n = x * y * z;
  if (!Number.isInteger(c) || c < 0 || c >= channelCount(image)) throw new RangeError(`channel ${c} out of range 0..${channelCount(image) - 1}`);
  const data = image.data.subarray(c * n, (c + 1) * n) as VoxelArray;
  return { ...image, shape: image.shape.slice(0, Math.min(3, image.shape.length)), spacing: image.spacing.slice(0, 3), data };
}

/** Largest absolute difference between two 4×4 affines. */
export function affineDistance(a: number[][], b: number[][]): number {
  let d = 0;
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) d = Math.max(d, Math.abs((a[r]?.[c] ?? 0) - (b[r]?.[c] ?? 0)));
  return d;
}

/** Same spatial grid: equal x, y, z sizes and affines within `tol` (mm). */
export function sameGeometry(a: NiftiImage, b: NiftiImage, tol = 1e-4): boolean {
  const sa = a.shape.slice(0, 3), sb = b.shape.slice(0, 3);
  return sa.length === sb.length && sa.every((v, i) => v === sb[i]) && affineDistance(a.affine, b.affine) <= tol;
}

export interface IntensityStats {
  min: number;
  max: number;
  mean: number;
  /** Voxels that are NaN or ±Infinity (left out of min/max/mean). */
  nonFinite: number;
}

export function intensityStats(data: VoxelArray): IntensityStats {
  let min = Infinity, max = -Infinity, sum = 0, count = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    count++;
  }
  return count === 0
    ? { min: NaN, max: NaN, mean: NaN, nonFinite: data.length }
    : { min, max, mean: sum / count, nonFinite: data.length - count };
}
