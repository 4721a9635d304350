import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { until } from '../../tests/queue-workers.js';
import { startRedis, type TestRedis } from '../../tests/redis.js';
import { useBackend } from '../../runtime/backend.js';
import { writeTestCase, type TestCaseSpec } from '../../runtime/data/dataset/index.js';
import { writeTestRunFolder } from '../testing.js';
import { jobId } from './jobs.js';

/**
 * The queue end to end with a real Redis (Debian's redis-server, started here on a free loopback
 * port) and real worker processes (`node bin/mnxc.js worker`): four small cases and one broken
 * NIfTI are submitted as predict jobs, and an evaluation of their folder after them; three workers
 * take them: the first is SIGKILLed while it holds a job, whose lock then expires and another
 * worker predicts the case. Every label map must equal `mnxc predict`'s byte for byte, the broken
 * case must fail (after its bounded retries) with its reason, the others must not be stopped by it,
 * and the evaluation must wait for the predictions and equal `mnxc evaluate`'s.
 */
const LOCK_MS = 10_000;

function makeCase(id: string, shape: [number, number, number], phase: number): TestCaseSpec {
  const [X, Y, Z] = shape;
  const a = new Float32Array(X * Y * Z);
  const label = new Uint8Array(X * Y * Z);
  for (let k = 0; k < Z; k++)
    for (let j = 0; j < Y; j++)
      for (let i = 0; i < X; i++) {
        const d = Math.hypot(i - X / 2, j - Y / 2, k - Z / 2);
        a[i + X * (j + Y * k)] = 40 + 30 * Math.sin(i * 0.7 + phase) + (d < 4 ? 90 : 0);
        label[i + X * (j + Y * k)] = d < 2 ? 2 : d < 4 ? 1 : 0;
      }
  return { id, shape, channels: [a], label, affine: [[1.2, 0, 0, -10], [0, 1.2, 0, 4], [0, 0, 2, 3], [0, 0, 0, 1]] };
}

const root = mkdtempSync(join(tmpdir(), 'mnxc-queue-'));
const runDir = join(root, 'run');
const images = join(root, 'imagesTs');
const CASES = ['c0', 'c1', 'c2', 'c3'];
let redis: TestRedis | undefined;
let url = '';
const workers: { proc: ChildProcess; log: string[]; exit: Promise<number | null> }[] = [];

function mnxc(args: string[]) {
  return spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { cwd: root, encoding: 'utf8' });
}

function startWorker() {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'worker', '--redis', url, '--backend', 'cpu', '--lock-duration', String(LOCK_MS)], { cwd: root });
  const log: string[] = [];
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => log.push(...d.split('\n').filter(Boolean)));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const w = { proc, log, exit };
  workers.push(w);
  return w;
}

beforeAll(async () => {
  redis = await startRedis();
  url = redis.url;

  await useBackend('cpu');
  writeTestRunFolder(runDir, {
    spec: join(ROOT, 'examples', 'tiny.mnx'),
    set: ['in_channels=1', 'n_classes=3'],
    channels: ['CT'],
    labels: { '0': 'background', '1': 'organ', '2': 'core' },
    patch: [16, 16, 16],
    targetSpacing: [1.5, 1.5, 2],
    folds: { '0': 5 },
  });
  CASES.forEach((id, i) => writeTestCase(root, makeCase(id, [18 + i, 20, 12], i)));
  mkdirSync(images, { recursive: true });
  for (const id of CASES) writeFileSync(join(images, `${id}_0000.nii.gz`), readFileSync(join(root, 'imagesTr', `${id}_0000.nii.gz`)));
  writeFileSync(join(images, 'broken_0000.nii.gz'), 'this is not a NIfTI file');
}, 60_000);

