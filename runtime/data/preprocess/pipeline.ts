/**
 * Preprocessing one case the nnU-Net v1 way (`GenericPreprocessor`): crop to the non-zero box →
 * resample to the target spacing → normalise → sample foreground locations. And the inverse for
 * predictions (`undoPreprocessing`): resample back to the cropped grid, paste into the original grid.
 */
import { resampleImage, resampleLabels, resampledShape, separateAxis } from '../resample/resample.js';
import { labelValues } from '../resample/resize.js';
import { MT19937 } from '../plan/mt19937.js';
import type { Plans } from '../plan/plans.js';
import { normalizeChannel } from './normalize.js';
import { boundingBox, boxShape, cropToBox, nonzeroMask, pasteIntoBox, type Box3 } from './crop.js';
import type { LoadedCase } from './case.js';
import type { CaseProperties, Triple } from './store.js';

export interface CroppedCase {
  channels: Float32Array[];
  /** Labels with −1 where the label is 0 outside the non-zero mask; without a label file, 0 / −1 only. */
  seg: Int16Array;
  box: Box3;
  shape: Triple;
}

/** nnU-Net `crop_to_nonzero`. */
export function cropCase(c: LoadedCase, cropToNonzero = true): CroppedCase {
  const mask = nonzeroMask(c.channels, c.shape);
  const box: Box3 = cropToNonzero ? boundingBox(mask, c.shape) : [[0, c.shape[0]], [0, c.shape[1]], [0, c.shape[2]]];
  const shape = boxShape(box);
  const channels = c.channels.map((ch) => cropToBox(ch, c.shape, box, (n) => new Float32Array(n)));
  const seg = c.label ? cropToBox(c.label, c.shape, box, (n) => new Int16Array(n)) : new Int16Array(shape[0] * shape[1] * shape[2]);
  const m = cropToBox(mask, c.shape, box, (n) => new Uint8Array(n));
  for (let i = 0; i < seg.length; i++) if (seg[i] === 0 && m[i] === 0) seg[i] = -1;
  return { channels, seg, box, shape };
}

/**
 * nnU-Net's class_locations: per foreground class, `max(min(max_per_class, n), ceil(n · min_fraction))`
 * voxels drawn without replacement — `RandomState(seed).choice(n, k, replace=False)`, i.e. the first k of
 * a permutation, with one generator per case and the classes in ascending order, as nnU-Net v1.
 */
export function sampleClassLocations(seg: ArrayLike<number>, shape: Triple, classes: number[], opts: Plans['preprocessing']['class_locations']): Record<string, number[]> {
  const rng = new MT19937(opts.seed);
  const out: Record<string, number[]> = {};
  const s0 = shape[1] * shape[2];
  for (const c of classes) {
    const where: number[] = [];
    for (let i = 0; i < seg.length; i++) if (seg[i] === c) where.push(i);
    if (where.length === 0) {
      out[String(c)] = [];
      continue;
    }
    const k = Math.max(Math.min(opts.max_per_class, where.length), Math.ceil(where.length * opts.min_fraction));
    const order = rng.shuffle(where.map((_, j) => j)).slice(0, k);
    const flat: number[] = [];
    for (const j of order) {
      const i = where[j]!;
      const a = Math.floor(i / s0);
      const r = i - a * s0;
      const b = Math.floor(r / shape[2]);
      flat.push(a, b, r - b * shape[2]);
    }
    out[String(c)] = flat;
  }
  return out;
}

export interface PreprocessedCase {
  data: Float32Array;
  seg: Int8Array | null;
  properties: CaseProperties;
}

