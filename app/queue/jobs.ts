/**
 * The jobs of a queue batch and what a worker does with each: the same library calls the
 * single-machine commands make (runtime/infer's predictCases, runtime/data/preprocess's processOne,
 * app/train's prepareTraining/runTraining and app/validate's validateFold, runtime/eval's
 * evaluateFolders), one case (predict, preprocess), one fold (train) or one evaluation (evaluate) per job.
 * Job data holds absolute paths only: machines share the files through a shared file system.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RunFolder } from '../run-folder.js';
import { validateFold } from '../validate.js';
import { ModelCache, predictCases, type CheckpointName } from '../../runtime/infer/index.js';
import { evaluateFolders } from '../../runtime/eval/evaluate-folder.js';
import { writeSummary } from '../../runtime/eval/report.js';
import type { EvalClass } from '../../runtime/eval/classes.js';
import { ensureSplits, loadPlans } from '../../runtime/data/plan/index.js';
import { isDone, processOne } from '../../runtime/data/preprocess/run.js';
import { preprocessingHash, type CaseSource } from '../../runtime/data/preprocess/index.js';
import { prepareTraining, runTraining, type TrainJobOptions } from '../train.js';

export const JOB_KINDS = ['preprocess', 'train', 'predict', 'evaluate'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export interface PredictJobData {
  model: string;
  id: string;
  images: string[];
  outDir: string;
  folds: string[];
  checkpoint: CheckpointName;
  step?: number;
  tta: boolean;
  saveProbabilities: boolean;
  postprocess: 'auto' | 'none' | 'lcc';
}

export interface PreprocessJobData {
  source: CaseSource;
  channelsInOneFile: boolean;
  plans: string;
  outDir: string;
  /** Every case of the batch: the job that finds them all preprocessed writes splits_final.json. */
  batch: string[];
}

/**
 * prepareTraining's options without the callbacks; `output` is required (every worker must find the run).
 * `continue`: resume the fold from its checkpoint_latest when it has one (else start it). Without it, the
 * first take starts the fold (over an old run only with `force`); a job taken up again (its worker
 * died, was stopped or the job threw) always resumes from checkpoint_latest.
 */
export type TrainJobData = Omit<TrainJobOptions, 'onDiagnostics' | 'warn' | 'queueJob'> & { output: string; workers: number; validation: boolean };

/** One evaluation of a prediction folder against references (as mnxc evaluate), written to `output`. */
export interface EvaluateJobData {
  pred: string;
  ref: string;
  output: string;
  classes?: EvalClass[];
  tolerance: number;
  unitSpacing: boolean;
  workers: number;
  /** Jobs (predict jobs writing `pred`) that must be done first: until they are, the job goes back to the queue. */
  after: string[];
}

export type JobData =
  | { kind: 'predict'; data: PredictJobData }
  | { kind: 'preprocess'; data: PreprocessJobData }
  | { kind: 'train'; data: TrainJobData }
  | { kind: 'evaluate'; data: EvaluateJobData };

/** Serialises with sorted keys, so equal inputs give equal text whatever the order they were built in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** The job's id: its kind, a readable name and a hash of the kind and every input, so the same work submitted twice is one job. */
export function jobId(kind: JobKind, name: string, data: unknown): string {
  const hash = createHash('sha256').update(`${kind}\n${canonical(data)}`).digest('hex').slice(0, 16);
  return `${kind}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}-${hash}`;
}

export interface JobContext {
  /** The job's id (a training fold's lock names it). */
  id: string;
  /** The job ran before (its worker died or was stopped, or it threw): a training fold resumes. */
  takenBefore: boolean;
  /** True once the worker was asked to stop (SIGTERM): a training job saves checkpoint_latest and hands its fold back. */
  shouldStop: () => boolean;
  log: (line: string) => void;
  progress: (fraction: number) => void;
}

export type JobOutcome = { done: true; summary: string } | { done: false; summary: string };

/**
 * What a worker keeps between jobs: the last run folder opened and the last network built, with its
 * loaded weights, so consecutive predict jobs of the same run, fold and checkpoint skip both.
 */
export class WorkerCache {
  readonly models = new ModelCache();
  private run: { key: string; folder: RunFolder } | null = null;
  runsOpened = 0;

  /** The run folder, opened again only when one of its files changed (size or time). */
  openRun(dir: string): RunFolder {
    const stamp = (f: string) => {
      const p = join(dir, f);
      if (!existsSync(p)) return `${f}:-`;
      const st = statSync(p);
      return `${f}:${st.size}:${st.mtimeMs}`;
    };
    const key = [dir, ...['plans.yaml', 'model.ir.json', 'dataset.json', 'network.json', 'postprocessing.json'].map(stamp)].join('|');
    if (this.run?.key !== key) {
      this.run = { key, folder: RunFolder.open(dir) };
      this.runsOpened++;
    }
    return this.run.folder;
  }

