import { dirname, resolve } from 'node:path';
import { cpus } from 'node:os';
import { ensureWritableDir } from '../../runtime/io/atomic.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { UsageError } from '../errors.js';
import { classesFromDatasetJson, regionsFromOption, type EvalClass } from '../../runtime/eval/classes.js';
import { evaluateFolders } from '../../runtime/eval/evaluate-folder.js';
import { writeSummary } from '../../runtime/eval/report.js';
import { METRIC_NAMES } from '../../runtime/eval/metrics.js';

const HELP = `Usage: mnxc evaluate --pred DIR --ref DIR -o summary.json [options]

Compares predicted label maps with reference label maps (NIfTI files paired by file name)
and writes per-case and mean metrics as JSON, with a CSV of the same numbers beside it
(summary.json -> summary.csv).

Metrics, per case and per class (or region):
  dice       2TP / (2TP + FP + FN); NaN when both are empty
  nsd        normalised surface Dice at --tolerance mm (surfel areas, DeepMind's
             surface-distance definition); NaN when both are empty, 0 when one is
  hd95       95th-percentile Hausdorff distance (mm, area-weighted, larger direction)
  asd        average symmetric surface distance (mm): the mean of the two directed
             area-weighted mean distances, reference->prediction and prediction->reference
  nsd_voxel  MedNeXt's voxel-count surface Dice (surface_dice.py), for comparison only
hd95, asd and nsd_voxel are NaN when either mask is empty. NaN is written as null in
the JSON and as NaN in the CSV; means skip NaN and nan_count says how many were skipped.

Options:
  --pred DIR          predicted label maps (.nii.gz / .nii)
  --ref DIR           reference label maps; every prediction needs one of the same name
  -o, --output FILE   summary JSON to write
  --labels FILE       dataset.json: evaluate its labels (background excluded; a v2
                      label given as a list is evaluated as a region under its name).
                      Default: every non-zero label present in any case
  --regions SET       brats (WT 1,2,3 / TC 2,3 / ET 3), kits (kidney_and_tumor 1,2 /
                      tumor 2), or a JSON file {"name": [labels], ...}
  --tolerance MM      surface Dice tolerance in mm (default 1.0)
  --unit-spacing      use spacing 1,1,1 instead of the images' voxel size (the MedNeXt
                      paper's protocol: its "1 mm" tolerance was one voxel)
  --workers N         cases evaluated in parallel (default 1)
  -q, --quiet         no progress lines
`;

function positiveNumber(value: string, flag: string): number {
  const v = Number(value);
  if (!Number.isFinite(v) || v < 0 || value.trim() === '') throw new UsageError(`${flag} must be a non-negative number, got '${value}'`);
  return v;
}

function fmt(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v.toFixed(4);
}

/** The options of an evaluation, shared by `mnxc evaluate` and `mnxc queue submit evaluate`. */
export const EVALUATE_OPTIONS = {
  pred: { type: 'string' },
  ref: { type: 'string' },
  output: { type: 'string', short: 'o' },
  labels: { type: 'string' },
  regions: { type: 'string' },
  tolerance: { type: 'string' },
  'unit-spacing': { type: 'boolean' },
  workers: { type: 'string' },
} as const;

/** EVALUATE_OPTIONS' values checked (UsageError naming the option; the labels file or regions read); the summary's folder must take files. */
export function evaluateArgs(
  values: { pred?: string; ref?: string; output?: string; labels?: string; regions?: string; tolerance?: string; 'unit-spacing'?: boolean; workers?: string },
  positionals: string[],
): { pred: string; ref: string; output: string; classes: EvalClass[] | undefined; tolerance: number; unitSpacing: boolean; workers: number } {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (!values.pred) throw new UsageError('--pred DIR is required');
  if (!values.ref) throw new UsageError('--ref DIR is required');
  if (!values.output) throw new UsageError('-o summary.json is required');
  ensureWritableDir(dirname(resolve(values.output)), 'folder of the summary');
  if (values.labels && values.regions) throw new UsageError('give --labels or --regions, not both');
  const tolerance = values.tolerance === undefined ? 1.0 : positiveNumber(values.tolerance, '--tolerance');
  let workers = 1;
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers must be a positive integer, got '${values.workers}'`);
    workers = Math.min(workers, Math.max(1, cpus().length * 2));
  }
  let classes: EvalClass[] | undefined;
  if (values.labels) classes = classesFromDatasetJson(values.labels);
  if (values.regions) classes = regionsFromOption(values.regions);
  return { pred: values.pred, ref: values.ref, output: values.output, classes, tolerance, unitSpacing: values['unit-spacing'] ?? false, workers };
}

export const command: Command = {
  name: 'evaluate',
  summary: 'Dice, surface Dice, HD95 and ASD of predicted label maps against references',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { ...EVALUATE_OPTIONS, quiet: { type: 'boolean', short: 'q' } }, false);
    const { pred, ref, output, classes, tolerance, unitSpacing, workers } = evaluateArgs(values, positionals);

    const log = (s: string) => {
      if (!values.quiet) process.stderr.write(s + '\n');
    };
    const summary = await evaluateFolders({
      predDir: pred,
      refDir: ref,
      classes,
      tolerance,
      unitSpacing,
      workers,
      onCase: (done, total, name) => log(`[${done}/${total}] ${name}`),
    });
    const csvPath = writeSummary(output, summary);
    if (summary.unpaired_references.length > 0) {
      log(`note: ${summary.unpaired_references.length} reference(s) have no prediction and were not evaluated`);
    }
    const width = Math.max(5, ...Object.keys(summary.mean).map((k) => k.length));
    const lines = [`${'class'.padEnd(width)}  ${METRIC_NAMES.map((m) => m.padStart(9)).join(' ')}   (mean over ${summary.cases.length} cases; NaN skipped)`];
    for (const [name, m] of Object.entries(summary.mean)) {
      lines.push(`${name.padEnd(width)}  ${METRIC_NAMES.map((k) => fmt(m[k]).padStart(9)).join(' ')}`);
    }
    process.stdout.write(lines.join('\n') + `\nwrote ${output} and ${csvPath}\n`);
    return 0;
  },
};
