/**
 * Ensembling saved probabilities (nnU-Net v1 `inference/ensemble_predictions.py`, `merge`): for every
 * case present in each input folder (`{case}.probabilities.safetensors.gz`, as `mnxc predict
 * --save-probabilities` and the validation after training write them), the probabilities are
 * averaged, turned into labels (argmax, or the 0.5 thresholds and `regions_class_order` of a
 * region-based run), pasted into the crop box and written with the geometry of the first folder's
 * `{case}.nii.gz`.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PredictError } from '../errors.js';
import { readNifti } from '../data/nifti/index.js';
import type { Triple } from '../data/plan/plans.js';
import { pasteIntoBox, type Box3 } from '../data/preprocess/crop.js';
import { parseSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writeLabelMap } from './export.js';

const SUFFIX = '.probabilities.safetensors.gz';

export interface SavedProbabilities {
  probabilities: Float32Array;
  /** [K, c0, c1, c2] on the cropped original grid (array order). */
  shape: number[];
  cropBox: Box3;
  originalShape: Triple;
  regionsClassOrder?: number[];
}

export function readSavedProbabilities(path: string): SavedProbabilities {
  let parsed: ReturnType<typeof parseSafetensors>;
  try {
    parsed = parseSafetensors(gunzipSync(readFileSync(path)), path);
  } catch (e) {
    throw new PredictError(`${path}: not a gzip-compressed safetensors file of probabilities (${(e as Error).message})`);
  }
  const t = parsed.tensors.get('probabilities');
  if (!t || t.dtype !== 'F32' || t.shape.length !== 4) throw new PredictError(`${path}: has no float32 tensor 'probabilities' [K, z, y, x]`);
  const m = parsed.metadata;
  const json = (key: string) => {
    try {
      return JSON.parse(m[key] ?? 'null') as unknown;
    } catch {
      return null;
    }
  };
  const cropBox = json('crop_box') as Box3 | null, originalShape = json('original_shape') as Triple | null;
  if (!cropBox || !originalShape) throw new PredictError(`${path}: metadata crop_box and original_shape are missing`);
  const order = json('regions_class_order') as number[] | null;
  return { probabilities: t.data as Float32Array, shape: t.shape, cropBox, originalShape, regionsClassOrder: order ?? undefined };
}

/** Case ids with saved probabilities in every folder, sorted. */
export function commonCases(folders: readonly string[]): string[] {
  const sets = folders.map((f) => {
    if (!existsSync(f)) throw new PredictError(`${f}: no such folder`);
    return new Set(readdirSync(f).filter((n) => n.endsWith(SUFFIX)).map((n) => n.slice(0, -SUFFIX.length)));
  });
  return [...sets[0]!].filter((id) => sets.every((s) => s.has(id))).sort();
}

/** Labels on the original grid (C order = NIfTI x fastest) from averaged probabilities. */
export function labelsFromProbabilities(p: SavedProbabilities): Uint8Array {
  const [K, ...cropped] = p.shape as [number, number, number, number];
  const n = cropped[0] * cropped[1] * cropped[2];
  const labels = new Uint8Array(n);
  if (p.regionsClassOrder) {
    for (let k = 0; k < K; k++) for (let i = 0; i < n; i++) if (p.probabilities[k * n + i]! > 0.5) labels[i] = p.regionsClassOrder[k]!;
  } else {
    const best = new Float32Array(n).fill(-Infinity);
    for (let k = 0; k < K; k++)
      for (let i = 0; i < n; i++)
        if (p.probabilities[k * n + i]! > best[i]!) {
          best[i] = p.probabilities[k * n + i]!;
          labels[i] = k;
        }
  }
  return pasteIntoBox(labels, p.originalShape, p.cropBox, (len) => new Uint8Array(len));
}

/** The mean of several saved probability files of one case (same shapes). */
export function averageProbabilities(paths: readonly string[]): SavedProbabilities {
  const first = readSavedProbabilities(paths[0]!);
  const sum = Float32Array.from(first.probabilities);
  for (const path of paths.slice(1)) {
    const p = readSavedProbabilities(path);
    if (p.shape.join() !== first.shape.join()) throw new PredictError(`${path}: probabilities of shape ${p.shape.join('×')}, ${paths[0]} has ${first.shape.join('×')}`);
    for (let i = 0; i < sum.length; i++) sum[i]! += p.probabilities[i]!;
  }
  for (let i = 0; i < sum.length; i++) sum[i]! /= paths.length;
  return { ...first, probabilities: sum };
}

/** Ensembles the folders into `outDir`; returns the case ids written. */
export function ensembleFolders(folders: readonly string[], outDir: string, onCase?: (done: number, total: number, id: string) => void): string[] {
  if (folders.length < 2) throw new PredictError('ensembling needs at least two folders');
  const ids = commonCases(folders);
  if (ids.length === 0) throw new PredictError(`no case has saved probabilities (*${SUFFIX}) in every folder: ${folders.join(', ')}`);
  mkdirSync(outDir, { recursive: true });
  ids.forEach((id, i) => {
    const mean = averageProbabilities(folders.map((f) => join(f, `${id}${SUFFIX}`)));
    const refPath = join(folders[0]!, `${id}.nii.gz`);
    if (!existsSync(refPath)) throw new PredictError(`${refPath}: missing (the label map written beside the probabilities gives the geometry)`);
    const reference = readNifti(refPath);
    writeLabelMap(join(outDir, `${id}.nii.gz`), { labels: labelsFromProbabilities(mean), dtype: 'uint8' }, reference);
    onCase?.(i + 1, ids.length, id);
  });
  writeFileAtomic(join(outDir, 'ensemble.json'), JSON.stringify({ format: 'mnxc-ensemble', folders: [...folders], cases: ids }, null, 2) + '\n');
  return ids;
}
