/**
 * nnU-Net v1's batch size rule (`ExperimentPlanner3D_v21.get_properties_for_stage`,
 * `experiment_planner_baseline_3DUNet_v21.py` lines 93–163, and the 2-D planner
 * `experiment_planner_baseline_2DUNet_v21.py` lines 34–87), as MedNeXt's
 * `customTargetSpacing_1x1x1` planners run it: the planner's own patch (an isotropic 512 mm start,
 * clipped to the median shape, divisible by 2^pools, shrunk until a U-Net's approximate activation
 * memory fits the reference) decides the batch size; MedNeXt then replaces only the patch (128³ or
 * 512²), so the batch size stays the planner's. All shapes are in array order at the target spacing.
 */

/** `Generic_UNet` constants (`network_architecture/generic_UNet.py`, lines 168–182). */
const REF_3D = 520000000;
const REF_2D = 19739648;
const BASE_FEATURES_REF_3D = 30;
const DEFAULT_BATCH_3D = 2;
const DEFAULT_BATCH_2D = 50;
/** `ExperimentPlanner` settings (`experiment_planner_baseline_3DUNet.py`, lines 52–64). */
const MIN_EDGE = 4;
const MIN_BATCH = 2;
const MAX_FRACTION_OF_DATASET = 0.05;
const CONV_PER_STAGE = 2;

/** `get_pool_and_conv_props` (`experiment_planning/common_utils.py`, lines 89–154): pools per axis, pool kernels, the patch made divisible. */
export function poolAndConvProps(spacing: readonly number[], patch: readonly number[], minEdge = MIN_EDGE): { poolsPerAxis: number[]; poolKernels: number[][]; patch: number[]; divisibleBy: number[] } {
  const dim = spacing.length;
  const sp = [...spacing];
  const size = [...patch];
  const pools = new Array<number>(dim).fill(0);
  const kernels: number[][] = [];
  for (;;) {
    const minSp = Math.min(...sp);
    const valid = [...Array(dim).keys()].filter((i) => sp[i]! / minSp < 2 && size[i]! >= 2 * minEdge);
    if (valid.length === 0) break;
    const k = new Array<number>(dim).fill(1);
    for (const v of valid) {
      k[v] = 2;
      pools[v]! += 1;
      sp[v]! *= 2;
      size[v] = Math.ceil(size[v]! / 2);
    }
    kernels.push(k);
  }
  const divisibleBy = pools.map((p) => 2 ** p);
  // pad_shape: up to the next multiple (a shape already divisible stays)
  const padded = patch.map((s, i) => (s % divisibleBy[i]! === 0 ? s : s + divisibleBy[i]! - (s % divisibleBy[i]!)));
  return { poolsPerAxis: pools, poolKernels: kernels, patch: padded, divisibleBy };
}

/** `Generic_UNet.compute_approx_vram_consumption` (generic_UNet.py, lines 411–447), without deep supervision. */
export function approxVram(patch: readonly number[], poolKernels: number[][], baseFeatures: number, maxFeatures: number, modalities: number, classes: number): number {
  const map = patch.map(Number);
  const prod = () => map.reduce((a, b) => a * b, 1);
  let total = (CONV_PER_STAGE * 2 + 1) * prod() * baseFeatures + modalities * prod() + classes * prod();
  let feat = baseFeatures;
  poolKernels.forEach((k, p) => {
    // numpy: an element of an int array divided in place stays an int (truncated)
    k.forEach((f, i) => (map[i] = Math.trunc(map[i]! / f)));
    feat = Math.min(feat * 2, maxFeatures);
    const blocks = p < poolKernels.length - 1 ? CONV_PER_STAGE * 2 + 1 : CONV_PER_STAGE;
    total += blocks * prod() * feat;
  });
  return total;
}

export interface BatchSizeInput {
  /** Target spacing (array order). */
  spacing: readonly number[];
  /** Median case shape at the target spacing, unrounded (array order). */
  medianShape: readonly number[];
  numCases: number;
  modalities: number;
  /** Classes including background. */
  classes: number;
}

