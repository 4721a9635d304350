/**
 * No file access here (export.ts writes; the browser page builds its download from labelMapImage).
 *
 * From probabilities on the preprocessed grid back to a label map on the input image's grid
 * (nnU-Net v1 `save_segmentation_nifti_from_softmax`): resample each class's probabilities to the
 * cropped original shape (linear; nearest along the coarse axis when preprocessing resampled it
 * separately), argmax, optional largest-component cleanup, paste into the crop box of an all-background
 * volume, and store as uint8 (uint16 past 256 classes). One class is resampled at a time, so the
 * extra memory is one cropped volume per class only when probabilities are kept.
 */
import { createImage } from '../data/nifti/encode.js';
import type { NiftiImage } from '../data/nifti/types.js';
import type { Triple } from '../data/plan/plans.js';
import { pasteIntoBox } from '../data/preprocess/crop.js';
import type { CaseProperties } from '../data/preprocess/store.js';
import { resampleImage } from '../data/resample/resample.js';
import { keepLargestComponentPerClass } from './lcc.js';

export interface ExportedCase {
  /** Labels on the original grid, x fastest (NIfTI order). */
  labels: Uint8Array | Uint16Array;
  dtype: 'uint8' | 'uint16';
  /** Probabilities [K, c0, c1, c2] on the cropped original grid (array order), when kept. */
  probabilities?: Float32Array;
  /** Voxels removed by the largest-component step, per class. */
  removed?: Record<number, number>;
}

function product(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

export function exportProbabilities(
  probabilities: Float32Array,
  classes: number,
  props: CaseProperties,
  opts: { keepProbabilities?: boolean; largestComponent?: boolean; regionClassOrder?: readonly number[] } = {},
): ExportedCase {
  const pre = props.shape_after_resampling;
  const cropped = props.shape_after_cropping;
  const m = product(pre);
  const n = product(cropped);
  if (probabilities.length !== classes * m) throw new Error(`exportProbabilities: ${probabilities.length} values, expected ${classes}×${pre.join('×')}`);
  const axis = props.separate_axis ?? undefined;
  const order = opts.regionClassOrder;
  if (order && order.length !== classes) throw new Error(`exportProbabilities: ${order.length} region label values for ${classes} regions`);
  const dtype = (order ? Math.max(...order) + 1 : classes) > 256 ? 'uint16' : 'uint8';
  const make = (len: number) => (dtype === 'uint8' ? new Uint8Array(len) : new Uint16Array(len));
  const best = new Float32Array(n).fill(-Infinity);
  const labels = make(n);
  const kept = opts.keepProbabilities ? new Float32Array(classes * n) : undefined;
  for (let k = 0; k < classes; k++) {
    const r = resampleImage(probabilities.subarray(k * m, (k + 1) * m), pre, cropped, axis, 1);
    if (order) {
      // regions (nnU-Net v1 save_segmentation_nifti_from_softmax with region_class_order): each
      // region's voxels above 0.5 get its label value, later regions overwriting earlier ones
      const v = order[k]!;
      for (let i = 0; i < n; i++) if (r[i]! > 0.5) labels[i] = v;
    } else {
      // Strictly greater: ties go to the lower class, as numpy's argmax.
      for (let i = 0; i < n; i++)
        if (r[i]! > best[i]!) {
          best[i] = r[i]!;
          labels[i] = k;
        }
    }
    kept?.set(r, k * n);
  }
  let removed: Record<number, number> | undefined;
  if (opts.largestComponent)
    removed = keepLargestComponentPerClass(labels, cropped, order ? [...new Set(order)].sort((a, b) => a - b) : Array.from({ length: classes - 1 }, (_, k) => k + 1));
  const full = pasteIntoBox(labels, props.original.shape, props.crop_box, make);
  return { labels: full, dtype, probabilities: kept, removed };
}

/** The label map as an image on the reference image's grid: its affine, qform/sform codes and voxel sizes. */
export function labelMapImage(exported: ExportedCase, reference: NiftiImage): NiftiImage {
  const shape = reference.shape.slice(0, 3);
  return createImage({ shape, data: exported.labels, affine: reference.affine, dtype: exported.dtype }, reference);
}
