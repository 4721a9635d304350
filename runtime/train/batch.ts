/**
 * Builds one training or validation batch, deterministically from (seed, kind, epoch, index):
 * nnU-Net v1's `DataLoader3D` sampling (cases with replacement, foreground oversampling), patch
 * reads by byte ranges from the preprocessed store, augmentation (training only) and the
 * deep-supervision targets. Runs in worker threads (loader.ts) or in the calling thread.
 */
import type { Plans } from '../data/plan/plans.js';
import { readCaseHeader, readPatch, type CaseHeader } from '../data/preprocess/store.js';
import { augmentIntensities, drawSpatial, DUMMY_2D_MAX_DEGREES, OUTSIDE_LABEL, resamplePatch, type Sample } from './augment.js';
import { batchRng, STREAM, type Rng } from './rng.js';
import { resizeNearest, voxels, type Shape3 } from './volume.js';

export type BatchKind = 'train' | 'val';

export interface BatchRequest {
  kind: BatchKind;
  epoch: number;
  index: number;
}

export interface Batch extends BatchRequest {
  /** Images, channels-last [B, p0, p1, p2, C]. */
  input: Float32Array;
  inputShape: [number, number, number, number, number];
  /**
   * Labels per output head (full resolution first), [B, h0, h1, h2]. Voxels labelled −1 in the store
   * (outside the non-zero mask, padding) are background here, as nnU-Net trains them; −1 marks only
   * the dataset's explicit `ignore_label`, which the loss and the pseudo Dice leave out.
   */
  targets: Int8Array[];
  targetShapes: Shape3[];
  /** Case ids sampled, in batch order. */
  cases: string[];
}

export interface BatchConfig {
  dir: string;
  train: string[];
  val: string[];
  training: Pick<Plans['training'], 'batch_size' | 'patch_size' | 'oversample_foreground'>;
  augmentation: Plans['augmentation'];
  /**
   * Per channel: whether it was normalised inside the non-zero mask (nnU-Net's
   * `use_mask_for_norm`); those channels are set to 0 outside the mask after augmentation.
   */
  useMaskForNorm?: boolean[];
  /** The dataset's ignore label (nnU-Net v2 `labels.ignore`), if any. */
  ignoreLabel?: number;
  /** Spatial size of each output head, full resolution first. */
  headShapes: Shape3[];
  seed: number;
}

/**
 * nnU-Net v1's `get_patch_size` (`training/data_augmentation/default_data_augmentation.py`, lines
 * 111–131): the patch a loader must read so that rotating and zooming out (to 0.85, the minimum of
 * the default scale range it is called with) still fills the final patch. As there, the patch's
 * corner vector (not its bounding box) is rotated about each axis by the maximum angle (at most 90°),
 * each rotation on its own, the absolute components kept where larger; the result is truncated. A
 * 2-D patch (the in-plane axes of dummy-2D augmentation) uses the 2-D rotation by the first angle.
 */
export function enlargedPatchSize<S extends number[]>(patch: S, maxDegrees: readonly number[], minScale = 0.85): S {
  const rad = (axis: number) => Math.min(Math.PI / 2, (Math.abs(maxDegrees[axis]!) * Math.PI) / 180);
  const out = patch.map(Number);
  const keep = (v: number[]) => v.forEach((x, i) => (out[i] = Math.max(out[i]!, Math.abs(x))));
  if (patch.length === 3) {
    const [x, y, z] = patch as unknown as [number, number, number];
    // row vector times batchgenerators' rotation matrix about x, y, z in turn
    let c = Math.cos(rad(0)), s = Math.sin(rad(0));
    keep([x, c * y + s * z, -s * y + c * z]);
    c = Math.cos(rad(1)); s = Math.sin(rad(1));
    keep([c * x - s * z, y, s * x + c * z]);
    c = Math.cos(rad(2)); s = Math.sin(rad(2));
    keep([c * x + s * y, -s * x + c * y, z]);
  } else if (patch.length === 2) {
    const [x, y] = patch as unknown as [number, number];
    const c = Math.cos(rad(0)), s = Math.sin(rad(0));
    keep([c * x + s * y, -s * x + c * y]);
  } else {
    throw new Error(`get_patch_size: a patch of ${patch.length} axes`);
  }
  return out.map((d) => Math.trunc(d / minScale)) as S;
}

