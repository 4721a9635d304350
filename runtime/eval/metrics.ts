import type { Shape3 } from './edt.js';
import { averageSurfaceDistances, computeSurfaceDistances, robustHausdorff, surfaceDiceAtTolerance } from './surface-distances.js';
import { voxelSurfaceDice } from './voxel-nsd.js';

/**
 * The metrics of one class (or region) of one case. NaN marks an undefined value:
 *  - dice: 2TP / (2TP + FP + FN); NaN when both masks are empty.
 *  - nsd: normalised surface Dice at the tolerance (surfel areas, DeepMind's definition); NaN when
 *    both are empty, 0 when exactly one is.
 *  - hd95: the 95th-percentile (area-weighted) Hausdorff distance in mm, the larger direction;
 *    NaN when either mask is empty (the distance is infinite).
 *  - asd: average symmetric surface distance in mm = the mean of the two directed area-weighted
 *    mean distances (ref → pred and pred → ref); NaN when either mask is empty.
 *  - nsd_voxel: MedNeXt's voxel-count surface Dice (`voxelSurfaceDice`); NaN when either is empty.
 */
export interface MaskMetrics {
  dice: number;
  nsd: number;
  hd95: number;
  asd: number;
  nsd_voxel: number;
}

export const METRIC_NAMES = ['dice', 'nsd', 'hd95', 'asd', 'nsd_voxel'] as const satisfies readonly (keyof MaskMetrics)[];

export const NAN_METRICS: Readonly<MaskMetrics> = { dice: NaN, nsd: NaN, hd95: NaN, asd: NaN, nsd_voxel: NaN };

export function dice(pred: Uint8Array, ref: Uint8Array): number {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] !== 0, r = ref[i] !== 0;
    if (p && r) tp++;
    else if (p) fp++;
    else if (r) fn++;
  }
  return tp + fp + fn === 0 ? NaN : (2 * tp) / (2 * tp + fp + fn);
}

/**
 * All metrics for one pair of binary masks (C order, shape [n0, n1, n2], spacing[i] in mm along
 * axis i), with the surface tolerance in mm.
 */
export function maskMetrics(pred: Uint8Array, ref: Uint8Array, shape: Shape3, spacing: readonly number[], tolerance: number): MaskMetrics {
  const sd = computeSurfaceDistances(ref, pred, shape, spacing);
  const hd = robustHausdorff(sd, 95);
  const [refToPred, predToRef] = averageSurfaceDistances(sd);
  return {
    dice: dice(pred, ref),
    nsd: surfaceDiceAtTolerance(sd, tolerance),
    hd95: Number.isFinite(hd) ? hd : NaN,
    asd: (refToPred + predToRef) / 2,
    nsd_voxel: voxelSurfaceDice(pred, ref, shape, spacing, tolerance),
  };
}

/** Mask of the voxels whose label is one of `labels`. */
export function maskOf(labelMap: ArrayLike<number>, labels: readonly number[]): Uint8Array {
  const out = new Uint8Array(labelMap.length);
  if (labels.length === 1) {
    const l = labels[0]!;
    for (let i = 0; i < out.length; i++) out[i] = labelMap[i] === l ? 1 : 0;
  } else {
    const set = new Set(labels);
    for (let i = 0; i < out.length; i++) out[i] = set.has(labelMap[i]!) ? 1 : 0;
  }
  return out;
}
