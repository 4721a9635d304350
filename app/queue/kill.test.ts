import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../tests/redis.js';
import { runMnxc, startWorker, until, type TestWorker } from '../../tests/queue-workers.js';
import { syntheticCase, writeTestDataset } from '../../runtime/data/dataset/index.js';
import { defaultPlans, savePlans } from '../../runtime/data/plan/index.js';
import { Queue } from 'bullmq';
import { connect, QUEUE_NAME } from './queue.js';

/**
 * A worker SIGKILLed in the middle of a preprocessing job, with a real Redis and real worker
 * processes: six cases preprocessed by three workers, the first one killed while it holds a case
 * (Redis still has that job running, nothing done): the case is taken up by another worker once the
 * lock has expired; every case is done exactly once, and the files equal `mnxc preprocess`'s byte
 * for byte. (Training with a killed worker: train-kill.long.test.ts.)
 */
const LOCK_MS = 8000;
const root = mkdtempSync(join(tmpdir(), 'mnxc-queue-kill-'));
let redis: TestRedis | undefined;
const procs: ChildProcess[] = [];

const mnxc = (args: string[]) => runMnxc(root, args);
type W = TestWorker;
const worker = (): W => startWorker(root, redis!.url, LOCK_MS, procs);

/** Lines "JOB: done in" per job id, over every worker's log. */
function doneCounts(ws: W[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const w of ws) for (const [, id] of w.log().matchAll(/\] (\S+): done in /g)) m.set(id!, (m.get(id!) ?? 0) + 1);
  return m;
}

/** A job's state as Redis has it ('active': some worker holds its lock, 'completed', …). */
async function stateOf(id: string): Promise<string> {
  const redisConn = connect(redis!.url);
  const q = new Queue(QUEUE_NAME, { connection: redisConn });
  try {
    const j = await q.getJob(id);
    return j ? await j.getState() : 'missing';
  } finally {
    await q.close();
    redisConn.disconnect();
  }
}

const CASES = ['case_0', 'case_1', 'case_2', 'case_3', 'case_4', 'case_5'];

beforeAll(async () => {
  redis = await startRedis();
  // case_0 (the first job, which the first worker takes) is the large one, so the kill lands inside it.
  writeTestDataset(join(root, 'ds'), {
    channelNames: ['CT'],
    labels: { background: 0, a: 1, b: 2 },
    cases: CASES.map((id, i) => syntheticCase(id, i === 0 ? [72, 72, 56] : [20, 20, 12], 1, i + 1)),
  });
  const plans = defaultPlans({
    dataset: { name: 'test', channels: ['CT'], labels: { '0': 'background', '1': 'a', '2': 'b' }, num_training: CASES.length },
    target_spacing: [0.8, 0.8, 0.8],
    normalization: [{ channel: 0, name: 'CT', scheme: 'zscore', use_nonzero_mask: false }],
    median_shape: [15, 25, 25],
    patch_size: [16, 16, 16],
  });
  savePlans(join(root, 'plans.yaml'), plans);
}, 30_000);

afterAll(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('mnxc worker killed mid-job (SIGKILL)', () => {
  it('preprocessing with three workers, one killed: every case done once, equal to mnxc preprocess', async () => {
    const url = redis!.url;
    const ds = join(root, 'ds');
    const sub = await mnxc(['queue', 'submit', 'preprocess', ds, '--plans', 'plans.yaml', '-o', 'pre', '--redis', url]);
    expect(sub.code, sub.out).toBe(0);
    expect(sub.out).toContain('6 job(s) added');

    const victim = worker();
    await until('the first worker to take case_0', () => /\] (preprocess-case_0-\S+): started/.test(victim.log()), 60_000, victim.log);
    victim.proc.kill('SIGKILL');
    await victim.exit;
    const taken = victim.log().match(/\] (preprocess-case_0-\S+): started/)![1]!;
    expect(victim.log()).not.toContain(`${taken}: done`);
    // The kill landed inside the job: Redis still holds it as running (not done), nothing is done.
    expect(await stateOf(taken)).toBe('active');
    const at = await mnxc(['queue', 'status', '--redis', url]);
    expect(at.stdout, at.out).toMatch(/preprocess\s+5\s+1\s+0\s+0/);

    const others = [worker(), worker()];
    const single = mnxc(['preprocess', ds, '--plans', 'plans.yaml', '-o', 'single', '--workers', '0']);
    const waited = await mnxc(['queue', 'wait', '--redis', url, '--timeout', '90']);
    const logs = () => [victim, ...others].map((w) => w.log()).join('\n---\n');
    expect(waited.code, waited.out + logs()).toBe(0);
    expect(waited.stdout).toMatch(/preprocess\s+0\s+0\s+6\s+0/);
    // Every case done exactly once, the killed one by a survivor, after its lock expired.
    const counts = doneCounts(others);
    expect([...counts.values()], logs()).toEqual([1, 1, 1, 1, 1, 1]);
    expect(counts.get(taken)).toBe(1);
    expect(others.filter((w) => w.log().includes(`${taken}: started`)).length).toBe(1);

    expect((await single).code).toBe(0);
    const files = (dir: string) => readdirSync(join(root, dir)).filter((f) => !f.startsWith('.')).sort();
    expect(files('pre')).toEqual(files('single'));
    expect(files('pre')).toContain('splits_final.json');
    for (const f of files('pre')) expect(readFileSync(join(root, 'pre', f)).equals(readFileSync(join(root, 'single', f))), f).toBe(true);
    for (const w of others) w.proc.kill('SIGTERM');
    expect(await Promise.all(others.map((w) => w.exit))).toEqual([0, 0]);
  }, 150_000);
});