/**
 * The training loader's read box (nnU-Net v1's `basic_generator_patch_size`, `setup_DA_params` in
 * `nnUNetTrainerV2.py`, lines 371–382): `get_patch_size` of the patch, or under dummy-2D
 * augmentation the patch's axis 0 as it is and `get_patch_size` of the in-plane axes with ±180°.
 */
export function readBoxSize(patch: Shape3, aug: BatchConfig['augmentation']): Shape3 {
  if (!aug.dummy_2d) return enlargedPatchSize(patch, aug.rotation.max_degrees);
  const inPlane = enlargedPatchSize([patch[1], patch[2]], [DUMMY_2D_MAX_DEGREES]);
  return [patch[0], inPlane[0]!, inPlane[1]!];
}

/**
 * The range of lower corners nnU-Net v1's `DataLoader3D.generate_train_batch` draws a `box`-sized read
 * from (`dataset_loading.py`, lines 297–312): the case is padded by `need_to_pad` = box − final patch
 * (the enlargement for rotation and zoom), or by what the case lacks if that is more, split over both
 * sides; Python's `-need // 2` rounds the lower side away from zero, so either end reaches ⌈need/2⌉
 * past the border. The final patch (the centre of the box) then reaches every voxel of the axis.
 */
export function boxStartRange(shape: Shape3, box: Shape3, finalPatch: Shape3): { lb: Shape3; ub: Shape3 } {
  const lb = [0, 0, 0] as Shape3, ub = [0, 0, 0] as Shape3;
  for (let a = 0; a < 3; a++) {
    let need = Math.max(0, box[a]! - finalPatch[a]!);
    if (need + shape[a]! < box[a]!) need = box[a]! - shape[a]!;
    const half = Math.ceil(need / 2);
    lb[a] = -half;
    ub[a] = shape[a]! + half - box[a]!;
  }
  return { lb, ub };
}

/** Offset of the final patch inside the read box when no spatial transform applies (batchgenerators' center crop). */
export function centreCropOffset(box: Shape3, finalPatch: Shape3): Shape3 {
  return [0, 1, 2].map((a) => Math.floor((box[a]! - finalPatch[a]!) / 2)) as Shape3;
}

/**
 * The lower corner of a `box`-sized read for a final patch of `finalPatch` (default: the box itself):
 * nnU-Net v1's rule (`dataset_loading.py`, lines 314–363). Uniform over `boxStartRange`; a
 * forced-foreground sample centres the box on a stored voxel of a uniformly chosen present class and
 * clamps only at the lower bound (line 357), so the voxel always lies inside the final patch, also
 * near the upper border (the read then reaches past it and is padded).
 */
export function chooseBoxStart(rng: Rng, header: CaseHeader, box: Shape3, forceForeground: boolean, finalPatch: Shape3 = box): Shape3 {
  const shape = header.data.shape.slice(1) as Shape3;
  const { lb, ub } = boxStartRange(shape, box, finalPatch);
  const locations = header.properties.class_locations;
  const present = Object.keys(locations).filter((k) => Number(k) > 0 && (locations[k]?.length ?? 0) > 0).sort((a, b) => Number(a) - Number(b));
  if (forceForeground && present.length > 0) {
    const cls = present[rng.int(present.length)]!;
    const locs = locations[cls]!;
    const v = rng.int(locs.length / 3);
    return [0, 1, 2].map((a) => Math.max(lb[a]!, locs[3 * v + a]! - Math.floor(box[a]! / 2))) as Shape3;
  }
  return [0, 1, 2].map((a) => rng.intInclusive(lb[a]!, ub[a]!)) as Shape3;
}

/**
 * nnU-Net v1's `MaskTransform(use_mask_for_norm, mask_idx_in_seg=0, set_outside_to=0)`
 * (`training/data_augmentation/custom_transforms.py`, lines 46–56; appended to the training
 * transforms in `data_augmentation_moreDA.py`, line 116): channels normalised inside the non-zero
 * mask are set to 0 wherever the (augmented) labels are negative.
 */
export function maskOutside(s: Sample, useMask: readonly boolean[]): void {
  const n = voxels(s.shape);
  for (let c = 0; c < s.channels; c++) {
    if (!useMask[c]) continue;
    const x = s.data.subarray(c * n, (c + 1) * n);
    for (let i = 0; i < n; i++) if (s.seg[i]! < 0) x[i] = 0;
  }
}

/** The target value the loss and the pseudo Dice skip. */
export const IGNORED = -1;

