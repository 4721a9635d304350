/**
 * Planning: fingerprint → plans (nnU-Net v1 `ExperimentPlanner3D_v21`, with MedNeXt's
 * `customTargetSpacing_1x1x1` choices as defaults: 1 mm isotropic, patch 128³, the batch size of
 * nnU-Net v1's rule for the planner's own patch).
 */
import type { NormalizationScheme } from '../preprocess/normalize.js';
import { roundHalfEven } from '../resample/resample.js';
import { PlansError } from '../../errors.js';
import { plannedBatchSize2d, plannedBatchSize3d } from './batch-size.js';
import { median, type Fingerprint } from './fingerprint.js';
import { defaultPlans, type ChannelPlan, type Plans, type Triple } from './plans.js';

export const MEDNEXT_TARGET_SPACING: Triple = [1, 1, 1];
export const MEDNEXT_PATCH: Triple = [128, 128, 128];
/** MedNeXt's 2-D planner's patch (`ExperimentPlanner2D_v21_customTargetSpacing_1x1x1`: 512²), as one slice. */
export const MEDNEXT_PATCH_2D: Triple = [1, 512, 512];
/** nnU-Net's HOW_MUCH_OF_A_PATIENT_MUST_THE_NETWORK_SEE_AT_STAGE0. */
const STAGE0_COVERAGE = 4;

/** numpy `percentile(values, q)` (linear). */
function percentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/**
 * nnU-Net v21's default target spacing: the median spacing, except that an axis whose spacing is more
 * than 3× every other axis's and whose median size is less than a third of the others' takes the 10th
 * percentile of its spacings (never finer than the other axes' spacing + 1e-5).
 */
export function medianTargetSpacing(spacings: Triple[], sizes: Triple[], threshold = 3): Triple {
  const target = [0, 1, 2].map((a) => median(spacings.map((s) => s[a]!))) as Triple;
  const size = [0, 1, 2].map((a) => median(sizes.map((s) => s[a]!)));
  let worst = 0;
  for (let a = 1; a < 3; a++) if (target[a]! > target[worst]!) worst = a;
  const others = [0, 1, 2].filter((a) => a !== worst);
  const otherSpacing = Math.max(...others.map((a) => target[a]!));
  const anisoSpacing = target[worst]! > threshold * otherSpacing;
  const anisoVoxels = size[worst]! * threshold < Math.min(...others.map((a) => size[a]!));
  if (anisoSpacing && anisoVoxels) {
    let t = percentile(spacings.map((s) => s[worst]!), 10);
    if (t < otherSpacing) t = Math.max(otherSpacing, t) + 1e-5;
    target[worst] = t;
  }
  return target;
}

/** Each case's cropped shape at the target spacing (unrounded), per-axis median, as nnU-Net's planner. */
export function medianResampledShape(fp: Fingerprint, target: Triple): Triple {
  return [0, 1, 2].map((a) => median(fp.cases.map((c) => (c.spacing[a]! / target[a]!) * c.shape_after_cropping[a]!))) as Triple;
}

/**
 * Whether nnU-Net v1 would have made a 3d_lowres stage for this dataset with this patch — which is what
 * switches `batch_dice` on for 3d_fullres (`default_configuration.py`). Simulates the planner's loop:
 * coarsen the spacing by 1 % per step (only the axes more than 2× finer than the coarsest, if any) until
 * the median case is at most 4 patches; keep the stage if it halves the voxel count.
 */
export function hasLowResStage(medianShape: Triple, target: Triple, patch: Triple): boolean {
  const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const arch = prod(patch);
  if (prod(medianShape) / arch < STAGE0_COVERAGE) return false;
  const spacing = [...target];
  let voxels = prod(medianShape);
  let lowresMedian: number[] | undefined;
  while (voxels > STAGE0_COVERAGE * arch) {
    const max = Math.max(...spacing);
    const coarse = spacing.map((s) => max / s > 2);
    if (coarse.some(Boolean)) spacing.forEach((s, a) => coarse[a] && (spacing[a] = s * 1.01));
    else spacing.forEach((s, a) => (spacing[a] = s * 1.01));
    voxels = prod(target.map((t, a) => (t / spacing[a]!) * medianShape[a]!));
    lowresMedian = target.map((t, a) => roundHalfEven((t / spacing[a]!) * medianShape[a]!));
  }
  if (!lowresMedian) return false;
  return 2 * prod(lowresMedian) < prod(medianShape.map(roundHalfEven));
}

