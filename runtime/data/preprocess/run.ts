/**
 * Preprocessing a whole dataset: cases run in parallel worker threads; a failing case is reported and
 * skipped without losing the others; a case already done with the same plan is skipped on re-runs
 * (its header, written last, carries the plan's hash).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Plans } from '../plan/plans.js';
import { loadCase, type CaseSource } from './load-case.js';
import { preprocessLoadedCase } from './pipeline.js';
import { preprocessingHash } from './store.js';
import { caseFiles, readCaseHeader, writeCase } from './store.js';

/** Label values a case may hold: the plans' classes and the ignore label (nnU-Net v2). */
function declaredLabels(plans: Plans): number[] {
  const values = Object.keys(plans.dataset.labels).map(Number);
  return plans.dataset.ignore_label === undefined ? values : [...values, plans.dataset.ignore_label];
}

export interface CaseJob {
  source: CaseSource;
  channelsInOneFile: boolean;
  plans: Plans;
  outDir: string;
}

export interface CaseResult {
  id: string;
  ok: boolean;
  error?: string;
  seconds: number;
  /** Resident set size of the process after the case, MiB (all threads of the process together). */
  peakRssMiB: number;
}

/** Preprocesses and writes one case (in whichever thread runs it). */
export function processOne(job: CaseJob): CaseResult {
  const t0 = performance.now();
  const loaded = loadCase(job.source, job.channelsInOneFile, job.plans.dataset.channels.length, declaredLabels(job.plans));
  const pre = preprocessLoadedCase(loaded, job.plans, { images: job.source.images, label: job.source.label });
  writeCase(job.outDir, { plans_hash: preprocessingHash(job.plans), properties: pre.properties }, pre.data, job.plans.dataset.channels.length, pre.seg);
  return { id: job.source.id, ok: true, seconds: (performance.now() - t0) / 1000, peakRssMiB: process.memoryUsage().rss / 2 ** 20 };
}

/** True when the case's header exists and was made with this plan. */
export function isDone(outDir: string, id: string, hash: string): boolean {
  if (!existsSync(caseFiles(outDir, id).header)) return false;
  try {
    return readCaseHeader(outDir, id).plans_hash === hash;
  } catch {
    return false;
  }
}

export interface RunOptions {
  sources: CaseSource[];
  channelsInOneFile?: boolean;
  plans: Plans;
  outDir: string;
  /** Worker threads; 0 runs in this thread. Default: available cores, at most the number of cases. */
  workers?: number;
  onResult?: (r: CaseResult, done: number, total: number) => void;
}

export interface RunSummary {
  done: CaseResult[];
  failed: CaseResult[];
  skipped: string[];
}

export async function preprocessDataset(opts: RunOptions): Promise<RunSummary> {
  const hash = preprocessingHash(opts.plans);
  const skipped: string[] = [];
  const todo: CaseJob[] = [];
  for (const source of opts.sources) {
    if (isDone(opts.outDir, source.id, hash)) skipped.push(source.id);
    else todo.push({ source, channelsInOneFile: opts.channelsInOneFile ?? false, plans: opts.plans, outDir: opts.outDir });
  }
  const results: CaseResult[] = [];
  const report = (r: CaseResult) => {
    results.push(r);
    opts.onResult?.(r, results.length, todo.length);
  };
  const nWorkers = Math.min(opts.workers ?? availableParallelism(), todo.length);
  if (nWorkers <= 0) {
    for (const job of todo) {
      try {
        report(processOne(job));
      } catch (e) {
        report({ id: job.source.id, ok: false, error: (e as Error).message, seconds: 0, peakRssMiB: process.memoryUsage().rss / 2 ** 20 });
      }
    }
  } else {
    await runInWorkers(todo, nWorkers, report);
  }
  return { done: results.filter((r) => r.ok), failed: results.filter((r) => !r.ok), skipped };
}

function runInWorkers(jobs: CaseJob[], n: number, report: (r: CaseResult) => void): Promise<void> {
  return new Promise((resolve) => {
    let next = 0;
    let live = 0;
    const start = () => {
      live++;
      const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url));
      let current: CaseJob | undefined;
      let failure: string | undefined;
      const feed = () => {
        current = jobs[next++];
        worker.postMessage(current ?? null);
      };
      worker.on('message', (r: CaseResult) => {
        current = undefined;
        report(r);
        feed();
      });
      worker.on('error', (e) => {
        failure = e.message;
      });
      // A crashed worker (out of memory, a native error) fails its case; a fresh worker takes over.
      worker.on('exit', () => {
        live--;
        if (current) {
          report({ id: current.source.id, ok: false, error: `worker crashed: ${failure ?? 'exited unexpectedly'}`, seconds: 0, peakRssMiB: 0 });
          if (next < jobs.length) start();
        }
        if (live === 0) resolve();
      });
      feed();
    };
    for (let i = 0; i < n; i++) start();
  });
}