afterAll(async () => {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('mnxc queue + mnxc worker on a real Redis', () => {
  it('job ids are a hash of the kind and the inputs', () => {
    expect(jobId('predict', 'a', { x: 1, y: [2] })).toBe(jobId('predict', 'a', { y: [2], x: 1 }));
    expect(jobId('predict', 'a', { x: 1 })).not.toBe(jobId('predict', 'a', { x: 2 }));
    expect(jobId('predict', 'a', { x: 1 })).not.toBe(jobId('train', 'a', { x: 1 }));
  });

  it('predicts every case once, survives a SIGKILLed worker, fails the broken case alone, equals mnxc predict byte for byte', async () => {
    const t0 = Date.now();
    const submit = ['queue', 'submit', 'predict', '-i', 'imagesTs', '-o', 'queued', '-m', 'run', '--redis', url, '--attempts', '2'];
    const s1 = mnxc(submit);
    expect(s1.status, s1.stderr).toBe(0);
    expect(s1.stdout).toContain('5 job(s) added');
    const s2 = mnxc(submit);
    expect(s2.stdout).toContain('0 job(s) added, 5 already queued or done');
    // The evaluation of that folder, submitted while its predictions are queued: it waits for them.
    const evaluate = ['queue', 'submit', 'evaluate', '--pred', 'queued', '--ref', 'labelsTr', '-o', 'eval/summary.json', '--redis', url];
    const e1 = mnxc(evaluate);
    expect(e1.status, e1.stderr).toBe(0);
    expect(e1.stdout).toContain('evaluate: 1 job(s) added');

    const victim = startWorker();
    // The victim holds a case's job: kill it there, then start the three that finish the batch.
    const holding = (l: string) => /\] predict-c\d-\S+: started/.test(l);
    await until('the first worker to take a good case', () => victim.log.some(holding), 30_000);
    const taken = victim.log.find(holding)!.match(/\] (\S+): started/)![1]!;
    victim.proc.kill('SIGKILL');
    const killedAt = Date.now();
    for (let i = 0; i < 2; i++) startWorker();
    // Meanwhile the single-machine command, on the same backend.
    const single = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'predict', '-i', 'imagesTs', '-o', 'single', '-m', 'run', '--backend', 'cpu'], { cwd: root, stdio: 'ignore' });
    const singleExit = new Promise<number | null>((r) => single.once('exit', r));

    const wait = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'queue', 'wait', '--redis', url, '--timeout', '90'], { cwd: root });
    let waitOut = '';
    wait.stdout!.setEncoding('utf8').on('data', (d: string) => (waitOut += d));
    const waitCode = await new Promise<number | null>((r) => wait.once('exit', r));
    const batchSeconds = (Date.now() - t0) / 1000;
    expect(waitCode, waitOut).toBe(1); // the broken case failed for good
    expect(waitOut).toMatch(/predict\s+0\s+0\s+4\s+1/);
    expect(waitOut).toMatch(/evaluate\s+0\s+0\s+1\s+0/);
    expect(waitOut).toMatch(/failed: predict-broken-\S+ after 2 attempt\(s\): .*broken_0000\.nii\.gz/);

    // The killed worker's job was done by another worker, after its lock expired.
    const survivors = workers.slice(1);
    const doneBy = survivors.filter((w) => w.log.some((l) => l.includes(`${taken}: done`)));
    expect(doneBy.length, workers.map((w) => w.log.join('\n')).join('\n---\n')).toBe(1);
    expect(Date.now() - killedAt).toBeGreaterThan(LOCK_MS - 500);

    expect(await singleExit).toBe(1); // mnxc predict also reports the broken case, after writing the others
    // Nothing for the broken case, no temporary file left but (should the kill have landed mid-write) the killed worker's own.
    const queued = readdirSync(join(root, 'queued')).filter((f) => !f.includes(`.${victim.proc.pid}.`)).sort();
    expect(queued).toEqual(CASES.map((c) => `${c}.nii.gz`));
    for (const c of CASES) expect(readFileSync(join(root, 'queued', `${c}.nii.gz`)).equals(readFileSync(join(root, 'single', `${c}.nii.gz`))), c).toBe(true);

    // The evaluation ran on the four label maps written, and equals mnxc evaluate's.
    const single_eval = mnxc(['evaluate', '--pred', 'queued', '--ref', 'labelsTr', '-o', 'single-summary.json']);
    expect(single_eval.status, single_eval.stderr).toBe(0);
    const queuedSummary = JSON.parse(readFileSync(join(root, 'eval', 'summary.json'), 'utf8'));
    const singleSummary = JSON.parse(readFileSync(join(root, 'single-summary.json'), 'utf8'));
    expect(queuedSummary.cases.length).toBe(4);
    expect({ cases: queuedSummary.cases, mean: queuedSummary.mean }).toEqual({ cases: singleSummary.cases, mean: singleSummary.mean });
    expect(readFileSync(join(root, 'eval', 'summary.csv'), 'utf8')).toBe(readFileSync(join(root, 'single-summary.csv'), 'utf8'));

    const status = mnxc(['queue', 'status', '--redis', url]);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/predict\s+0\s+0\s+4\s+1/);

    // SIGTERM: the idle workers exit cleanly.
    for (const w of survivors) w.proc.kill('SIGTERM');
    expect(await Promise.all(survivors.map((w) => w.exit))).toEqual([0, 0]);
    process.stderr.write(`queue test: batch of 5 predict jobs with a killed worker in ${batchSeconds.toFixed(1)} s\n`);
  }, 120_000);
});
