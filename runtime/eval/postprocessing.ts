/**
 * nnU-Net v1's post-processing determination (`postprocessing/connected_components.py`,
 * `determine_postprocessing`, lines 122–388, with its defaults: no size thresholds, dice_threshold 0)
 * and its application (`remove_all_but_the_largest_connected_component`, lines 48–105):
 *
 *  1. all foreground classes as one: keep only the largest connected component of their union; accept
 *     when some class's mean Dice improves and none gets worse;
 *  2. then (more than one class) each class on its own, starting from step 1's result when accepted:
 *     accept a class when its mean Dice improves.
 *
 * Dice per class is 2TP / (2TP + FP + FN), NaN where prediction and reference are both empty, and the
 * mean over cases skips NaN (nnU-Net's aggregate_scores with nanmean). Components are 6-connected
 * (scipy.ndimage.label's default structure).
 */
import { readNifti } from '../data/nifti/index.js';
import type { Triple } from '../data/plan/plans.js';
import { applyPostprocessing, type PostprocessingEntry } from '../infer/lcc.js';

export { applyPostprocessing, type PostprocessingEntry } from '../infer/lcc.js';

export interface PostprocessingJson {
  format: 'mnxc-postprocessing';
  for_which_classes: PostprocessingEntry[];
  /** nnU-Net's size thresholds (its `advanced_postprocessing`); not used: null. */
  min_valid_object_sizes: null;
  dc_per_class_raw: Record<string, number>;
  dc_per_class_pp_all: Record<string, number>;
  dc_per_class_pp_per_class: Record<string, number>;
  num_samples: number;
  folds: string[];
}

type Labels = Uint8Array | Uint16Array | Int16Array | Int32Array | Float32Array;

export interface PostprocessingCase {
  /** Prediction and reference NIfTI files (same grid). */
  pred: string;
  ref: string;
}

function dicePerClass(pred: ArrayLike<number>, ref: ArrayLike<number>, classes: readonly number[]): number[] {
  return classes.map((c) => {
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < pred.length; i++) {
      const p = pred[i] === c, r = ref[i] === c;
      if (p && r) tp++;
      else if (p) fp++;
      else if (r) fn++;
    }
    return tp + fp + fn === 0 ? NaN : (2 * tp) / (2 * tp + fp + fn);
  });
}

function nanMean(values: number[]): number {
  const ok = values.filter((v) => !Number.isNaN(v));
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
}

/** Decides the post-processing from validation predictions (every fold's, pooled), as nnU-Net v1. */
export function determinePostprocessing(cases: readonly PostprocessingCase[], classes: readonly number[], folds: string[] = []): PostprocessingJson {
  const loaded = cases.map((c) => {
    const p = readNifti(c.pred);
    const r = readNifti(c.ref);
    const shape = [...p.shape.slice(0, 3)].reverse() as Triple; // x fastest: C order [z, y, x]
    return { pred: Int32Array.from(p.data as ArrayLike<number>), ref: Int32Array.from(r.data as ArrayLike<number>), shape };
  });
  const meanDice = (preds: Int32Array[]) => classes.map((_, k) => nanMean(preds.map((p, i) => dicePerClass(p, loaded[i]!.ref, classes)[k]!)));
  const raw = meanDice(loaded.map((l) => l.pred));
  const allFg = loaded.map((l) => {
    const x = l.pred.slice();
    applyPostprocessing(x as unknown as Labels, l.shape, [[...classes]]);
    return x;
  });
  const ppAll = meanDice(allFg);
  const out: PostprocessingJson = {
    format: 'mnxc-postprocessing',
    for_which_classes: [],
    min_valid_object_sizes: null,
    dc_per_class_raw: {},
    dc_per_class_pp_all: {},
    dc_per_class_pp_per_class: {},
    num_samples: cases.length,
    folds,
  };
  classes.forEach((c, k) => {
    out.dc_per_class_raw[String(c)] = raw[k]!;
    out.dc_per_class_pp_all[String(c)] = ppAll[k]!;
  });
  // comparisons with NaN are false, as in Python
  let doFg = false;
  if (classes.some((_, k) => ppAll[k]! > raw[k]!) && !classes.some((_, k) => ppAll[k]! < raw[k]!)) {
    out.for_which_classes.push([...classes]);
    doFg = true;
  }
  if (classes.length > 1) {
    const source = doFg ? allFg : loaded.map((l) => l.pred);
    const old = doFg ? ppAll : raw;
    const perClass = source.map((p, i) => {
      const x = p.slice();
      applyPostprocessing(x as unknown as Labels, loaded[i]!.shape, classes);
      return x;
    });
    const pp = meanDice(perClass);
    classes.forEach((c, k) => {
      out.dc_per_class_pp_per_class[String(c)] = pp[k]!;
      if (pp[k]! > old[k]!) out.for_which_classes.push(c);
    });
  }
  return out;
}
