/**
 * `npm run bench:queue`: what the queue costs and what workers bring, on the phantom test set.
 *
 *   npm run bench:queue -- [--test-cases N] [--workers 1,2,3] [--backend B] [--tta] [--dir DIR] [--json]
 *
 * Builds a real run in a temporary folder (mnxc example-data with N test cases, plan, preprocess,
 * one short training of fold 0 of examples/tiny.mnx: the weights' values do not change the time a
 * prediction takes), starts a redis-server of its own on a free loopback port (tests/redis.ts), then:
 *  - single: `mnxc predict` of the N test cases in one process (its own "predicted in X s", the
 *    process start excluded);
 *  - queue, W workers for each W of --workers: W `mnxc worker` processes started and ready, then
 *    `mnxc queue submit predict` of the same cases into a fresh folder and `mnxc queue wait`; the
 *    time from the end of submit (a process start and the submit-time checks, not counted) to the
 *    end of wait (which polls every second) gives cases per minute;
 *  - queue, 1 worker, --no-model-cache: as above with the network built and the weights read in
 *    every job (what the worker's model cache saves).
 * Per-job overhead of the queue, two ways: (queue time with 1 worker − single time) / N (Redis round
 * trips, taking the next job, wait's polling and, without the cache, the network built per job);
 * and, from Redis's record of the jobs (processedOn, finishedOn), the mean time between one job's end
 * and the next one's start on the worker (finishing a job and taking the next) plus the mean of
 * (job's own time − the cases' time in mnxc predict).
 * And in this process, without Redis: each case as a predict job (app/queue/jobs.ts's runJob) with
 * and without the worker's cache, alternated, median per job: what the cache saves.
 * Every run's label maps are compared with single's (byte for byte). Prints the machine's cores and
 * load average before and after: the figures are only as good as the machine is quiet.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { runJob, WorkerCache } from '../app/queue/jobs.js';
import { connect, QUEUE_NAME } from '../app/queue/queue.js';
import { useBackend, type BackendChoice } from '../runtime/backend.js';
import { startRedis } from '../tests/redis.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MNXC = join(ROOT, 'bin', 'mnxc.js');

const { values } = parseArgs({
  options: {
    'test-cases': { type: 'string', default: '12' },
    workers: { type: 'string', default: '1,2,3' },
    backend: { type: 'string', default: 'auto' },
    tta: { type: 'boolean', default: false },
    dir: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(values['test-cases']);
const WORKERS = values.workers!.split(',').map(Number);
if (!Number.isInteger(N) || N < 1 || WORKERS.some((w) => !Number.isInteger(w) || w < 1)) {
  process.stderr.write('usage: npm run bench:queue -- [--test-cases N] [--workers 1,2,3] [--backend B] [--tta] [--dir DIR] [--json]\n');
  process.exit(2);
}
const dir = values.dir ? resolve(values.dir) : mkdtempSync(join(tmpdir(), 'mnxc-bench-queue-'));
mkdirSync(dir, { recursive: true });
// The spec as the README's commands name it (examples/tiny.mnx), from the working folder.
if (!existsSync(join(dir, 'examples'))) symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
const log = (s: string) => process.stderr.write(`[bench:queue] ${s}\n`);

function mnxc(args: string[]): { out: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [MNXC, ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`mnxc ${args.join(' ')} exited ${r.status ?? r.error?.message}:\n${r.stdout}${r.stderr}`);
  return { out: r.stdout + r.stderr, seconds };
}

function load(): string {
  return loadavg().map((v) => v.toFixed(2)).join(' ');
}

const DATA = 'data/Dataset900_Phantom';
const tta = values.tta ? [] : ['--no-tta'];

function sameOutputs(a: string, b: string): boolean {
  const names = readdirSync(join(dir, a)).filter((f) => f.endsWith('.nii.gz')).sort();
  const other = readdirSync(join(dir, b)).filter((f) => f.endsWith('.nii.gz')).sort();
  return names.length === N && names.join() === other.join() && names.every((f) => readFileSync(join(dir, a, f)).equals(readFileSync(join(dir, b, f))));
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

let inProcessJobs = { cachedMs: NaN, uncachedMs: NaN, builds: 0, reuses: 0, weightLoads: 0 };

interface Row {
  setup: string;
  workers: number;
  seconds: number;
  casesPerMinute: number;
  /** Sum of the workers' own job times (runJob, as logged "done in"). */
  jobSeconds?: number;
  /** Mean time between a job's end and the next job's start on one worker (ms). */
  gapMs?: number;
  identical: boolean;
}

