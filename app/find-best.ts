/**
 * nnU-Net v1's `find_best_configuration` on mnxc run folders: each run's cross-validation Dice (its
 * folds' `validation_raw` predictions pooled, against the run's `gt_segmentations`), and every pair
 * of runs ensembled on their validation probabilities (the cases both validated); the configuration
 * or ensemble with the highest mean foreground Dice wins. Writes `inference_instructions.json` and a
 * plain-text `inference_instructions.txt` with the commands to run.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { JobError } from './errors.js';
import { PredictError } from '../runtime/errors.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { ensembleFolders } from '../runtime/infer/ensemble.js';
import { RunFolder } from './run-folder.js';
import { evaluationClasses } from './validate.js';
import type { EvalClass } from '../runtime/eval/classes.js';
import { evaluateCase } from '../runtime/eval/evaluate-case.js';

export interface ConfigurationScore {
  name: string;
  runs: string[];
  /** Mean Dice per class (NaN cases skipped), and their mean. */
  dice: Record<string, number>;
  mean_dice: number;
  cases: number;
}

export interface FindBestResult {
  format: 'mnxc-inference-instructions';
  configurations: ConfigurationScore[];
  best: string;
  best_runs: string[];
}

function nanMean(v: number[]): number {
  const ok = v.filter((x) => !Number.isNaN(x));
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
}

function score(name: string, runs: string[], pairs: { pred: string; ref: string }[], classes: EvalClass[]): ConfigurationScore {
  const results = pairs.map((p) => evaluateCase({ name: basename(p.pred), pred: p.pred, ref: p.ref, classes, tolerance: 1, unitSpacing: false }));
  const dice: Record<string, number> = {};
  for (const c of classes) dice[c.name] = nanMean(results.map((r) => r.metrics[c.name]?.dice ?? NaN));
  return { name, runs, dice, mean_dice: nanMean(Object.values(dice)), cases: pairs.length };
}

/** The validation folders of a run's numbered folds (fold `all` is left out). */
function validationFolders(run: string): string[] {
  const r = RunFolder.open(run);
  return r.folds.filter((f) => f !== 'all').map((f) => join(run, `fold_${f}`, 'validation_raw')).filter((d) => existsSync(join(d, 'summary.json')));
}

function niftiIn(dir: string): string[] {
  return readdirSync(dir).filter((n) => /\.nii(\.gz)?$/.test(n));
}

export function findBestConfiguration(runs: string[], outDir: string): FindBestResult {
  if (runs.length === 0) throw new JobError('find-best-configuration needs at least one run folder');
  const classes = evaluationClasses(RunFolder.open(runs[0]!).plans);
  const configurations: ConfigurationScore[] = [];
  const perRun = runs.map((run) => {
    const folders = validationFolders(run);
    if (folders.length === 0) throw new JobError(`${run}: no validated fold (fold_K/validation_raw/summary.json); train a fold to the end first`);
    const pairs = folders.flatMap((d) => niftiIn(d).map((n) => ({ pred: join(d, n), ref: join(run, 'gt_segmentations', n) }))).filter((p) => existsSync(p.ref));
    return { run, folders, pairs };
  });
  for (const r of perRun) configurations.push(score(basename(r.run), [r.run], r.pairs, classes));
  for (let a = 0; a < perRun.length; a++)
    for (let b = a + 1; b < perRun.length; b++) {
      const name = `ensemble_${basename(perRun[a]!.run)}__${basename(perRun[b]!.run)}`;
      const out = join(outDir, 'ensembles', name);
      // each fold folder of one run against the folders of the other: the cases both validated
      const ids = new Set<string>();
      for (const fa of perRun[a]!.folders)
        for (const fb of perRun[b]!.folders) {
          try {
            for (const id of ensembleFolders([fa, fb], out)) ids.add(id);
          } catch (e) {
            if (!(e instanceof PredictError) || !/no case has saved probabilities/.test(e.message)) throw e;
          }
        }
      const pairs = [...ids].map((id) => ({ pred: join(out, `${id}.nii.gz`), ref: join(perRun[a]!.run, 'gt_segmentations', `${id}.nii.gz`) })).filter((p) => existsSync(p.ref));
      if (pairs.length > 0) configurations.push(score(name, [perRun[a]!.run, perRun[b]!.run], pairs, classes));
    }
  const best = configurations.reduce((x, y) => (y.mean_dice > x.mean_dice || Number.isNaN(x.mean_dice) ? y : x));
  const result: FindBestResult = { format: 'mnxc-inference-instructions', configurations, best: best.name, best_runs: best.runs };
  const folds = (run: string) => RunFolder.open(run).folds.filter((f) => f !== 'all').join(',');
  const lines = [
    `best: ${best.name} (mean Dice ${best.mean_dice.toFixed(4)} over ${best.cases} validation case(s))`,
    ...configurations.map((c) => `  ${c.name}: ${c.mean_dice.toFixed(4)} (${Object.entries(c.dice).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')})`),
    '',
    'to predict:',
    ...(best.runs.length === 1
      ? [`mnxc predict -i INPUT -o OUTPUT -m ${best.runs[0]} --folds ${folds(best.runs[0]!)}`]
      : [
          ...best.runs.map((r, i) => `mnxc predict -i INPUT -o OUTPUT_${i + 1} -m ${r} --folds ${folds(r)} --save-probabilities --postprocess none`),
          `mnxc ensemble ${best.runs.map((_, i) => `OUTPUT_${i + 1}`).join(' ')} -o OUTPUT`,
        ]),
  ];
  writeFileAtomic(join(outDir, 'inference_instructions.json'), JSON.stringify(result, (_, v) => (typeof v === 'number' && Number.isNaN(v) ? null : v), 2) + '\n');
  writeFileAtomic(join(outDir, 'inference_instructions.txt'), lines.join('\n') + '\n');
  return result;
}
