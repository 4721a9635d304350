/**
 * Jobs on Redis through BullMQ: one queue ('mnxc'), one BullMQ job per case or fold, named by its
 * kind and identified by a hash of its inputs (app/queue/jobs.ts). Redis carries only the jobs, their
 * progress and their results' summaries; the files travel through the shared file system.
 */
import { Queue, Worker, DelayedError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { JobError } from '../errors.js';
import { JOB_KINDS, runJob, WorkerCache, type JobData, type JobKind } from './jobs.js';

export const QUEUE_NAME = 'mnxc';

const PENDING = ['waiting', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const;

/** One connection per Queue / Worker; BullMQ needs maxRetriesPerRequest null for blocking commands. */
export function connect(url: string): Redis {
  if (!/^rediss?:\/\//.test(url)) throw new JobError(`--redis: expected a URL such as redis://host:6379, got '${url}'`);
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, retryStrategy: (n) => (n > 20 ? null : Math.min(1000, 50 * n)) });
  redis.on('error', () => {}); // reported by the command that fails, not as an unhandled event
  return redis;
}

/** A connection that has reached Redis; a JobError naming the URL when it cannot. */
async function connected(url: string): Promise<Redis> {
  const redis = connect(url);
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new JobError(`cannot reach Redis at ${url}: ${(e as Error).message}`);
  }
  return redis;
}

async function openQueue(url: string): Promise<{ queue: Queue; close: () => Promise<void> }> {
  const redis = await connected(url);
  const queue = new Queue(QUEUE_NAME, { connection: redis });
  return { queue, close: async () => { await queue.close(); redis.disconnect(); } };
}

export interface SubmitItem {
  id: string;
  job: JobData;
  /**
   * Checks that only a job not yet in the queue must pass (e.g. a fold that holds a run needs
   * --continue or --force, unless its job is already queued or done). Every check runs before any
   * job is added: one that throws leaves the queue as it was.
   */
  check?: () => void;
}

export interface SubmitResult {
  added: string[];
  /** Already in the queue (waiting, running or done): not added again. */
  existing: string[];
  /** Had failed for good: put back to be tried again. */
  retried: string[];
}

/** Adds the jobs; a job whose id is already known is not added twice (a failed one is retried). */
export async function submitJobs(url: string, items: SubmitItem[], opts: { attempts: number; backoffMs?: number }): Promise<SubmitResult> {
  const { queue, close } = await openQueue(url);
  const result: SubmitResult = { added: [], existing: [], retried: [] };
  try {
    const known = new Map<string, Job | undefined>();
    for (const item of items) {
      const j = await queue.getJob(item.id);
      known.set(item.id, j);
      if (!j) item.check?.();
    }
    for (const { id, job } of items) {
      const j = known.get(id);
      if (j) {
        if ((await j.getState()) === 'failed') {
          await j.retry('failed', { resetAttemptsMade: true });
          result.retried.push(id);
        } else result.existing.push(id);
        continue;
      }
      await queue.add(job.kind, job.data, {
        jobId: id,
        attempts: opts.attempts,
        backoff: { type: 'fixed', delay: opts.backoffMs ?? 1000 },
        removeOnComplete: false,
        removeOnFail: false,
      });
      result.added.push(id);
    }
  } finally {
    await close();
  }
  return result;
}

/** Predict jobs still waiting or running that write into `outDir` (an evaluation of that folder waits for them). */
export async function pendingPredictions(url: string, outDir: string): Promise<string[]> {
  const { queue, close } = await openQueue(url);
  try {
    const jobs = await queue.getJobs([...PENDING, 'active'] as never, 0, -1);
    return jobs.filter((j) => j && j.name === 'predict' && (j.data as { outDir?: string }).outDir === outDir).map((j) => j.id!).sort();
  } finally {
    await close();
  }
}

export interface KindCounts {
  waiting: number;
  active: number;
  done: number;
  failed: number;
}

export interface QueueStatus {
  kinds: Record<JobKind, KindCounts>;
  failures: { id: string; reason: string; attempts: number }[];
}

export async function queueStatus(url: string): Promise<QueueStatus> {
  const { queue, close } = await openQueue(url);
  try {
    const kinds = Object.fromEntries(JOB_KINDS.map((k) => [k, { waiting: 0, active: 0, done: 0, failed: 0 }])) as Record<JobKind, KindCounts>;
    const tally = async (states: readonly string[], field: keyof KindCounts) => {
      const jobs = await queue.getJobs(states as never, 0, -1);
      for (const j of jobs) if (j && kinds[j.name as JobKind]) kinds[j.name as JobKind][field]++;
      return jobs;
    };
    await tally(PENDING, 'waiting');
    await tally(['active'], 'active');
    await tally(['completed'], 'done');
    const failed = await tally(['failed'], 'failed');
    const failures = failed.filter((j) => j).map((j) => ({ id: j.id!, reason: j.failedReason ?? '', attempts: j.attemptsMade }));
    return { kinds, failures };
  } finally {
    await close();
  }
}