async function main() {
  const loadBefore = load();
  log(`${availableParallelism()} core(s), load average ${loadBefore}; working in ${dir}`);
  const t0 = performance.now();
  mnxc(['example-data', 'data', '--cases', '5', '--test-cases', String(N)]);
  mnxc(['plan', DATA, '-o', 'plans.yaml', '--spec', 'examples/tiny.mnx', '--set', 'n_classes=4', '--target-spacing', '2.5,1.5,1.5', '--patch', '16,48,48']);
  mnxc(['preprocess', DATA, '--plans', 'plans.yaml', '-o', 'preprocessed']);
  mnxc(['train', 'preprocessed', '--plans', 'plans.yaml', '--fold', '0', '-o', 'run', '--epochs', '1', '--iterations', '1', '--val-iterations', '0', '--no-validation', '--backend', values.backend === 'wasm' ? 'auto' : values.backend!]);
  log(`run ready in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  const rows: Row[] = [];
  const single = mnxc(['predict', '-i', `${DATA}/imagesTs`, '-o', 'single', '-m', 'run', '--folds', '0', '--backend', values.backend!, ...tta]);
  const inProcess = Number(single.out.match(/case\(s\) predicted in ([\d.]+) s/)![1]);
  const backendUsed = single.out.match(/backend: (\w+);/)?.[1] ?? values.backend!;
  const singleCaseSeconds = [...single.out.matchAll(/passes, ([\d.]+) s →/g)].reduce((a, m) => a + Number(m[1]), 0);
  rows.push({ setup: 'mnxc predict (one process)', workers: 1, seconds: inProcess, casesPerMinute: (N / inProcess) * 60, identical: true });
  log(`single: ${inProcess.toFixed(1)} s in the command (${single.seconds.toFixed(1)} s with its start)`);

  const redis = await startRedis();
  const conn = connect(redis.url);
  const batch = new Queue(QUEUE_NAME, { connection: conn });
  try {
    const runs: { workers: number; cache: boolean }[] = [...WORKERS.map((w) => ({ workers: w, cache: true })), { workers: 1, cache: false }];
    for (const [i, r] of runs.entries()) {
      const procs: { proc: ChildProcess; log: string }[] = [];
      for (let k = 0; k < r.workers; k++) {
        const args = [MNXC, 'worker', '--redis', redis.url, '--backend', values.backend!, ...(r.cache ? [] : ['--no-model-cache'])];
        const proc = spawn(process.execPath, args, { cwd: dir });
        const w = { proc, log: '' };
        proc.stderr!.setEncoding('utf8').on('data', (d: string) => (w.log += d));
        procs.push(w);
      }
      // Timing starts once every worker is ready to take jobs.
      const ready = Date.now();
      while (!procs.every((w) => w.log.includes('taking jobs'))) {
        if (Date.now() - ready > 120_000) throw new Error(`workers did not start:\n${procs.map((w) => w.log).join('\n')}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      const out = `queued-${i}`;
      mnxc(['queue', 'submit', 'predict', '-i', `${DATA}/imagesTs`, '-o', out, '-m', 'run', '--folds', '0', ...tta, '--redis', redis.url]);
      const t = performance.now();
      mnxc(['queue', 'wait', '--redis', redis.url]);
      const seconds = (performance.now() - t) / 1000;
      // Redis's own record of each job (processedOn, finishedOn, processedBy): on one worker, the time
      // between a job's end and the next one's start (BullMQ hands the next job over in the same call
      // that finishes one, so this is near 0 unless the worker waited for work).
      const gaps: number[] = [];
      const jobs = (await batch.getJobs(['completed'], 0, -1)).filter((j) => (j.data as { outDir?: string }).outDir === join(dir, out));
      const byWorker = new Map<string, { start: number; end: number }[]>();
      for (const j of jobs) byWorker.set(j.processedBy ?? '', [...(byWorker.get(j.processedBy ?? '') ?? []), { start: j.processedOn!, end: j.finishedOn! }]);
      for (const list of byWorker.values()) {
        list.sort((a, b) => a.start - b.start);
        for (let k = 1; k < list.length; k++) gaps.push(list[k]!.start - list[k - 1]!.end);
      }
      await Promise.all(procs.map((w) => new Promise((res) => (w.proc.once('exit', res), w.proc.kill('SIGTERM')))));
      const jobSeconds = procs.flatMap((w) => [...w.log.matchAll(/: done in ([\d.]+) s/g)].map((m) => Number(m[1]))).reduce((a, b) => a + b, 0);
      const setup = `queue, ${r.workers} worker(s)${r.cache ? '' : ', --no-model-cache'}`;
      const gapMs = gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN;
      rows.push({ setup, workers: r.workers, seconds, casesPerMinute: (N / seconds) * 60, jobSeconds, gapMs, identical: sameOutputs(out, 'single') });
      log(`${setup}: ${seconds.toFixed(1)} s (jobs themselves ${jobSeconds.toFixed(1)} s), load ${load()}`);
    }
    // The cache's saving on its own, without Redis: runJob per case with and without a WorkerCache,
    // alternated in one process (so that the machine's load drifts alike for both).
    await useBackend(values.backend as BackendChoice);
    const cache = new WorkerCache();
    const times = { cached: [] as number[], uncached: [] as number[] };
    const cases = readdirSync(join(dir, DATA, 'imagesTs')).filter((f) => f.endsWith('_0000.nii.gz')).sort();
    for (const [k, f] of cases.entries()) {
      const id = f.replace(/_0000\.nii\.gz$/, '');
      const data = { model: join(dir, 'run'), id, images: [join(dir, DATA, 'imagesTs', f)], folds: ['0'], checkpoint: 'final' as const, tta: values.tta!, saveProbabilities: false, postprocess: 'auto' as const };
      const ctx = { id, takenBefore: false, shouldStop: () => false, log: () => {}, progress: () => {} };
      for (const cached of k % 2 === 0 ? [true, false] : [false, true]) {
        const t = performance.now();
        await runJob({ kind: 'predict', data: { ...data, outDir: join(dir, cached ? 'inproc-cached' : 'inproc-uncached') } }, ctx, cached ? cache : undefined);
        if (k > 0) (cached ? times.cached : times.uncached).push(performance.now() - t); // the first builds the cache
      }
    }
    cache.dispose();
    inProcessJobs = { cachedMs: median(times.cached), uncachedMs: median(times.uncached), builds: cache.models.stats.builds, reuses: cache.models.stats.reuses, weightLoads: cache.models.stats.weightLoads };
    log(`in-process jobs: median ${inProcessJobs.cachedMs.toFixed(0)} ms with the cache, ${inProcessJobs.uncachedMs.toFixed(0)} ms without`);
  } finally {
    await batch.close();
    conn.disconnect();
    redis.stop();
  }

  const one = rows.find((r) => r.setup === 'queue, 1 worker(s)');
  const noCache = rows.find((r) => r.setup.includes('--no-model-cache'))!;
  const overhead = (r: Row | undefined) => (r ? ((r.seconds - inProcess) / N) * 1000 : NaN);
  const perJob = (r: Row | undefined) => (r ? r.gapMs! + ((r.jobSeconds! - singleCaseSeconds) / N) * 1000 : NaN);
  const cacheSaves = inProcessJobs.uncachedMs - inProcessJobs.cachedMs;
  const report = {
    cores: availableParallelism(),
    loadBefore,
    loadAfter: load(),
    testCases: N,
    backend: backendUsed,
    tta: values.tta,
    rows,
    singleCaseSeconds,
    overheadMsPerJob: { modelCache: overhead(one), noModelCache: overhead(noCache) },
    overheadFromRedisMsPerJob: { modelCache: perJob(one), noModelCache: perJob(noCache), takeNextMs: one?.gapMs },
    inProcessJobs,
  };
  if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else {
    const lines = [`${N} phantom test cases, backend ${backendUsed}, ${values.tta ? 'with' : 'no'} mirroring; ${report.cores} core(s), load average before ${loadBefore}, after ${report.loadAfter}`, ''];
    lines.push('| setup | seconds | cases/min | jobs' + "'" + ' own time (s) | done → next started (ms) | = single |', '|---|---:|---:|---:|---:|---|');
    lines.push(`| mnxc predict (one process) | ${inProcess.toFixed(1)} | ${((N / inProcess) * 60).toFixed(1)} | ${singleCaseSeconds.toFixed(1)} (its cases) | — | — |`);
    for (const r of rows.slice(1)) lines.push(`| ${r.setup} | ${r.seconds.toFixed(1)} | ${r.casesPerMinute.toFixed(1)} | ${r.jobSeconds?.toFixed(1) ?? '—'} | ${r.gapMs?.toFixed(0) ?? '—'} | ${r.identical ? 'yes' : 'NO'} |`);
    lines.push(
      '',
      `queue overhead per job, 1 worker vs one process: ${overhead(one).toFixed(0)} ms with the model cache, ${overhead(noCache).toFixed(0)} ms without`,
      `from Redis's record of the jobs (1 worker): ${perJob(one).toFixed(0)} ms with the model cache (of which ${one?.gapMs?.toFixed(0)} ms from a job's end to the next one's start), ${perJob(noCache).toFixed(0)} ms without`,
      `a predict job in one process (median, jobs 2..N, alternated): ${inProcessJobs.cachedMs.toFixed(0)} ms with the worker's cache, ${inProcessJobs.uncachedMs.toFixed(0)} ms without: the cache saves ${cacheSaves.toFixed(0)} ms per job (${inProcessJobs.builds} network(s) built, ${inProcessJobs.reuses} reused, ${inProcessJobs.weightLoads} weight file read(s))`,
    );
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (!values.dir) rmSync(dir, { recursive: true, force: true });
  if (rows.some((r) => !r.identical)) process.exit(1);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
