import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { MnxError } from '../../errors.js';
import { affineDistance, readNifti, type NiftiImage } from '../nifti/index.js';
import { GEOMETRY_TOLERANCE } from '../preprocess/load-case.js';
import { scanDataset, type Dataset, type DatasetCase, type DatasetProblem } from './load.js';

/**
 * `mnxc dataset check`: every problem of a dataset at once, per file — the structural ones from
 * `scanDataset`, then, reading every image and label: unreadable files, channel/label shape or
 * geometry (affine beyond `GEOMETRY_TOLERANCE`) mismatches, undeclared label values, NaN/Inf
 * voxels, non-positive voxel sizes, 2-D images in a 3-D dataset.
 */

/** Largest affine entry difference (mm) between a case's channels and its label (shared with preprocessing). */
export { GEOMETRY_TOLERANCE };

export interface DatasetReport {
  dir: string;
  format: Dataset['format'];
  trainingCases: number;
  testCases: number;
  problems: DatasetProblem[];
}

/** What a file contributes to the cross-file checks once its voxels are no longer needed. */
interface FileSummary {
  rel: string;
  shape: number[];
  affine: number[][];
}

function fmtShape(s: number[]): string {
  return s.join('×');
}

function listValues(values: number[], max = 10): string {
  const shown = values.slice(0, max).join(', ');
  return values.length > max ? `${shown}, … (${values.length} in all)` : shown;
}

/** Distinct values of a label volume (counting table for 8/16-bit types, a Set otherwise). */
function distinctValues(img: NiftiImage): { values: number[]; nonInteger: number; nonFinite: number } {
  const d = img.data;
  if (d instanceof Uint8Array || d instanceof Uint16Array) {
    const seen = new Uint8Array(d instanceof Uint8Array ? 256 : 65536);
    for (let i = 0; i < d.length; i++) seen[d[i]!] = 1;
    const values: number[] = [];
    seen.forEach((s, v) => s && values.push(v));
    return { values, nonInteger: 0, nonFinite: 0 };
  }
  const set = new Set<number>();
  let nonInteger = 0, nonFinite = 0;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (!Number.isFinite(v)) nonFinite++;
    else if (!Number.isInteger(v)) nonInteger++;
    else set.add(v);
  }
  return { values: [...set].sort((a, b) => a - b), nonInteger, nonFinite };
}

function countNonFinite(img: NiftiImage): number {
  const d = img.data;
  if (!(d instanceof Float32Array || d instanceof Float64Array)) return 0;
  let n = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) n++;
  return n;
}

export function checkDataset(dir: string): DatasetReport {
  const { dataset, problems } = scanDataset(dir);
  const declared = new Set(dataset.labelValues);
  const summaries: { file: FileSummary; caseId: string }[] = [];
  const add = (file: string, caseId: string | undefined, problem: string) => problems.push({ file, case: caseId, problem });

  const readChecked = (path: string, caseId: string, role: 'image' | 'label'): { img: NiftiImage; rel: string } | null => {
    const rel = relative(dir, path);
    if (!existsSync(path)) return null; // reported by scanDataset
    let img: NiftiImage;
    try {
      img = readNifti(path);
    } catch (e) {
      if (!(e instanceof MnxError)) throw e;
      add(rel, caseId, `unreadable: ${e.message.startsWith(path) ? e.message.slice(path.length + 2) : e.message}`);
      return null;
    }
    const spatial = img.spacing.slice(0, 3);
    if (spatial.some((s) => !(s > 0) || !Number.isFinite(s))) add(rel, caseId, `non-positive or invalid voxel size ${spatial.map((v) => Number(v.toPrecision(6))).join(' × ')} (pixdim)`);
    const nonFinite = role === 'image' ? countNonFinite(img) : 0;
    if (nonFinite > 0) add(rel, caseId, `${nonFinite} NaN/Inf voxel(s)`);
    summaries.push({ file: { rel, shape: img.shape, affine: img.affine }, caseId });
    return { img, rel };
  };

  const checkCase = (c: DatasetCase, withLabel: boolean) => {
    const refs: FileSummary[] = [];
    c.images.forEach((path, channel) => {
      const r = readChecked(path, c.id, 'image');
      if (!r) return;
      const { img, rel } = r;
      if (dataset.channelsInOneFile) {
        const nc = img.shape.length >= 4 ? img.shape.slice(3).reduce((a, b) => a * b, 1) : 1;
        if (nc !== dataset.channels.length) add(rel, c.id, `has ${nc} channel(s) on its 4th axis, dataset.json declares ${dataset.channels.length}`);
      } else if (img.shape.length > 3 && img.shape.slice(3).some((n) => n > 1)) {
        add(rel, c.id, `is ${img.shape.length}-D (${fmtShape(img.shape)}); each channel file (channel ${channel}) must be 3-D`);
      }
      refs.push({ rel, shape: img.shape.slice(0, 3), affine: img.affine });
    });
    if (withLabel && c.label) {
      const r = readChecked(c.label, c.id, 'label');
      if (r) {
        const { img, rel } = r;
        if (img.shape.length > 3 && img.shape.slice(3).some((n) => n > 1)) add(rel, c.id, `label is ${img.shape.length}-D (${fmtShape(img.shape)}); labels must be 3-D`);
        const { values, nonInteger, nonFinite } = distinctValues(img);
        if (nonFinite > 0) add(rel, c.id, `${nonFinite} NaN/Inf voxel(s) in the label`);
        if (nonInteger > 0) add(rel, c.id, `${nonInteger} label voxel(s) are not whole numbers`);
        const undeclared = values.filter((v) => !declared.has(v));
        if (undeclared.length > 0) {
          add(rel, c.id, `label value(s) ${listValues(undeclared)} not declared in dataset.json labels (declared: ${listValues(dataset.labelValues)})`);
        }
        refs.push({ rel, shape: img.shape.slice(0, 3), affine: img.affine });
      }
    }
    // Every file of the case against the first readable one (channel 0 when it is there).
    const [first, ...others] = refs;
    for (const o of others) {
      if (!first) break;
      if (fmtShape(o.shape) !== fmtShape(first.shape)) {
        add(o.rel, c.id, `shape ${fmtShape(o.shape)} differs from ${first.rel} (${fmtShape(first.shape)})`);
      } else {
        const d = affineDistance(o.affine, first.affine);
        if (d > GEOMETRY_TOLERANCE) add(o.rel, c.id, `geometry (affine) differs from ${first.rel} by up to ${d.toPrecision(3)} mm (tolerance ${GEOMETRY_TOLERANCE})`);
      }
    }
  };

  for (const c of dataset.training) checkCase(c, true);
  for (const c of dataset.test) checkCase(c, false);

  // 2-D images in a 3-D dataset: a file with fewer than 3 axes or a single slice, when others have depth.
  const isVolume = (s: number[]) => s.length >= 3 && s[2]! > 1;
  if (summaries.some((s) => isVolume(s.file.shape))) {
    for (const { file, caseId } of summaries) {
      if (!isVolume(file.shape)) add(file.rel, caseId, `is 2-D (${fmtShape(file.shape)}) in a 3-D dataset`);
    }
  }
  // Stable report: by file, then in the order found.
  const sorted = problems.map((p, i) => ({ p, i })).sort((a, b) => (a.p.file < b.p.file ? -1 : a.p.file > b.p.file ? 1 : a.i - b.i)).map((x) => x.p);
  return { dir, format: dataset.format, trainingCases: dataset.training.length, testCases: dataset.test.length, problems: sorted };
}
