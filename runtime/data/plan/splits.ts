/**
 * Cross-validation folds as nnU-Net makes them (`do_split` in nnU-Net v1's trainer, v2
 * `utilities/crossval_split.py`): case ids sorted, `sklearn.model_selection.KFold(n_splits=5,
 * shuffle=True, random_state=12345)`, each fold's train and val lists in sorted order. KFold's
 * shuffle is numpy's legacy Mersenne Twister, reproduced bit-for-bit in `mt19937.ts`, so the folds equal
 * nnU-Net's for the same case ids. Stored as `splits_final.json`: `[{train: [...], val: [...]}, ...]`.
 * An existing file is used as it is (after a shape check).
 */
import { existsSync, readFileSync } from 'node:fs';
import { PlansError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { MT19937 } from './mt19937.js';

export interface Fold {
  train: string[];
  val: string[];
}

export const SPLITS_FILE = 'splits_final.json';
export const DEFAULT_FOLDS = 5;
export const DEFAULT_SPLIT_SEED = 12345;

/** Python's default string order (code points), which `sorted()` uses. */
function pySorted(ids: readonly string[]): string[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** KFold(shuffle=True, random_state=seed) over the sorted ids. */
export function makeSplits(caseIds: readonly string[], nFolds = DEFAULT_FOLDS, seed = DEFAULT_SPLIT_SEED): Fold[] {
  const ids = pySorted(caseIds);
  const n = ids.length;
  if (nFolds < 2) throw new PlansError(`cross-validation needs at least 2 folds, got ${nFolds}`);
  if (n < nFolds) throw new PlansError(`cannot make ${nFolds} folds from ${n} case(s): need at least ${nFolds}`);
  const order = new MT19937(seed).shuffle(ids.map((_, i) => i));
  const folds: Fold[] = [];
  let at = 0;
  for (let f = 0; f < nFolds; f++) {
    const size = Math.floor(n / nFolds) + (f < n % nFolds ? 1 : 0);
    const inVal = new Set(order.slice(at, at + size));
    at += size;
    folds.push({ train: ids.filter((_, i) => !inVal.has(i)), val: ids.filter((_, i) => inVal.has(i)) });
  }
  return folds;
}

/** Reads and checks a splits file. */
export function readSplits(path: string): Fold[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PlansError(`${path}: cannot read the splits: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new PlansError(`${path}: must be a non-empty list of {train: [...], val: [...]}`);
  parsed.forEach((fold, i) => {
    const f = fold as Partial<Fold>;
    for (const key of ['train', 'val'] as const)
      if (!Array.isArray(f?.[key]) || !f[key]!.every((x) => typeof x === 'string'))
        throw new PlansError(`${path}: [${i}].${key}: must be a list of case ids`);
  });
  return parsed as Fold[];
}

/** The splits in `dir/splits_final.json`: read when present, else made and written. */
export function ensureSplits(dir: string, caseIds: readonly string[], nFolds = DEFAULT_FOLDS, seed = DEFAULT_SPLIT_SEED): { folds: Fold[]; path: string; created: boolean } {
  const path = `${dir}/${SPLITS_FILE}`;
  if (existsSync(path)) return { folds: readSplits(path), path, created: false };
  const folds = makeSplits(caseIds, nFolds, seed);
  writeFileAtomic(path, JSON.stringify(folds, null, 2) + '\n');
  return { folds, path, created: true };
}
