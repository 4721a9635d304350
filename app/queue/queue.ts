/**
 * Jobs on Redis through BullMQ: one queue ('mnxc'), one BullMQ job per case or fold, named by its
 * kind and identified by a hash of its inputs (app/queue/jobs.ts). Redis carries only the jobs, their
 * progress and their results' summaries; the files travel through the shared file system.
 */
import { Queue, Worker, DelayedError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { JobError } from '../errors.js';
import { JOB_KINDS, runJob, type JobData, type JobKind } from './jobs.js';

export const QUEUE_NAME = 'mnxc';

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
    for (const { id, job } of items) {
      const known = await queue.getJob(id);
      if (known) {
        if ((await known.getState()) === 'failed') {
          await known.retry('failed', { resetAttemptsMade: true });
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

const PENDING = ['waiting', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const;

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
  let stopping = false;
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job, token?: string) => {
      const t0 = performance.now();
      opts.log(`${job.id}: started (attempt ${job.attemptsMade + 1})`);
      // The network runs on this thread and can hold it for long stretches, so BullMQ's timer that
      // renews the lock may not fire: renew it from the job's own progress (per window, per
      // iteration), so the job is not taken as stalled while it is computing.
      let renewed = Date.now();
      const outcome = await runJob({ kind: job.name, data: job.data } as JobData, {
        shouldStop: () => stopping,
        log: (line) => opts.log(`${job.id}: ${line}`),
        progress: (f) => {
          const now = Date.now();
          if (now - renewed < opts.lockDurationMs / 4) return;
          renewed = now;
          if (token) void job.extendLock(token, opts.lockDurationMs).catch(() => {});
          void job.updateProgress(Math.round(f * 100)).catch(() => {});
        },
      });
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
      redis.disconnect();
      resolveClosed();
    },
  };
}
