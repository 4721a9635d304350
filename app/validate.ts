/**
 * What nnU-Net v1 does after a fold's training (`nnUNetTrainer.validate`, then
 * `determine_postprocessing`): the fold's validation cases are predicted in full from their source
 * images (sliding window with mirroring, the fold's final checkpoint), written as NIfTI to
 * `fold_K/validation_raw/`, and evaluated against their reference labels (copied to the run's
 * `gt_segmentations/`) into `validation_raw/summary.json` — the format of `mnxc evaluate`. Then the
 * post-processing is determined across every fold validated so far (fold `all` left out: its
 * validation cases are its training cases) and written to the run's `postprocessing.json`, which
 * `mnxc predict` applies by default.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import type { Plans } from '../runtime/data/plan/plans.js';
import { readCaseHeader } from '../runtime/data/preprocess/store.js';
import type { EvalClass } from '../runtime/eval/classes.js';
import { evaluateFolders, type EvaluationSummary } from '../runtime/eval/evaluate-folder.js';
import { determinePostprocessing, type PostprocessingJson } from '../runtime/eval/postprocessing.js';
import { writeSummary } from '../runtime/eval/report.js';
import { POSTPROCESSING_FILE, predictCases } from '../runtime/infer/predict.js';
import { RunFolder } from './run-folder.js';

/** Classes evaluated: the plans' regions, or every foreground label named by its value. */
export function evaluationClasses(plans: Plans): EvalClass[] {
  if (plans.dataset.regions) return plans.dataset.regions.map((r) => ({ name: r.name, labels: [...r.labels] }));
  return Object.keys(plans.dataset.labels)
    .map(Number)
    .filter((v) => v > 0)
    .sort((a, b) => a - b)
    .map((v) => ({ name: String(v), labels: [v] }));
}

/** Label values a prediction is written with (the post-processing's classes). */
export function predictedLabelValues(plans: Plans): number[] {
  if (plans.dataset.regions_class_order) return [...new Set(plans.dataset.regions_class_order)].sort((a, b) => a - b);
  return Object.keys(plans.dataset.labels).map(Number).filter((v) => v > 0).sort((a, b) => a - b);
}

export interface ValidateOptions {
  runDir: string;
  fold: string;
  preprocessedDir: string;
  valIds: string[];
  tta?: boolean;
  log?: (line: string) => void;
  /** After each sliding window (a queue worker renews its job's lock from it). */
  onWindow?: () => void;
}

export interface ValidateResult {
  summaryPath: string;
  summary: EvaluationSummary;
  postprocessing: PostprocessingJson | null;
}

export async function validateFold(opts: ValidateOptions): Promise<ValidateResult> {
  const run = RunFolder.open(opts.runDir);
  const outDir = join(opts.runDir, `fold_${opts.fold}`, 'validation_raw');
  const gtDir = join(opts.runDir, 'gt_segmentations');
  mkdirSync(outDir, { recursive: true });
  mkdirSync(gtDir, { recursive: true });
  const cases = opts.valIds.map((id) => {
    const src = readCaseHeader(opts.preprocessedDir, id).properties.source;
    if (!src.label) throw new Error(`${opts.preprocessedDir}: case ${id} has no label file to validate against`);
    const gt = join(gtDir, `${id}.nii.gz`);
    if (!existsSync(gt)) copyFileSync(src.label, gt);
    return { id, images: src.images };
  });
  let done = 0;
  await predictCases({
    run,
    cases,
    outDir,
    folds: [opts.fold],
    checkpoint: 'final',
    tta: opts.tta ?? true,
    // kept for ensembling in find-best-configuration (nnU-Net's validation --npz)
    saveProbabilities: true,
    postprocess: 'none',
    onWindow: opts.onWindow && (() => opts.onWindow!()),
    onCase: (r) => opts.log?.(`validation [${++done}/${cases.length}] ${r.id} (${r.seconds.toFixed(1)} s)`),
  });
  const summary = await evaluateFolders({ predDir: outDir, refDir: gtDir, classes: evaluationClasses(run.plans), tolerance: 1, unitSpacing: false, workers: 0 });
  const summaryPath = join(outDir, 'summary.json');
  writeSummary(summaryPath, summary);
  const postprocessing = opts.fold === 'all' ? null : determineRunPostprocessing(opts.runDir);
  return { summaryPath, summary, postprocessing };
}

/** Post-processing from every numbered fold's `validation_raw` predictions, written to the run folder. */
export function determineRunPostprocessing(runDir: string): PostprocessingJson | null {
  const run = RunFolder.open(runDir);
  const folds = run.folds.filter((f) => f !== 'all' && existsSync(join(runDir, `fold_${f}`, 'validation_raw', 'summary.json')));
  const pairs = folds.flatMap((f) => {
    const dir = join(runDir, `fold_${f}`, 'validation_raw');
    return readdirSync(dir)
      .filter((n) => /\.nii(\.gz)?$/.test(n))
      .map((n) => ({ pred: join(dir, n), ref: join(runDir, 'gt_segmentations', n) }))
      .filter((p) => existsSync(p.ref));
  });
  if (pairs.length === 0) return null;
  const pp = determinePostprocessing(pairs, predictedLabelValues(run.plans), folds);
  writeFileAtomic(join(runDir, POSTPROCESSING_FILE), JSON.stringify(pp, null, 2) + '\n');
  return pp;
}