  dispose(): void {
    this.models.dispose();
    this.run = null;
  }
}

export async function runJob(job: JobData, ctx: JobContext, cache?: WorkerCache): Promise<JobOutcome> {
  switch (job.kind) {
    case 'predict': {
      const d = job.data;
      const run = cache ? cache.openRun(d.model) : RunFolder.open(d.model);
      const [r] = await predictCases({
        cache: cache?.models,
        // Workers on other machines write into the same folder: their temporary files are left alone.
        removeStrayTemps: false,
        run,
        cases: [{ id: d.id, images: d.images }],
        outDir: d.outDir,
        folds: d.folds,
        checkpoint: d.checkpoint,
        step: d.step,
        tta: d.tta,
        saveProbabilities: d.saveProbabilities,
        postprocess: d.postprocess,
        onWindow: (p) => ctx.progress((p.foldIndex + p.done / p.total) / d.folds.length),
      });
      return { done: true, summary: `${d.id}: ${r!.passes} network passes, ${r!.seconds.toFixed(1)} s → ${r!.output}` };
    }
    case 'preprocess': {
      const d = job.data;
      const plans = loadPlans(d.plans);
      const r = processOne({ source: d.source, channelsInOneFile: d.channelsInOneFile, plans, outDir: d.outDir });
      // The last case of the batch to finish writes the splits (as mnxc preprocess does at its end); they depend
      // only on the case ids and the seed, so two jobs finishing together write the same file.
      const hash = preprocessingHash(plans);
      let splits = '';
      if (d.batch.length >= plans.splits.n_folds && d.batch.every((id) => isDone(d.outDir, id, hash))) {
        const s = ensureSplits(d.outDir, d.batch, plans.splits.n_folds, plans.splits.seed);
        splits = `; ${s.created ? 'wrote' : 'kept'} ${s.path}`;
      }
      return { done: true, summary: `${r.id}: ${r.seconds.toFixed(1)} s → ${d.outDir}${splits}` };
    }
    case 'train': {
      const { workers, validation, continue: cont, ...d } = job.data;
      // A fold taken up again (its worker died or was stopped) resumes exactly from checkpoint_latest;
      // so does a first take under --continue when the fold has one.
      const latest = existsSync(join(d.output, `fold_${d.fold}`, 'checkpoint_latest.json'));
      const resume = latest && (cont === true || ctx.takenBefore);
      const run = prepareTraining({ ...d, continue: resume, queueJob: ctx.id, warn: (line) => ctx.log(`warning: ${line}`), onDiagnostics: (t) => ctx.log(t.trimEnd()) });
      try {
        ctx.log(resume ? `fold ${d.fold}: resuming from checkpoint_latest` : `fold ${d.fold}: starting`);
        const result = await runTraining(run, {
          workers,
          shouldStop: ctx.shouldStop,
          log: ctx.log,
          onIteration: ({ epoch, iteration, iterations }) => ctx.progress(Math.min(1, (epoch + iteration / iterations) / (d.untilEpoch ?? run.plans.training.epochs))),
        });
        let summary = `fold ${d.fold}: ${result.outcome} after ${result.state.epoch} epoch(s) → ${run.foldDir}`;
        if (result.outcome === 'finished' && validation) {
          // As mnxc train: the fold's validation cases predicted in full and evaluated, the post-processing determined.
          const v = await validateFold({ runDir: run.runDir, fold: run.fold, preprocessedDir: run.preprocessedDir, valIds: run.valIds, log: ctx.log, onWindow: () => ctx.progress(1) });
          summary += `; validation mean Dice ${v.summary.foreground_mean.dice.toFixed(4)} → ${v.summaryPath}`;
        }
        return { done: result.outcome !== 'interrupted', summary };
      } finally {
        run.release();
      }
    }
    case 'evaluate': {
      const d = job.data;
      const s = await evaluateFolders({
        predDir: d.pred,
        refDir: d.ref,
        classes: d.classes,
        tolerance: d.tolerance,
        unitSpacing: d.unitSpacing,
        workers: d.workers,
        onCase: (done, total) => ctx.progress(done / total),
      });
      writeSummary(d.output, s);
      return { done: true, summary: `${s.cases.length} case(s), mean Dice ${s.foreground_mean.dice.toFixed(4)} → ${d.output}` };
    }
  }
}