function product(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/** The whole forward pipeline on a loaded case. */
export function preprocessLoadedCase(c: LoadedCase, plans: Plans, source: CaseProperties['source']): PreprocessedCase {
  const pp = plans.preprocessing;
  const cropped = cropCase(c, pp.crop_to_nonzero);
  const target = pp.target_spacing;
  const newShape = resampledShape(cropped.shape, c.spacing, target);
  const axis = separateAxis(c.spacing, target, pp.anisotropy_threshold);
  const seg = resampleLabels(cropped.seg, cropped.shape, newShape, axis, pp.resampling.label.order);
  for (let i = 0; i < seg.length; i++) if (seg[i]! < -1) seg[i] = 0;
  const n = product(newShape);
  const data = new Float32Array(cropped.channels.length * n);
  cropped.channels.forEach((ch, k) => {
    const r = resampleImage(ch, cropped.shape, newShape, axis, pp.resampling.image.order);
    const norm = pp.normalization[k]!;
    normalizeChannel(r, norm, seg);
    data.set(r, k * n);
  });
  const fg = Object.keys(plans.dataset.labels).map(Number).filter((v) => v > 0).sort((a, b) => a - b);
  const present = c.label ? labelValues(c.label) : [];
  const properties: CaseProperties = {
    id: c.id,
    source,
    original: { shape: c.shape, spacing: c.spacing, affine: c.affine, header: c.reference.header as unknown as Record<string, unknown> },
    crop_box: cropped.box,
    shape_after_cropping: cropped.shape,
    size_reduction: product(cropped.shape) / product(c.shape),
    spacing_after_resampling: [...target] as Triple,
    shape_after_resampling: newShape,
    separate_axis: axis ?? null,
    classes: present,
    class_locations: c.label ? sampleClassLocations(seg, newShape, fg, pp.class_locations) : {},
  };
  return { data, seg: c.label ? Int8Array.from(seg) : null, properties };
}

export interface UndoneCase {
  /** Labels on the original grid, x fastest (NIfTI order), uint8. */
  labels: Uint8Array;
  /** Class probabilities on the original grid [K, Z, Y, X] when asked for (outside the crop: background 1). */
  probabilities?: Float32Array;
  /** NIfTI shape [X, Y, Z]. */
  shape: Triple;
  affine: number[][];
}

/**
 * Back onto the original grid. Input is either probabilities [K, d0, d1, d2] (float, K classes) in the
 * preprocessed grid — resampled linearly (the coarse axis nearest, as nnU-Net's export) then argmax —
 * or a label volume [d0, d1, d2] — resampled as labels. The result is pasted into the crop box of a
 * zero volume of the original shape.
 */
export function undoPreprocessing(
  input: { probabilities: Float32Array; classes: number } | { labels: ArrayLike<number> },
  props: CaseProperties,
  opts: { keepProbabilities?: boolean } = {},
): UndoneCase {
  const pre = props.shape_after_resampling;
  const cropped = props.shape_after_cropping;
  // the same axis the forward pass resampled separately (nnU-Net's export makes the same decision again)
  const axis = props.separate_axis ?? undefined;
  const n = product(cropped);
  const m = product(pre);
  const orig = props.original.shape;
  let labelsCropped: Uint8Array;
  let probabilities: Float32Array | undefined;
  if ('probabilities' in input) {
    const K = input.classes;
    if (input.probabilities.length !== K * m) throw new Error(`undoPreprocessing: probabilities have ${input.probabilities.length} values, expected ${K}×${pre.join('×')}`);
    const best = new Float64Array(n).fill(-Infinity);
    labelsCropped = new Uint8Array(n);
    if (opts.keepProbabilities) probabilities = new Float32Array(K * product(orig));
    for (let k = 0; k < K; k++) {
      const r = resampleImage(input.probabilities.subarray(k * m, (k + 1) * m), pre, cropped, axis, 1);
      for (let i = 0; i < n; i++)
        if (r[i]! > best[i]!) {
          best[i] = r[i]!;
          labelsCropped[i] = k;
        }
      if (probabilities) probabilities.set(pasteIntoBox(r, orig, props.crop_box, (s) => new Float32Array(s), k === 0 ? 1 : 0), k * product(orig));
    }
  } else {
    if (input.labels.length !== m) throw new Error(`undoPreprocessing: labels have ${input.labels.length} values, expected ${pre.join('×')}`);
    const r = resampleLabels(input.labels, pre, cropped, axis, 1);
    labelsCropped = new Uint8Array(n);
    for (let i = 0; i < n; i++) labelsCropped[i] = r[i]! > 0 ? r[i]! : 0;
  }
  const labels = pasteIntoBox(labelsCropped, orig, props.crop_box, (s) => new Uint8Array(s));
  return { labels, probabilities, shape: [orig[2], orig[1], orig[0]], affine: props.original.affine };
}
