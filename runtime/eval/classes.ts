import { readFileSync } from 'node:fs';
import { EvaluationError } from '../errors.js';

/**
 * What gets evaluated: classes (one label each, named by its integer value) or regions (a named
 * set of labels, evaluated as their union), as in nnU-Net's region-based evaluation.
 */
export interface EvalClass {
  name: string;
  labels: number[];
}

/** BraTS as nnU-Net relabels it (1 edema, 2 non-enhancing tumour, 3 enhancing tumour). */
export const BRATS_REGIONS: readonly EvalClass[] = [
  { name: 'WT', labels: [1, 2, 3] },
  { name: 'TC', labels: [2, 3] },
  { name: 'ET', labels: [3] },
];

/** KiTS19 (1 kidney, 2 tumour): kidney including tumour, and tumour. */
export const KITS_REGIONS: readonly EvalClass[] = [
  { name: 'kidney_and_tumor', labels: [1, 2] },
  { name: 'tumor', labels: [2] },
];

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new EvaluationError(`${path}: cannot read the ${what} (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new EvaluationError(`${path}: the ${what} is not valid JSON (${(e as Error).message})`);
  }
}

const isLabel = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** `--regions brats|kits|FILE`, FILE being a JSON object `{name: [labels]}`. */
export function regionsFromOption(value: string): EvalClass[] {
  if (value === 'brats') return BRATS_REGIONS.map((r) => ({ ...r, labels: [...r.labels] }));
  if (value === 'kits') return KITS_REGIONS.map((r) => ({ ...r, labels: [...r.labels] }));
  const json = readJson(value, 'regions file');
  if (typeof json !== 'object' || json === null || Array.isArray(json) || Object.keys(json).length === 0) {
    throw new EvaluationError(`${value}: the regions file must be a non-empty JSON object {"name": [label, …]}`);
  }
  return Object.entries(json).map(([name, labels]) => {
    const list = Array.isArray(labels) ? labels : [labels];
    if (list.length === 0 || !list.every(isLabel)) {
      throw new EvaluationError(`${value}: region "${name}" must be a non-empty list of non-negative integer labels`);
    }
    return { name, labels: [...new Set(list as number[])] };
  });
}

/**
 * The foreground classes of a dataset.json: nnU-Net v2 `labels {"name": int | [ints]}` (a list
 * is a region, evaluated under its name) or MSD/v1 `labels {"int": "name"}`. Background (0) is
 * left out.
 */
export function classesFromDatasetJson(path: string): EvalClass[] {
  const json = readJson(path, 'dataset.json') as { labels?: unknown };
  const labels = json?.labels;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw new EvaluationError(`${path}: labels is missing or not an object`);
  }
  const entries = Object.entries(labels);
  const msdStyle = entries.every(([k, v]) => /^(0|[1-9][0-9]*)$/.test(k) && typeof v === 'string');
  const classes: EvalClass[] = [];
  for (const [key, value] of entries) {
    if (msdStyle) {
      const label = Number(key);
      if (label !== 0) classes.push({ name: String(label), labels: [label] });
    } else if (isLabel(value)) {
      if (value !== 0) classes.push({ name: String(value), labels: [value] });
    } else if (Array.isArray(value) && value.length > 0 && value.every(isLabel)) {
      classes.push({ name: key, labels: [...new Set(value as number[])] });
    } else {
      throw new EvaluationError(`${path}: labels.${key} must be a non-negative integer or a list of them`);
    }
  }
  if (classes.length === 0) throw new EvaluationError(`${path}: labels has no foreground label`);
  return classes;
}
