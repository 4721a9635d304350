import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EvaluationError, MnxError } from '../errors.js';
import { affineDistance, affineFromHeader, readNiftiHeader } from '../data/nifti/index.js';
import type { EvalClass } from './classes.js';
import type { WorkerReply } from './case-worker.js';
import { evaluateCase, type CaseJob, type CaseResult } from './evaluate-case.js';
import { METRIC_NAMES, NAN_METRICS, type MaskMetrics } from './metrics.js';

export interface EvaluateOptions {
  predDir: string;
  refDir: string;
  /** Classes or regions; undefined: every non-zero label present in either volume of any case. */
  classes?: EvalClass[];
  tolerance: number;
  unitSpacing: boolean;
  workers: number;
  /** Called after each case (for progress output). */
  onCase?: (done: number, total: number, name: string) => void;
}

export type MetricValues = Record<(typeof METRIC_NAMES)[number], number>;

export interface EvaluationSummary {
  settings: {
    pred: string;
    ref: string;
    tolerance_mm: number;
    spacing: 'image' | 'unit';
    classes: EvalClass[];
  };
  cases: CaseResult[];
  /** Per class: mean over cases, NaN values skipped. */
  mean: Record<string, MetricValues>;
  /** Per class: how many cases gave NaN (left out of the mean). */
  nan_count: Record<string, MetricValues>;
  /** Mean over classes of the class means (NaN class means skipped). */
  foreground_mean: MetricValues;
  /** References without a prediction (not evaluated). */
  unpaired_references: string[];
}

const NIFTI = /\.nii(\.gz)?$/;

function listNifti(dir: string, what: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new EvaluationError(`${dir}: the ${what} folder is not a folder`);
    names = readdirSync(dir);
  } catch (e) {
    if (e instanceof MnxError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new EvaluationError(`${dir}: cannot read the ${what} folder (${code === 'ENOENT' ? 'no such folder' : code ?? (e as Error).message})`);
  }
  return names.filter((n) => NIFTI.test(n)).sort();
}

/** Pairs predictions with references by file name; every prediction needs its reference. */
export function pairCases(predDir: string, refDir: string): { pairs: { name: string; pred: string; ref: string }[]; unpaired: string[] } {
  const preds = listNifti(predDir, 'prediction');
  const refs = new Set(listNifti(refDir, 'reference'));
  if (preds.length === 0) throw new EvaluationError(`${predDir}: no NIfTI files (.nii, .nii.gz) in the prediction folder`);
  const missing = preds.filter((n) => !refs.has(n));
  if (missing.length > 0) {
    throw new EvaluationError(`${missing.length} prediction(s) have no reference of the same name in ${refDir}: ${missing.join(', ')}`);
  }
  const predSet = new Set(preds);
  return {
    pairs: preds.map((name) => ({ name, pred: join(predDir, name), ref: join(refDir, name) })),
    unpaired: [...refs].filter((n) => !predSet.has(n)),
  };
}

/**
 * Checks every pair's headers before any voxel is read: same shape and affines within 1e-4.
 * All problems are reported together.
 */
export function checkGeometry(pairs: { name: string; pred: string; ref: string }[]): void {
  const problems: string[] = [];
  for (const p of pairs) {
    try {
      const hp = readNiftiHeader(p.pred);
      const hr = readNiftiHeader(p.ref);
      const sp = hp.shape, sr = hr.shape;
      if (sp.length !== sr.length || sp.some((v, i) => v !== sr[i])) {
        problems.push(`${p.name}: prediction shape ${sp.join('×')} differs from reference shape ${sr.join('×')}`);
        continue;
      }
      const d = affineDistance(affineFromHeader(hp.header, sp), affineFromHeader(hr.header, sr));
      if (!(d <= 1e-4)) problems.push(`${p.name}: prediction and reference affines differ (largest difference ${d.toPrecision(3)} > 1e-4)`);
    } catch (e) {
      if (e instanceof MnxError) problems.push(e.message);
      else throw e;
    }
  }
  if (problems.length > 0) {
    throw new EvaluationError(`${problems.length} case(s) cannot be evaluated:\n  ${problems.join('\n  ')}`);
  }
}

