/**
 * nnU-Net v2's ResEnc presets (nnUNetPlannerResEncM / L / XL, residual_encoder_unet_planners.py):
 * the network topology and the patch and batch size each plans for a configuration, from the
 * target spacing and the median shape after resampling (axes after nnU-Net's transpose, coarsest
 * first). The presets differ only in their GPU memory target, expressed as the reference value
 * their VRAM estimate (the summed output sizes of the network's convolutions for one sample,
 * `compute_conv_feature_map_size`) may reach at the reference batch size; the network depends on
 * the preset only through the patch size. Pure arithmetic: no tensors, no file access.
 */

export type ResEncPreset = 'M' | 'L' | 'XL';

export interface ResEncPresetTargets {
  /** GPU memory target in GB (UNet_vram_target_GB = UNet_reference_val_corresp_GB). */
  gpu_memory_target_gb: number;
  /** VRAM estimate allowed at the reference batch size (UNet_reference_val_3d / _2d). */
  reference_val_3d: number;
  reference_val_2d: number;
}

export const RESENC_PRESETS: Record<ResEncPreset, ResEncPresetTargets> = {
  M: { gpu_memory_target_gb: 8, reference_val_3d: 680e6, reference_val_2d: 135e6 },
  L: { gpu_memory_target_gb: 24, reference_val_3d: 2.1e9, reference_val_2d: 380e6 },
  XL: { gpu_memory_target_gb: 40, reference_val_3d: 3.6e9, reference_val_2d: 560e6 },
};

/** ResEncUNetPlanner's fixed choices. */
const BASE_FEATURES = 32;
const MAX_FEATURES_3D = 320;
const MAX_FEATURES_2D = 512;
const BLOCKS_PER_STAGE = [1, 3, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6];
const MIN_EDGE = 4;
const REFERENCE_BATCH_3D = 2;
const REFERENCE_BATCH_2D = 12;
const MIN_BATCH = 2;
/** The presets set max_dataset_covered = 1 (the default planner's 5 % cap is lifted). */
const MAX_DATASET_COVERED = 1;