/** nnU-Net's normalisation per modality name (v2's lower-cased mapping; v1 matched "CT" the same way). */
export function schemeFor(modality: string): NormalizationScheme {
  const m = modality.toLowerCase();
  if (m === 'ct') return 'CT';
  if (m === 'nonorm') return 'noNorm';
  return 'zscore';
}

export interface PlanOptions {
  /** A fixed spacing (array order) or nnU-Net's median rule; default MedNeXt's 1 mm. */
  targetSpacing?: Triple | 'median';
  patch?: Triple;
  batchSize?: number;
  model?: Partial<Plans['model']>;
  /** The dataset's ignore label (nnU-Net v2 `labels.ignore`), kept out of the classes. */
  ignoreLabel?: number;
  /** nnU-Net's 2-D configuration (one-slice patches, default 1×512×512 as MedNeXt's 2-D planner) or 3-D (default). */
  configuration?: '3d' | '2d';
  /** Region-based training (dataset.json regions and regions_class_order). */
  regions?: { regions: { name: string; labels: number[] }[]; classOrder: number[] };
}

export function planFromFingerprint(fp: Fingerprint, opts: PlanOptions = {}): Plans {
  const rule = opts.targetSpacing === 'median' ? 'median' : 'fixed';
  const target: Triple =
    opts.targetSpacing === 'median'
      ? medianTargetSpacing(fp.cases.map((c) => c.spacing), fp.cases.map((c) => c.shape_after_cropping))
      : opts.targetSpacing ?? MEDNEXT_TARGET_SPACING;
  const twoD = opts.configuration === '2d';
  const patch = opts.patch ?? (twoD ? MEDNEXT_PATCH_2D : MEDNEXT_PATCH);
  if (twoD && patch[0] !== 1) throw new PlansError(`a 2-D configuration trains on one-slice patches: --patch 1,H,W (got ${patch.join(',')})`);
  const medianShape = medianResampledShape(fp, target);
  const useMask = fp.median_size_reduction < 3 / 4;
  const normalization: ChannelPlan[] = fp.channels.map((name, channel) => {
    const scheme = schemeFor(name);
    if (scheme !== 'CT') return { channel, name, scheme, use_nonzero_mask: scheme === 'zscore' && useMask };
    const s = fp.foreground_intensity[channel];
    if (!s) throw new Error(`channel ${channel} (${name}): no foreground voxels in any case, so CT normalisation has no statistics`);
    return { channel, name, scheme, use_nonzero_mask: false, mean: s.mean, std: s.std, lower: s.percentile_00_5, upper: s.percentile_99_5 };
  });
  const plans = defaultPlans({
    dataset: { name: fp.dataset, channels: fp.channels, labels: fp.labels, num_training: fp.cases.length },
    target_spacing: target,
    target_spacing_rule: rule,
    normalization,
    median_shape: medianShape.map((v) => Math.max(1, roundHalfEven(v))) as Triple,
    patch_size: patch,
    batch_dice: hasLowResStage(medianShape, target, patch),
    model: opts.model,
  });
  if (opts.ignoreLabel !== undefined) {
    delete plans.dataset.labels[String(opts.ignoreLabel)];
    plans.dataset.ignore_label = opts.ignoreLabel;
  }
  if (opts.regions) {
    plans.dataset.regions = opts.regions.regions.map((r) => ({ name: r.name, labels: [...r.labels] }));
    plans.dataset.regions_class_order = [...opts.regions.classOrder];
    // nnUNetTrainerV2BraTSRegions: DC_and_BCE_loss({}, {batch_dice: False, do_bg: True, smooth: 0})
    Object.assign(plans.training.loss, { name: 'dice_bce', batch_dice: false, do_background: true, smooth: 0 });
  }
  // nnU-Net v1's batch size for the planner's own patch; MedNeXt then overrides the patch only
  const batchInput = { spacing: target, medianShape, numCases: fp.cases.length, modalities: fp.channels.length, classes: Object.keys(plans.dataset.labels).length };
  plans.training.batch_size = opts.batchSize ?? (twoD ? plannedBatchSize2d(batchInput) : plannedBatchSize3d(batchInput)).batchSize;
  plans.augmentation.dummy_2d = Math.max(...patch) / patch[0] > 3;
  if (twoD) {
    // nnU-Net's 2d configuration: batch Dice (default_configuration.py), 2-D transforms in plane
    // (the in-plane path of dummy-2D augmentation), mirroring and test-time mirroring in plane
    plans.training.configuration = '2d';
    plans.training.loss.batch_dice = true;
    plans.augmentation.dummy_2d = true;
    plans.augmentation.mirror.axes = [1, 2];
    plans.inference.mirror_axes = [1, 2];
  }
  return plans;
}