/** Runs the jobs on `workers` worker threads (each loads the TypeScript sources through tsx). */
async function runInWorkers(jobs: CaseJob[], workers: number, onDone: (r: CaseResult) => void): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array(jobs.length);
  const bootstrap = [
    "const { workerData } = require('node:worker_threads');",
    'import(workerData.tsx).then((m) => { m.register(); return import(workerData.entry); });',
  ].join('\n');
  const workerData = { tsx: import.meta.resolve('tsx/esm/api'), entry: new URL('./case-worker.ts', import.meta.url).href };
  const pool = Array.from({ length: Math.min(workers, jobs.length) }, () => new Worker(bootstrap, { eval: true, workerData }));
  let next = 0;
  try {
    await Promise.all(
      pool.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const give = () => {
              if (next >= jobs.length) return resolve();
              const at = next++;
              worker.once('message', (reply: WorkerReply) => {
                if (!reply.ok) return reject(reply.user ? new EvaluationError(reply.message) : new Error(reply.message));
                results[at] = reply.result;
                onDone(reply.result);
                give();
              });
              worker.postMessage(jobs[at]);
            };
            worker.once('error', reject);
            give();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}

function meanSkippingNaN(values: number[]): [number, number] {
  let sum = 0, n = 0, nan = 0;
  for (const v of values) {
    if (Number.isNaN(v)) nan++;
    else {
      sum += v;
      n++;
    }
  }
  return [n === 0 ? NaN : sum / n, nan];
}

export async function evaluateFolders(opts: EvaluateOptions): Promise<EvaluationSummary> {
  const { pairs, unpaired } = pairCases(opts.predDir, opts.refDir);
  checkGeometry(pairs);
  const jobs: CaseJob[] = pairs.map((p) => ({ ...p, classes: opts.classes, tolerance: opts.tolerance, unitSpacing: opts.unitSpacing }));
  let done = 0;
  const onDone = (r: CaseResult) => opts.onCase?.(++done, jobs.length, r.case);
  let results: CaseResult[];
  if (opts.workers > 1 && jobs.length > 1) {
    results = await runInWorkers(jobs, opts.workers, onDone);
  } else {
    results = [];
    for (const job of jobs) {
      const r = evaluateCase(job);
      results.push(r);
      onDone(r);
    }
  }
  // Without explicit classes: every label seen in any case; a label absent from both volumes of
  // a case is NaN for every metric there.
  const classes =
    opts.classes ??
    [...new Set(results.flatMap((r) => Object.keys(r.metrics).map(Number)))].sort((a, b) => a - b).map((l) => ({ name: String(l), labels: [l] }));
  for (const r of results) {
    const filled: Record<string, MaskMetrics> = {};
    for (const c of classes) filled[c.name] = r.metrics[c.name] ?? { ...NAN_METRICS };
    r.metrics = filled;
  }
  const mean: Record<string, MetricValues> = {};
  const nanCount: Record<string, MetricValues> = {};
  for (const c of classes) {
    mean[c.name] = {} as MetricValues;
    nanCount[c.name] = {} as MetricValues;
    for (const m of METRIC_NAMES) {
      const [avg, nan] = meanSkippingNaN(results.map((r) => r.metrics[c.name]![m]));
      mean[c.name]![m] = avg;
      nanCount[c.name]![m] = nan;
    }
  }
  const foreground = {} as MetricValues;
  for (const m of METRIC_NAMES) foreground[m] = meanSkippingNaN(classes.map((c) => mean[c.name]![m]))[0];
  return {
    settings: { pred: opts.predDir, ref: opts.refDir, tolerance_mm: opts.tolerance, spacing: opts.unitSpacing ? 'unit' : 'image', classes },
    cases: results,
    mean,
    nan_count: nanCount,
    foreground_mean: foreground,
    unpaired_references: unpaired,
  };
}