/** Python's round(): halves to even. */
function pyRound(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface Topology {
  numPoolPerAxis: number[];
  /** Per stage, the first one [1, …]. */
  strides: number[][];
  kernelSizes: number[][];
  /** The patch padded up to a multiple of mustBeDivisibleBy. */
  patchSize: number[];
  mustBeDivisibleBy: number[];
}

/**
 * nnU-Net's get_pool_and_conv_props (network_topology.py): pool an axis while it is at least twice
 * the minimal edge (three times if it is the only one left) and within a factor 2 of the finest
 * spacing; kernel 3 on an axis once its spacing is within a factor 2 of the finest, else 1; a 3×3(×3)
 * bottleneck; the patch padded to a multiple of 2^pools per axis.
 */
export function poolAndConvProps(spacing: readonly number[], patch: readonly number[], minEdge = MIN_EDGE, maxNumPool = 999999): Topology {
  const dim = spacing.length;
  const currentSpacing = [...spacing];
  const currentSize = [...patch];
  const strides: number[][] = [new Array<number>(dim).fill(1)];
  const kernelSizes: number[][] = [];
  const numPool = new Array<number>(dim).fill(0);
  const kernel = new Array<number>(dim).fill(1);
  for (;;) {
    let valid = [...Array(dim).keys()].filter((i) => currentSize[i]! >= 2 * minEdge);
    if (valid.length < 1) break;
    const minValidSpacing = Math.min(...valid.map((i) => currentSpacing[i]!));
    valid = valid.filter((i) => currentSpacing[i]! / minValidSpacing < 2).filter((i) => numPool[i]! < maxNumPool);
    if (valid.length === 1 && !(currentSize[valid[0]!]! >= 3 * minEdge)) break;
    if (valid.length < 1) break;
    const minSpacing = Math.min(...currentSpacing);
    for (let d = 0; d < dim; d++) if (kernel[d] !== 3 && currentSpacing[d]! / minSpacing < 2) kernel[d] = 3;
    const stride = new Array<number>(dim).fill(1);
    for (const v of valid) {
      stride[v] = 2;
      numPool[v]!++;
      currentSpacing[v]! *= 2;
      currentSize[v] = Math.ceil(currentSize[v]! / 2);
    }
    strides.push(stride);
    kernelSizes.push([...kernel]);
  }
  const mustBeDivisibleBy = numPool.map((n) => 2 ** n);
  const patchSize = patch.map((s, i) => (s % mustBeDivisibleBy[i]! === 0 ? s : s + mustBeDivisibleBy[i]! - (s % mustBeDivisibleBy[i]!)));
  kernelSizes.push(new Array<number>(dim).fill(3));
  return { numPoolPerAxis: numPool, strides, kernelSizes, patchSize, mustBeDivisibleBy };
}

/** The ResidualEncoderUNet arguments a ResEnc planner writes into plans.json (arch_kwargs, the class-free part). */
export interface ResEncArchitecture {
  n_stages: number;
  features_per_stage: number[];
  kernel_sizes: number[][];
  strides: number[][];
  n_blocks_per_stage: number[];
  n_conv_per_stage_decoder: number[];
}

function architecture(t: Topology, dim: number): ResEncArchitecture {
  const n = t.strides.length;
  const max = dim === 2 ? MAX_FEATURES_2D : MAX_FEATURES_3D;
  return {
    n_stages: n,
    features_per_stage: [...Array(n).keys()].map((i) => Math.min(max, BASE_FEATURES * 2 ** i)),
    kernel_sizes: t.kernelSizes,
    strides: t.strides,
    n_blocks_per_stage: BLOCKS_PER_STAGE.slice(0, n),
    n_conv_per_stage_decoder: new Array<number>(n - 1).fill(1),
  };
}

/**
 * ResidualEncoderUNet.compute_conv_feature_map_size for one sample, as nnU-Net's planners build the
 * network to estimate VRAM (deep supervision off: only the last head counts): the stem, every
 * BasicBlockD's conv1, conv2 and projecting skip at its output size, and per decoder stage its
 * convs, the transposed conv and the head.
 */
export function convFeatureMapSize(a: ResEncArchitecture, patch: readonly number[], numClasses: number): number {
  const prod = (c: number, s: readonly number[]) => s.reduce((x, y) => x * y, c);
  let size = [...patch];
  let total = prod(a.features_per_stage[0]!, size); // stem, stride 1
  let channels = a.features_per_stage[0]!;
  for (let s = 0; s < a.n_stages; s++) {
    const out = a.features_per_stage[s]!;
    const after = size.map((v, i) => Math.floor(v / a.strides[s]![i]!));
    for (let b = 0; b < a.n_blocks_per_stage[s]!; b++) {
      const input = b === 0 ? size : after;
      const cin = b === 0 ? channels : out;
      const projects = cin !== out || input.some((v, i) => v !== after[i]);
      total += 2 * prod(out, after) + (projects ? prod(out, after) : 0);
    }
    channels = out;
    size = after;
  }
  const skips: number[][] = [];
  let cur = [...patch];
  for (let s = 0; s < a.n_stages - 1; s++) {
    cur = cur.map((v, i) => Math.floor(v / a.strides[s]![i]!));
    skips.push(cur);
  }
  for (let s = 0; s < a.n_stages - 1; s++) {
    const sk = skips[skips.length - 1 - s]!;
    const c = a.features_per_stage[a.n_stages - 2 - s]!;
    total += a.n_conv_per_stage_decoder[s]! * prod(c, sk); // convs, stride 1
    total += prod(c, sk); // transposed conv
    if (s === a.n_stages - 2) total += prod(numClasses, sk); // the one head without deep supervision
  }
  return total;
}

export interface ResEncPlanInput {
  /** Target spacing of the configuration (3 axes for 3d_fullres, the last 2 for 2d). */
  spacing: readonly number[];
  /** Median shape after resampling to that spacing (same axes). */
  medianShape: readonly number[];
  /** Labels including background (dataset.json's `labels`). */
  numClasses: number;
  /**
   * Approximate voxels in the dataset: the 3-D median shape's volume × training cases (the same
   * number for the 2d configuration), for the cap on the share of it one batch covers.
   */
  datasetVoxels: number;
}

export interface ResEncPlan {
  preset: ResEncPreset;
  patch_size: number[];
  batch_size: number;
  architecture: ResEncArchitecture;
  /** The VRAM estimate of the chosen patch and the reference it was held to. */
  estimate: number;
  reference: number;
}

/**
 * ExperimentPlanner.get_plans_for_configuration with a ResEnc preset's targets: an initial patch
 * with the spacing's aspect ratio and the volume of 256³ (2048² in 2-D), capped by the median
 * shape; while the estimate at batch 2 exceeds the reference, shrink the axis largest relative to
 * the median shape by one step of its divisibility; then the batch that fills the reference.
 */
export function planResEnc(preset: ResEncPreset, input: ResEncPlanInput): ResEncPlan {
  const dim = input.spacing.length;
  const targets = RESENC_PRESETS[preset];
  const median = input.medianShape.slice(0, dim);
  const inv = input.spacing.map((s) => 1 / s);
  const volume = dim === 3 ? 256 ** 3 : 2048 ** 2;
  const scale = (volume / inv.reduce((a, b) => a * b, 1)) ** (1 / dim);
  const initial = inv.map((v, i) => Math.min(pyRound(v * scale), median[i]!));
  let topo = poolAndConvProps(input.spacing, initial);
  let patch = topo.patchSize;
  let arch = architecture(topo, dim);
  let estimate = convFeatureMapSize(arch, patch, input.numClasses);
  const reference = dim === 3 ? targets.reference_val_3d : targets.reference_val_2d;
  const refBatch = dim === 3 ? REFERENCE_BATCH_3D : REFERENCE_BATCH_2D;
  while ((estimate / refBatch) * 2 > reference) {
    // The axis that most exceeds the median shape's aspect ratio (the last of equals, as numpy's argsort for 2–3 entries).
    const ratios = patch.map((p, i) => p / median[i]!);
    let axis = 0;
    for (let i = 1; i < dim; i++) if (ratios[i]! >= ratios[axis]!) axis = i;
    const tmp = [...patch];
    tmp[axis]! -= topo.mustBeDivisibleBy[axis]!;
    const step = poolAndConvProps(input.spacing, tmp).mustBeDivisibleBy[axis]!;
    const next = [...patch];
    next[axis]! -= step;
    topo = poolAndConvProps(input.spacing, next);
    patch = topo.patchSize;
    arch = architecture(topo, dim);
    estimate = convFeatureMapSize(arch, patch, input.numClasses);
  }
  let batch = pyRound((reference / estimate) * refBatch);
  const cap = pyRound((input.datasetVoxels * MAX_DATASET_COVERED) / patch.reduce((a, b) => a * b, 1));
  batch = Math.max(Math.min(batch, cap), MIN_BATCH);
  return { preset, patch_size: patch, batch_size: batch, architecture: arch, estimate, reference };
}

/**
 * nnU-Net v2's deep-supervision loss weights for a network with `heads` outputs (one per decoder
 * stage): 1/2^i, the coarsest 0, normalised to sum 1.
 */
export function nnunetDeepSupervisionWeights(heads: number): number[] {
  if (heads <= 1) return [1];
  const w = [...Array(heads).keys()].map((i) => 1 / 2 ** i);
  w[heads - 1] = 0;
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
}