export function pendingCount(s: QueueStatus): number {
  return Object.values(s.kinds).reduce((a, k) => a + k.waiting + k.active, 0);
}

/** Polls until no job is waiting or running; returns the last status. */
export async function waitForQueue(url: string, opts: { pollMs?: number; timeoutMs?: number; onStatus?: (s: QueueStatus) => void } = {}): Promise<QueueStatus> {
  const t0 = Date.now();
  for (;;) {
    const s = await queueStatus(url);
    opts.onStatus?.(s);
    if (pendingCount(s) === 0) return s;
    if (opts.timeoutMs !== undefined && Date.now() - t0 > opts.timeoutMs) throw new JobError(`queue wait: ${pendingCount(s)} job(s) still pending after ${Math.round(opts.timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
  }
}

export interface WorkerOptions {
  concurrency: number;
  /** Keep the last network built and its weights for the next predict job (default true). */
  modelCache?: boolean;
  /** How often a job that waits for others (evaluate after predict) is looked at again (ms; default 2000). */
  recheckMs?: number;
  /** How long a job stays locked to this worker without renewal (ms); another worker takes a job whose lock expired. */
  lockDurationMs: number;
  log: (line: string) => void;
}

export interface RunningWorker {
  /** Stops taking jobs; a running job finishes (a training job saves checkpoint_latest and hands its fold back). */
  stop: () => Promise<void>;
  closed: Promise<void>;
}

export async function startWorker(url: string, opts: WorkerOptions): Promise<RunningWorker> {
  const redis = await connected(url);
  const lookup = new Queue(QUEUE_NAME, { connection: redis });
  const cache = opts.modelCache === false ? undefined : new WorkerCache();
  let stopping = false;
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job, token?: string) => {
      const t0 = performance.now();
      const data = { kind: job.name, data: job.data } as JobData;
      if (data.kind === 'evaluate' && data.data.after.length > 0) {
        // An evaluation submitted while its predictions are queued waits for them (done or failed for
        // good, as mnxc evaluate after mnxc predict evaluates what was written), without using an attempt.
        let pending = 0;
        for (const id of data.data.after) {
          const j = await lookup.getJob(id);
          const state = j ? await j.getState() : 'missing';
          if (state !== 'completed' && state !== 'failed' && state !== 'missing') pending++;
        }
        if (pending > 0) {
          await job.moveToDelayed(Date.now() + (opts.recheckMs ?? 2000), token);
          throw new DelayedError();
        }
      }
      opts.log(`${job.id}: started (attempt ${job.attemptsMade + 1})`);
      // The network runs on this thread and can hold it for long stretches, so BullMQ's timer that
      // renews the lock may not fire: renew it from the job's own progress (per window, per
      // iteration), so the job is not taken as stalled while it is computing.
      let renewed = Date.now();
      const outcome = await runJob(data, {
        id: job.id!,
        // BullMQ counts every time a job is taken (attemptsStarted): more than one, it ran before.
        takenBefore: job.attemptsStarted > 1,
        shouldStop: () => stopping,
        log: (line) => opts.log(`${job.id}: ${line}`),
        progress: (f) => {
          const now = Date.now();
          if (now - renewed < opts.lockDurationMs / 4) return;
          renewed = now;
          if (token) void job.extendLock(token, opts.lockDurationMs).catch((e: Error) => opts.log(`${job.id}: could not renew its lock: ${e.message}`));
          void job.updateProgress(Math.round(f * 100)).catch(() => {});
        },
      }, cache);
      if (!outcome.done) {
        // Stopped mid-fold: checkpoint_latest is saved; the fold goes back to the queue without using an attempt.
        opts.log(`${job.id}: handed back (${outcome.summary})`);
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      opts.log(`${job.id}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${outcome.summary}`);
      return outcome.summary;
    },
    {
      connection: redis,
      concurrency: opts.concurrency,
      lockDuration: opts.lockDurationMs,
      stalledInterval: Math.max(500, Math.round(opts.lockDurationMs / 2)),
      maxStalledCount: 3,
      autorun: true,
      // Recorded with each job it takes (processedBy): which machine and process did it.
      name: `${hostname()}:${process.pid}`,
    },
  );
  worker.on('failed', (job, err) => {
    if (job) opts.log(`${job.id}: failed (attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}): ${err.message.split('\n').join(' ')}`);
  });
  worker.on('error', (err) => opts.log(`worker: ${err.message}`));
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  return {
    closed,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      await worker.close();
      await lookup.close();
      cache?.dispose();
      redis.disconnect();
      resolveClosed();
    },
  };
}
