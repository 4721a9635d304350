/**
 * The jobs of a queue batch and what a worker does with each: the same library calls the
 * single-machine commands make (runtime/infer's predictCases, runtime/data/preprocess's processOne,
 * app/train's prepareTraining/runTraining), one case (predict, preprocess) or one fold (train) per job.
 * Job data holds absolute paths only: machines share the files through a shared file system.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RunFolder } from '../run-folder.js';
import { predictCases, type CheckpointName } from '../../runtime/infer/index.js';
import { ensureSplits, loadPlans } from '../../runtime/data/plan/index.js';
import { isDone, processOne } from '../../runtime/data/preprocess/run.js';
import { preprocessingHash, type CaseSource } from '../../runtime/data/preprocess/index.js';
import { prepareTraining, runTraining, type TrainJobOptions } from '../train.js';

export const JOB_KINDS = ['preprocess', 'train', 'predict'] as const;
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

/** prepareTraining's options without the callbacks; `output` is required (every worker must find the run). */
export type TrainJobData = Omit<TrainJobOptions, 'onDiagnostics' | 'warn' | 'continue'> & { output: string; workers: number };

export type JobData = { kind: 'predict'; data: PredictJobData } | { kind: 'preprocess'; data: PreprocessJobData } | { kind: 'train'; data: TrainJobData };

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
  /** True once the worker was asked to stop (SIGTERM): a training job saves checkpoint_latest and hands its fold back. */
  shouldStop: () => boolean;
  log: (line: string) => void;
  progress: (fraction: number) => void;
}

export type JobOutcome = { done: true; summary: string } | { done: false; summary: string };

export async function runJob(job: JobData, ctx: JobContext): Promise<JobOutcome> {
  switch (job.kind) {
    case 'predict': {
      const d = job.data;
      const run = RunFolder.open(d.model);
      const [r] = await predictCases({
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
      const { workers, ...d } = job.data;
      // A fold taken up again (its worker died or was stopped) resumes exactly from checkpoint_latest.
      const resume = existsSync(join(d.output, `fold_${d.fold}`, 'checkpoint_latest.json'));
      const run = prepareTraining({ ...d, continue: resume, warn: (line) => ctx.log(`warning: ${line}`), onDiagnostics: (t) => ctx.log(t.trimEnd()) });
      if (resume) ctx.log(`fold ${d.fold}: resuming from checkpoint_latest`);
      const result = await runTraining(run, {
        workers,
        shouldStop: ctx.shouldStop,
        log: ctx.log,
        onIteration: ({ epoch, iteration, iterations }) => ctx.progress(Math.min(1, (epoch + iteration / iterations) / (d.untilEpoch ?? d.epochs ?? run.plans.training.epochs))),
      });
      const summary = `fold ${d.fold}: ${result.outcome} after ${result.state.epoch} epoch(s) → ${run.foldDir}`;
      return { done: result.outcome !== 'interrupted', summary };
    }
  }
}
