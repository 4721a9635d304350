import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTestRunFolder } from '../../app/testing.js';
import { queueStatus, type QueueStatus } from '../../app/queue/queue.js';
import { useBackend } from '../../runtime/backend.js';
import { syntheticCase, writeTestCase } from '../../runtime/data/dataset/index.js';
import { savePlans } from '../../runtime/data/plan/index.js';
import { makePreprocessedSpheres } from '../../runtime/train/testing.js';
import { mnxcInProcess as mnxc } from '../../tests/cli.js';
import { startRedis, type TestRedis } from '../../tests/redis.js';

/**
 * `mnxc queue submit` checks every input before it puts anything on the queue (a real Redis):
 * a missing folder or file, a fold the splits do not have, a checkpoint the run lacks, a spec that
 * does not exist, a fold that holds a run without --continue or --force → an error naming the file
 * or option (exit 1; 2 for an option that contradicts the data, as the single-machine command),
 * no stack trace, and the queue left as it was. What passes is queued once.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-cli-queue-'));
let redis: TestRedis | undefined;
let url = '';
let pre = '';
const run = join(root, 'run');

function total(s: QueueStatus): number {
  return Object.values(s.kinds).reduce((a, k) => a + k.waiting + k.active + k.done + k.failed, 0);
}

async function refused(args: string[], names: RegExp, code = 1): Promise<void> {
  const before = total(await queueStatus(url));
  const r = await mnxc('queue', 'submit', ...args, '--redis', url);
  expect(r.code, `${args.join(' ')}\n${r.out}${r.err}`).toBe(code);
  expect(r.err).toMatch(/^mnxc queue: (error: )?/m);
  expect(r.err).toMatch(names);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(total(await queueStatus(url))).toBe(before);
}

beforeAll(async () => {
  redis = await startRedis();
  url = redis.url;
  await useBackend('cpu');
  const made = await makePreprocessedSpheres(root, 5, 20);
  pre = made.dir;
  savePlans(join(pre, 'plans.yaml'), { ...made.plans, model: { spec: resolve('examples/tiny.mnx'), set: {} } });
  writeTestRunFolder(run, {
    spec: resolve('examples/tiny.mnx'),
    set: ['in_channels=1', 'n_classes=3'],
    channels: ['CT'],
    labels: { '0': 'background', '1': 'organ', '2': 'core' },
    patch: [16, 16, 16],
    targetSpacing: [1.5, 1.5, 2],
    folds: { '0': 5 },
  });
  const c = syntheticCase('c0', [18, 20, 12], 1, 1);
  writeTestCase(root, c);
  writeTestCase(join(root, 'ts'), { ...c, label: null });
}, 120_000);

afterAll(() => {
  redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('mnxc queue submit: inputs checked before anything is queued', () => {
  it('predict: an absent checkpoint, a fold the run lacks, a missing folder', async () => {
    const base = ['predict', '-i', join(root, 'ts', 'imagesTr'), '-o', join(root, 'out'), '--redis', url];
    await refused([...base, '-m', run, '--checkpoint', 'best'], /fold_0.*checkpoint_best/);
    await refused([...base, '-m', run, '--folds', '3'], /fold.*3/);
    await refused([...base, '-m', join(root, 'no-run')], /no-run/);
    await refused(['predict', '-i', join(root, 'no-images'), '-o', join(root, 'out'), '-m', run], /no-images/);
    await refused(['predict', '-i', join(root, 'ts', 'imagesTr'), '-m', run], /missing -o/, 2);
  });

  it('evaluate: a missing prediction or reference folder, a prediction without its reference', async () => {
    await refused(['evaluate', '--pred', join(root, 'no-pred'), '--ref', join(root, 'labelsTr'), '-o', join(root, 'e.json')], /no-pred/);
    await refused(['evaluate', '--pred', join(root, 'labelsTr'), '--ref', join(root, 'no-ref'), '-o', join(root, 'e.json')], /no-ref/);
    mkdirSync(join(root, 'orphans'), { recursive: true });
    writeTestCase(join(root, 'orphans'), { ...syntheticCase('zz', [8, 8, 8], 1), label: null });
    await refused(['evaluate', '--pred', join(root, 'orphans', 'imagesTr'), '--ref', join(root, 'labelsTr'), '-o', join(root, 'e.json')], /no reference of the same name/);
    await refused(['evaluate', '--pred', join(root, 'labelsTr'), '--ref', join(root, 'labelsTr'), '-o', join(root, 'e.json'), '--labels', join(root, 'no.json')], /no\.json/);
  });

  it('preprocess: a missing plans file or dataset', async () => {
    await refused(['preprocess', root, '--plans', join(root, 'no-plans.yaml')], /no-plans\.yaml/);
    await refused(['preprocess', join(root, 'no-dataset'), '--plans', join(pre, 'plans.yaml')], /no-dataset/);
  });

  it('train: a missing folder, a bad fold, missing weights or spec; a fold holding a run needs --continue or --force', async () => {
    const base = ['train', pre, '-o', join(root, 'trun'), '--epochs', '2', '--iterations', '1'];
    await refused(['train', join(root, 'no-pre'), '--fold', '0', '-o', join(root, 'trun')], /no-pre: no such folder/);
    await refused([...base, '--fold', '7'], /--fold 7: the splits have folds 0\.\.4/, 2);
    await refused([...base, '--fold', '0', '--init', join(root, 'missing.safetensors')], /missing\.safetensors/);
    await refused([...base, '--fold', '0', '--spec', join(root, 'no-such.mnx')], /no-such\.mnx/);
    await refused([...base, '--fold', '0', '--upkern-from', resolve('examples/tiny.mnx')], /--upkern-from needs --init/, 2);
    await refused([...base, '--fold', '0', '--until-epoch', '5'], /--until-epoch 5 is past the last epoch/, 2);
    // fold 1 holds a run (its checkpoint_latest): not without --continue or --force; folds 0 and 1 together: neither is queued
    mkdirSync(join(root, 'trun', 'fold_1'), { recursive: true });
    writeFileSync(join(root, 'trun', 'fold_1', 'checkpoint_latest.json'), '{}\n');
    await refused([...base, '--fold', '0,1'], /fold_1: holds a run already; pass --continue to resume it, or --force/);

    const ok = await mnxc('queue', 'submit', ...base, '--fold', '0,1', '--continue', '--redis', url);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toContain('train: 2 job(s) added');
    const again = await mnxc('queue', 'submit', ...base, '--fold', '0,1', '--continue', '--redis', url);
    expect(again.out).toContain('train: 0 job(s) added, 2 already queued or done');
    const forced = await mnxc('queue', 'submit', ...base, '--fold', '1', '--force', '--redis', url);
    expect(forced.out).toContain('train: 1 job(s) added');
    const s = await queueStatus(url);
    expect(s.kinds.train.waiting).toBe(3);
    expect(total(s)).toBe(3);
  }, 60_000);
});
