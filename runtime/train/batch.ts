/**
 * Builds one training or validation batch, deterministically from (seed, kind, epoch, index):
 * nnU-Net v1's `DataLoader3D` sampling (cases with replacement, foreground oversampling), patch
 * reads by byte ranges from the preprocessed store, augmentation (training only) and the
 * deep-supervision targets. Runs in worker threads (loader.ts) or in the calling thread.
 */
import type { Plans } from '../data/plan/plans.js';
import { readCaseHeader, readPatch, type CaseHeader } from '../data/preprocess/store.js';
import { augmentIntensities, drawSpatial, IGNORE_LABEL, resamplePatch, sourceBox, type Sample } from './augment.js';
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
  /** Labels per output head (full resolution first), [B, h0, h1, h2], −1 = ignore. */
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
  /** Spatial size of each output head, full resolution first. */
  headShapes: Shape3[];
  seed: number;
}

/**
 * batchgenerators' `get_patch_size`: the patch a loader must read so that rotating by up to the
 * maximum angles and zooming out to 0.85 (nnU-Net's fixed value for this) still fills the final
 * patch.
 */
export function enlargedPatchSize(patch: Shape3, maxDegrees: readonly number[]): Shape3 {
  const out = [...patch];
  for (let axis = 0; axis < 3; axis++) {
    const ang = Math.min(Math.PI / 2, (maxDegrees[axis]! * Math.PI) / 180);
    const [u, v] = [0, 1, 2].filter((a) => a !== axis) as [number, number];
    const c = Math.cos(ang), s = Math.sin(ang);
    // rotations go both ways, so each axis needs the extent of the rotated patch for either sign
    const ru = Math.abs(c * patch[u]) + Math.abs(s * patch[v]), rv = Math.abs(s * patch[u]) + Math.abs(c * patch[v]);
    out[u] = Math.max(out[u]!, ru);
    out[v] = Math.max(out[v]!, rv);
  }
  return out.map((d) => Math.floor(d / 0.85)) as Shape3;
}

/**
 * The lower corner of a `box`-sized region in a volume of `shape`: nnU-Net v1's rule. The region may
 * reach past the border by half the padding needed; a forced-foreground sample centres it on a
 * stored voxel of a uniformly chosen present class (clamped), otherwise it is uniform.
 */
export function chooseBoxStart(rng: Rng, header: CaseHeader, box: Shape3, forceForeground: boolean): Shape3 {
  const shape = header.data.shape.slice(1) as Shape3;
  const lb: number[] = [], ub: number[] = [];
  for (let a = 0; a < 3; a++) {
    const need = Math.max(0, box[a]! - shape[a]!);
    lb.push(-Math.floor(need / 2));
    ub.push(shape[a]! + Math.floor(need / 2) + (need % 2) - box[a]!);
  }
  const locations = header.properties.class_locations;
  const present = Object.keys(locations).filter((k) => Number(k) > 0 && (locations[k]?.length ?? 0) > 0).sort((a, b) => Number(a) - Number(b));
  if (forceForeground && present.length > 0) {
    const cls = present[rng.int(present.length)]!;
    const locs = locations[cls]!;
    const v = rng.int(locs.length / 3);
    return [0, 1, 2].map((a) => Math.min(ub[a]!, Math.max(lb[a]!, locs[3 * v + a]! - Math.floor(box[a]! / 2)))) as Shape3;
  }
  return [0, 1, 2].map((a) => rng.intInclusive(lb[a]!, ub[a]!)) as Shape3;
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
    const box = spatialAug ? enlargedPatchSize(patch, augmentation.rotation.max_degrees) : patch;
    for (let j = 0; j < B; j++) {
      const id = ids[rng.int(ids.length)]!;
      cases.push(id);
      const header = this.headers.get(id)!;
      const force = j >= Math.round(B * (1 - training.oversample_foreground));
      const start = chooseBoxStart(rng, header, box, force);
      // the final patch is the centre of the (possibly enlarged) box
      const centre = [0, 1, 2].map((a) => start[a]! + Math.floor((box[a]! - patch[a]!) / 2) + (patch[a]! - 1) / 2);
      const m = augment ? drawSpatial(rng, augmentation) : null;
      let sample: Sample;
      if (m) {
        const src = sourceBox(m, centre, patch);
        const read = readPatch(this.config.dir, header, src, { data: 0, seg: IGNORE_LABEL });
        sample = resamplePatch({ data: read.data, seg: read.seg!, shape: read.shape, channels: C }, src, m, centre, patch);
      } else {
        const lo = centre.map((c, a) => Math.round(c - (patch[a]! - 1) / 2));
        const read = readPatch(this.config.dir, header, [[lo[0]!, lo[0]! + patch[0]], [lo[1]!, lo[1]! + patch[1]], [lo[2]!, lo[2]! + patch[2]]], { data: 0, seg: IGNORE_LABEL });
        sample = { data: read.data, seg: read.seg!, shape: [...patch], channels: C };
      }
      if (augment) augmentIntensities(sample, rng, augmentation);
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
