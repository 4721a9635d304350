import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { startRedis, type TestRedis } from '../../tests/redis.js';
import { runMnxc, startWorker, until, type TestWorker } from '../../tests/queue-workers.js';
import { syntheticCase, writeTestDataset } from '../../runtime/data/dataset/index.js';
import { defaultPlans, savePlans } from '../../runtime/data/plan/index.js';
import { connect, QUEUE_NAME } from './queue.js';

/**
 * Two folds trained through the queue by two worker processes on a real Redis; the worker of fold 0
 * is SIGKILLed in the middle of its fold (the job running, checkpoint_latest past epoch 2). A third
 * worker takes the fold up once its lock has expired, takes over the dead worker's fold lock and
 * resumes from the epoch checkpoint_latest held (not from the start); both folds finish with every
 * epoch once in their history. A long test (about a minute and a half on two loaded cores): the
 * lock must outlast one training iteration on a loaded machine, and the fold waits for it to expire.
 */
const LOCK_MS = 10_000;
const EPOCHS = 5;
const root = mkdtempSync(join(tmpdir(), 'mnxc-queue-train-kill-'));
let redis: TestRedis | undefined;
const procs: ChildProcess[] = [];

const mnxc = (args: string[]) => runMnxc(root, args);
type W = TestWorker;
const worker = (): W => startWorker(root, redis!.url, LOCK_MS, procs);

/** A job's state as Redis has it ('active': some worker holds its lock, 'completed', …). */
async function stateOf(id: string): Promise<string> {
  const conn = connect(redis!.url);
  const q = new Queue(QUEUE_NAME, { connection: conn });
  try {
    const j = await q.getJob(id);
    return j ? await j.getState() : 'missing';
  } finally {
    await q.close();
    conn.disconnect();
  }
}

beforeAll(async () => {
  redis = await startRedis();
  writeTestDataset(join(root, 'ds'), {
    channelNames: ['CT'],
    labels: { background: 0, a: 1, b: 2 },
    cases: [0, 1, 2, 3, 4].map((i) => syntheticCase(`case_${i}`, [20, 20, 12], 1, i + 1)),
  });
  const plans = defaultPlans({
    dataset: { name: 'test', channels: ['CT'], labels: { '0': 'background', '1': 'a', '2': 'b' }, num_training: 5 },
    target_spacing: [1, 1, 1],
    normalization: [{ channel: 0, name: 'CT', scheme: 'zscore', use_nonzero_mask: false }],
    median_shape: [12, 20, 20],
    patch_size: [16, 16, 16],
  });
  plans.training.checkpoint_every = 1;
  savePlans(join(root, 'plans.yaml'), plans);
  const pre = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'preprocess', 'ds', '--plans', 'plans.yaml', '-o', 'pre', '--workers', '0'], { cwd: root, encoding: 'utf8' });
  expect(pre.status, pre.stderr).toBe(0);
}, 60_000);

afterAll(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('mnxc worker killed mid-fold (SIGKILL)', () => {
  it('two folds, the worker of one killed mid-fold: another worker resumes it from checkpoint_latest; both finish', async () => {
    const url = redis!.url;
    const sub = await mnxc(['queue', 'submit', 'train', 'pre', '--fold', '0,1', '-o', 'run', '--spec', join(ROOT, 'examples', 'tiny.mnx'), '--set', 'n_classes=3',
      '--epochs', String(EPOCHS), '--iterations', '2', '--val-iterations', '1', '--workers', '0', '--no-validation', '--redis', url]);
    expect(sub.code, sub.out).toBe(0);
    expect(sub.out).toContain('2 job(s) added');
    const a = worker();
    const b = worker();
    // Kill the worker of fold 0 once its fold has saved a checkpoint_latest past the first epoch.
    const latest = join(root, 'run', 'fold_0', 'checkpoint_latest.json');
    const epochOf = () => (JSON.parse(readFileSync(latest, 'utf8')) as { epoch: number }).epoch;
    const holder = () => [a, b].find((w) => /\] train-fold_0-\S+: started/.test(w.log()));
    await until('fold 0 past its second epoch', () => holder() !== undefined && existsSync(latest) && epochOf() >= 2, 120_000, () => a.log() + b.log());
    const victim = holder()!;
    const foldJob = victim.log().match(/\] (train-fold_0-\S+): started/)![1]!;
    const other = victim === a ? b : a;
    expect(await stateOf(foldJob), victim.log() + '\n---\n' + other.log()).toBe('active'); // killed mid-fold: the job is running, not done
    victim.proc.kill('SIGKILL');
    await victim.exit;
    expect(victim.log()).not.toMatch(/train-fold_0-\S+: (done|handed back)/);
    expect(['active', 'waiting']).toContain(await stateOf(foldJob)); // held by the dead worker until its lock expires, then back in the queue
    expect(existsSync(join(root, 'run', 'fold_0', 'fold.lock'))).toBe(true);
    const savedEpoch = epochOf();
    expect(savedEpoch).toBeGreaterThanOrEqual(2);
    expect(savedEpoch).toBeLessThan(EPOCHS);

    const c = worker();
    const waited = await mnxc(['queue', 'wait', '--redis', url, '--timeout', '150']);
    const logs = () => [victim, other, c].map((w) => w.log()).join('\n---\n');
    expect(waited.code, waited.out + logs()).toBe(0);
    expect(waited.stdout).toMatch(/train\s+0\s+0\s+2\s+0/);
    // Fold 0 was taken up by a survivor that resumed it (not restarted) from the epoch the checkpoint held.
    const resumer = [other, c].filter((w) => /train-fold_0-\S+: fold 0: resuming from checkpoint_latest/.test(w.log()));
    expect(resumer.length, logs()).toBe(1);
    // (a kill inside the checkpoint's write rolls it back to the previous whole one, one epoch earlier)
    const rolledBack = /checkpoint_latest was half-saved/.test(resumer[0]!.log());
    expect(resumer[0]!.log()).toContain(`continuing from epoch ${rolledBack ? savedEpoch - 1 : savedEpoch}`);
    expect(resumer[0]!.log()).toMatch(/took over the stale lock of process \d+/);
    expect(resumer[0]!.log()).not.toMatch(new RegExp(`train-fold_0-\\S+: epoch 1/${EPOCHS}:`));
    for (const f of ['fold_0', 'fold_1']) {
      expect(existsSync(join(root, 'run', f, 'checkpoint_final.json')), f).toBe(true);
      expect(existsSync(join(root, 'run', f, 'fold.lock')), f).toBe(false);
      const progress = JSON.parse(readFileSync(join(root, 'run', f, 'progress.json'), 'utf8')) as { history: { epoch: number }[] };
      expect(progress.history.map((h) => h.epoch), f).toEqual(Array.from({ length: EPOCHS }, (_, e) => e));
    }
    for (const w of [other, c]) w.proc.kill('SIGTERM');
    expect(await Promise.all([other.exit, c.exit])).toEqual([0, 0]);
  }, 240_000);
});
