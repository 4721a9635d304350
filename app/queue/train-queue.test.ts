import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { runMnxc, startWorker, until } from '../../tests/queue-workers.js';
import { startRedis, type TestRedis } from '../../tests/redis.js';
import { syntheticCase, writeTestDataset } from '../../runtime/data/dataset/index.js';
import { defaultPlans, savePlans } from '../../runtime/data/plan/index.js';

/**
 * Preprocessing and training through the queue with a real Redis and real workers: five cases
 * preprocessed as five jobs (the last one writes splits_final.json), then one fold trained by a
 * worker that is stopped with SIGTERM after its second epoch (it saves checkpoint_latest and hands
 * the fold back without using an attempt) and finished by a second worker that resumes from it.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-queue-train-'));
let redis: TestRedis | undefined;
const procs: ChildProcess[] = [];

const mnxc = (args: string[]) => runMnxc(root, args);
const worker = () => startWorker(root, redis!.url, 10_000, procs);

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
  savePlans(join(root, 'plans.yaml'), plans);
}, 30_000);

afterAll(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('mnxc queue: preprocess and train jobs', () => {
  it('preprocesses case by case, then trains a fold that is stopped and resumed from checkpoint_latest', async () => {
    const url = redis!.url;
    const sub = await mnxc(['queue', 'submit', 'preprocess', 'ds', '--plans', 'plans.yaml', '-o', 'pre', '--redis', url]);
    expect(sub.code, sub.out).toBe(0);
    expect(sub.out).toContain('5 job(s) added');
    const a = worker();
    const waited = await mnxc(['queue', 'wait', '--redis', url, '--timeout', '60']);
    expect(waited.code, waited.out + a.log()).toBe(0);
    expect(readdirSync(join(root, 'pre')).filter((f) => f.endsWith('.json')).sort()).toEqual(['case_0.json', 'case_1.json', 'case_2.json', 'case_3.json', 'case_4.json', 'splits_final.json']);

    const train = ['queue', 'submit', 'train', 'pre', '--fold', '0', '-o', 'run', '--spec', join(ROOT, 'examples', 'tiny.mnx'), '--set', 'n_classes=3', '--epochs', '6', '--iterations', '2', '--val-iterations', '1', '--workers', '1', '--redis', url];
    expect((await mnxc(train)).code).toBe(0);
    await until('the second epoch', () => /epoch 2\/6/.test(a.log()), 60_000);
    a.proc.kill('SIGTERM');
    expect(await a.exit, a.log()).toBe(0);
    expect(a.log()).toMatch(/train-fold_0-\S+: handed back/);
    expect(existsSync(join(root, 'run', 'fold_0', 'checkpoint_latest.json'))).toBe(true);
    expect(existsSync(join(root, 'run', 'fold_0', 'checkpoint_final.json'))).toBe(false);

    const b = worker();
    const done = await mnxc(['queue', 'wait', '--redis', url, '--timeout', '90']);
    expect(done.code, done.out + b.log()).toBe(0);
    expect(b.log()).toMatch(/resuming from checkpoint_latest/);
    expect(b.log()).toMatch(/started \(attempt 1\)/); // handing back used no attempt
    expect(existsSync(join(root, 'run', 'fold_0', 'checkpoint_final.json'))).toBe(true);
    expect(done.out).toMatch(/train\s+0\s+0\s+1\s+0/);
    b.proc.kill('SIGTERM');
    expect(await b.exit).toBe(0);
  }, 180_000);
});