/**
 * `RemoveLabelTransform(-1, 0)` (`data_augmentation_moreDA.py`, lines 118 and 171, training and
 * validation): the store's −1 (outside the mask, padding) becomes background. Then, as a separate
 * feature in nnU-Net v2's style, the dataset's ignore label becomes −1, the value the loss skips.
 */
export function finishLabels(seg: Int8Array, ignoreLabel?: number): void {
  for (let i = 0; i < seg.length; i++) {
    const v = seg[i]!;
    if (v === OUTSIDE_LABEL) seg[i] = 0;
    else if (v === ignoreLabel) seg[i] = IGNORED;
  }
}

export class BatchMaker {
  private readonly headers = new Map<string, CaseHeader>();

  constructor(readonly config: BatchConfig) {
    for (const id of new Set([...config.train, ...config.val])) this.headers.set(id, readCaseHeader(config.dir, id));
    for (const [id, h] of this.headers) {
      if (!h.seg) throw new Error(`${config.dir}: case ${id} has no labels; it cannot be used for training`);
    }
  }

  channels(): number {
    return this.headers.values().next().value!.data.shape[0];
  }

  make(req: BatchRequest): Batch {
    const { training, augmentation, headShapes } = this.config;
    const ids = req.kind === 'train' ? this.config.train : this.config.val;
    if (ids.length === 0) throw new Error(`no ${req.kind} cases`);
    const rng = batchRng(this.config.seed, req.kind === 'train' ? STREAM.train : STREAM.val, req.epoch, req.index);
    const B = training.batch_size;
    const patch = training.patch_size as Shape3;
    const C = this.channels();
    const nP = voxels(patch);
    const input = new Float32Array(B * nP * C);
    const targets = headShapes.map((s) => new Int8Array(B * voxels(s)));
    const cases: string[] = [];
    const augment = req.kind === 'train';
    const spatialAug = augment && (augmentation.rotation.p > 0 || augmentation.scaling.p > 0);
    const box = spatialAug ? readBoxSize(patch, augmentation) : patch;
    for (let j = 0; j < B; j++) {
      const id = ids[rng.int(ids.length)]!;
      cases.push(id);
      const header = this.headers.get(id)!;
      const force = j >= Math.round(B * (1 - training.oversample_foreground));
      const start = chooseBoxStart(rng, header, box, force, patch);
      const m = augment ? drawSpatial(rng, augmentation) : null;
      let sample: Sample;
      if (m) {
        // batchgenerators' augment_spatial without random crop: the coordinates are centred on the
        // read box's centre, shape/2 − 0.5 (spatial_transformations.py, line 271), and
        // interpolated within the whole loaded box (zeros beyond it)
        const centre = box.map((d) => d / 2 - 0.5);
        const loaded = [0, 1, 2].map((a) => [start[a]!, start[a]! + box[a]!]) as [[number, number], [number, number], [number, number]];
        const read = readPatch(this.config.dir, header, loaded, { data: 0, seg: OUTSIDE_LABEL });
        sample = resamplePatch({ data: read.data, seg: read.seg!, shape: read.shape, channels: C }, m, centre, patch, augmentation.dummy_2d);
      } else {
        const off = centreCropOffset(box, patch);
        const lo = [0, 1, 2].map((a) => start[a]! + off[a]!);
        const read = readPatch(this.config.dir, header, [[lo[0]!, lo[0]! + patch[0]], [lo[1]!, lo[1]! + patch[1]], [lo[2]!, lo[2]! + patch[2]]], { data: 0, seg: OUTSIDE_LABEL });
        sample = { data: read.data, seg: read.seg!, shape: [...patch], channels: C };
      }
      if (augment) {
        augmentIntensities(sample, rng, augmentation);
        if (this.config.useMaskForNorm) maskOutside(sample, this.config.useMaskForNorm);
      }
      finishLabels(sample.seg, this.config.ignoreLabel);
      // channels-first patch → channels-last batch slot
      for (let c = 0; c < C; c++) {
        const src = c * nP;
        for (let v = 0; v < nP; v++) input[(j * nP + v) * C + c] = sample.data[src + v]!;
      }
      headShapes.forEach((s, h) => {
        const t = s.every((d, a) => d === patch[a]) ? sample.seg : resizeNearest(sample.seg, patch, s);
        targets[h]!.set(t, j * voxels(s));
      });
    }
    return { ...req, input, inputShape: [B, patch[0], patch[1], patch[2], C], targets, targetShapes: headShapes, cases };
  }
}
