import { EvaluationError } from '../errors.js';
import { readNifti, type NiftiImage } from '../data/nifti/index.js';
import type { EvalClass } from './classes.js';
import type { Shape3 } from './edt.js';
import { maskMetrics, maskOf, type MaskMetrics } from './metrics.js';

/** One prediction/reference pair to evaluate. */
export interface CaseJob {
  /** File name shared by the prediction and the reference. */
  name: string;
  pred: string;
  ref: string;
  /** Classes to evaluate; undefined: every non-zero label present in either volume. */
  classes?: EvalClass[];
  tolerance: number;
  /** Use spacing 1, 1, 1 (the MedNeXt paper's protocol) instead of the reference's voxel size. */
  unitSpacing: boolean;
}

export interface CaseResult {
  case: string;
  /** Per class name (a label's integer value as a string, or a region name). */
  metrics: Record<string, MaskMetrics>;
}

/**
 * A NIfTI volume is stored x fastest, which is C order for the axes (z, y, x): evaluate it as a
 * C-order array of shape [Z, Y, X] with spacing [sz, sy, sx]. The metrics do not depend on the
 * axis order as long as shape and spacing are permuted together.
 */
function asCOrder(image: NiftiImage, file: string): { shape: Shape3; spacing: number[] } {
  const s = image.shape;
  if (!(s.length === 3 || (s.length === 4 && s[3] === 1))) {
    throw new EvaluationError(`${file}: a label map must be 3-D, this image has shape ${s.join('×')}`);
  }
  return { shape: [s[2]!, s[1]!, s[0]!], spacing: [image.spacing[2]!, image.spacing[1]!, image.spacing[0]!] };
}

/** The distinct non-zero values of a label map; a non-integer value is an error. */
export function presentLabels(data: ArrayLike<number>, file: string): Set<number> {
  const found = new Set<number>();
  let previous = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v === previous) continue;
    previous = v;
    if (v === 0 || found.has(v)) continue;
    if (!Number.isInteger(v) || v < 0) throw new EvaluationError(`${file}: voxel ${i} has the value ${v}, which is not a label (labels are non-negative integers)`);
    found.add(v);
  }
  return found;
}

export function evaluateCase(job: CaseJob): CaseResult {
  const pred = readNifti(job.pred);
  const ref = readNifti(job.ref);
  const { shape, spacing } = asCOrder(ref, job.ref);
  asCOrder(pred, job.pred);
  const voxels = shape[0] * shape[1] * shape[2];
  if (pred.data.length !== voxels) throw new EvaluationError(`${job.pred}: shape ${pred.shape.join('×')} differs from the reference ${ref.shape.join('×')}`);
  const usedSpacing = job.unitSpacing ? [1, 1, 1] : spacing;
  let classes = job.classes;
  if (!classes) {
    const labels = new Set([...presentLabels(pred.data, job.pred), ...presentLabels(ref.data, job.ref)]);
    classes = [...labels].sort((a, b) => a - b).map((l) => ({ name: String(l), labels: [l] }));
  }
  const metrics: Record<string, MaskMetrics> = {};
  for (const c of classes) {
    metrics[c.name] = maskMetrics(maskOf(pred.data, c.labels), maskOf(ref.data, c.labels), shape, usedSpacing, job.tolerance);
  }
  return { case: job.name, metrics };
}
