/**
 * Writing a prediction: the label map (NIfTI on the input's grid) and the probabilities. What is
 * written is computed in labels.ts (no file access there; the browser page uses it too).
 */
import { gzipSync } from 'node:zlib';
import { writeFileAtomic } from '../io/atomic.js';
import { serializeSafetensors, type TensorMap } from '../io/safetensors.js';
import { writeNifti, type NiftiImage } from '../data/nifti/index.js';
import type { Triple } from '../data/plan/plans.js';
import type { CaseProperties } from '../data/preprocess/index.js';
import { labelMapImage, type ExportedCase } from './labels.js';

export { exportProbabilities, labelMapImage, type ExportedCase } from './labels.js';

function product(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/** Writes the label map with the reference image's affine, qform/sform codes and voxel sizes. */
export function writeLabelMap(path: string, exported: ExportedCase, reference: NiftiImage): void {
  writeNifti(path, labelMapImage(exported, reference), { like: reference, dtype: exported.dtype });
}

/**
 * Probabilities as gzip-compressed safetensors: tensor `probabilities` float32 [K, c0, c1, c2] on the
 * cropped original grid (array order z, y, x; x fastest as in the NIfTI file), with metadata giving the
 * crop box, the original shape (array order) and the class names, so it can be pasted back.
 */
export function writeProbabilities(path: string, exported: ExportedCase, props: CaseProperties, labels: Record<string, string>, regionsClassOrder?: readonly number[]): void {
  if (!exported.probabilities) throw new Error('writeProbabilities: probabilities were not kept');
  const K = exported.probabilities.length / product(props.shape_after_cropping);
  const tensors: TensorMap = new Map([['probabilities', { dtype: 'F32', shape: [K, ...props.shape_after_cropping], data: exported.probabilities }]]);
  const metadata = {
    format: 'mnxc-probabilities',
    layout: 'K,z,y,x (array order of the NIfTI file: x fastest)',
    crop_box: JSON.stringify(props.crop_box),
    original_shape: JSON.stringify(props.original.shape satisfies Triple),
    labels: JSON.stringify(labels),
    // region-based runs: the label value of each channel above 0.5 (later channels overwrite)
    ...(regionsClassOrder ? { regions_class_order: JSON.stringify(regionsClassOrder) } : {}),
  };
  writeFileAtomic(path, gzipSync(serializeSafetensors(tensors, metadata), { level: 6 }));
}