/** Shrinks the patch along the axis largest relative to the median until the estimate fits `ref`. */
function fitPatch(spacing: readonly number[], start: number[], median: number[], ref: number, estimate: (p: number[], k: number[][]) => number): { patch: number[]; here: number } {
  let props = poolAndConvProps(spacing, start);
  let shp = props.patch;
  let here = estimate(shp, props.poolKernels);
  while (here > ref) {
    let axis = 0;
    // np.argsort(...)[-1]: the last index among equal maxima
    for (let a = 0; a < shp.length; a++) if (shp[a]! / median[a]! >= shp[axis]! / median[axis]!) axis = a;
    const tmp = [...shp];
    tmp[axis]! -= props.divisibleBy[axis]!;
    const smaller = poolAndConvProps(spacing, tmp).divisibleBy;
    shp = [...shp];
    shp[axis]! -= smaller[axis]!;
    props = poolAndConvProps(spacing, shp);
    shp = props.patch;
    here = estimate(shp, props.poolKernels);
  }
  return { patch: shp, here };
}

/** numpy `round` (half to even). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The 3-D batch size (and the planner's own patch): floor(max(ref/here, 1)·2), at most 5 % of the
 * dataset's voxels per batch but never below 2 for that cap, at least 1. `baseFeatures` 30 as
 * MedNeXt's planner (it skips the v21 constructor that sets 32).
 */
export function plannedBatchSize3d(input: BatchSizeInput, baseFeatures = 30, maxFeatures = 320): { batchSize: number; plannerPatch: number[] } {
  const median = input.medianShape.map(roundHalfEven);
  const datasetVoxels = median.reduce((a, b) => a * b, 1) * input.numCases;
  const perMm = input.spacing.map((s) => 1 / s);
  const mean = perMm.reduce((a, b) => a + b, 0) / perMm.length;
  const norm = perMm.map((v) => v / mean);
  const minNorm = Math.min(...norm);
  const start = norm.map((v, a) => Math.min(roundHalfEven((v / minNorm) * 512), median[a]!));
  const ref = (REF_3D * baseFeatures) / BASE_FEATURES_REF_3D;
  const { patch, here } = fitPatch(input.spacing, start, median, ref, (p, k) => approxVram(p, k, baseFeatures, maxFeatures, input.modalities, input.classes));
  let batch = Math.floor(Math.max(ref / here, 1) * DEFAULT_BATCH_3D);
  const cap = Math.max(roundHalfEven((MAX_FRACTION_OF_DATASET * datasetVoxels) / patch.reduce((a, b) => a * b, 1)), MIN_BATCH);
  batch = Math.max(1, Math.min(batch, cap));
  return { batchSize: batch, plannerPatch: patch };
}

/**
 * The 2-D batch size (slices of axes 1, 2): floor(ref/here)·2 with ref = 2-D reference × 50/2, at
 * most 5 % of the dataset's voxels, at least 1. Base features 30 and at most 512 filters
 * (`ExperimentPlanner2D`, which MedNeXt's 2-D planner inherits).
 */
export function plannedBatchSize2d(input: BatchSizeInput, maxFeatures = 512): { batchSize: number; plannerPatch: number[] } {
  const median = input.medianShape.map(roundHalfEven);
  const datasetVoxels = median.reduce((a, b) => a * b, 1) * input.numCases;
  const inPlane = median.slice(1);
  const ref = (REF_2D * DEFAULT_BATCH_2D) / 2;
  const { patch, here } = fitPatch(input.spacing.slice(1), inPlane, inPlane, ref, (p, k) => approxVram(p, k, 30, maxFeatures, input.modalities, input.classes));
  let batch = Math.floor(ref / here) * 2;
  const cap = roundHalfEven((MAX_FRACTION_OF_DATASET * datasetVoxels) / patch.reduce((a, b) => a * b, 1));
  batch = Math.max(1, Math.min(batch, cap));
  return { batchSize: batch, plannerPatch: patch };
}
