/**
 * Issue 19, items 3 and 4 with real signals: SIGTERM is answered within one training iteration
 * (checkpoint_latest saved mid-epoch, exit 130), and a SIGKILL at a random moment of a run loses
 * nothing: `--continue` (or a fresh start when no checkpoint was saved yet) ends with the weights
 * of an uninterrupted run, bit for bit.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTrainingData, mnxcSpawn, mnxcSync } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-signals-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let trainArgs: (run: string, ...extra: string[]) => string[];
beforeAll(async () => {
  ({ trainArgs } = await makeTrainingData(root));
}, 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('signals during training', () => {
  it('SIGTERM mid-epoch stops within one iteration with checkpoint_latest saved', async () => {
    const run = join(root, 'term');
    // one long epoch: the old loop only noticed the signal at the end of it
    const p = mnxcSpawn(trainArgs(run, '--epochs', '1', '--iterations', '200'));
    await p.waitFor(/^backend /m);
    await sleep(2500);
    const sent = performance.now();
    p.child.kill('SIGTERM');
    const r = await p.done;
    const seconds = (performance.now() - sent) / 1000;
    expect(r.code, r.err).toBe(130);
    const m = /stopped at epoch 0, iteration (\d+);/.exec(r.err);
    expect(m, r.err).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(200);
    const ck = JSON.parse(readFileSync(join(run, 'fold_all', 'checkpoint_latest.json'), 'utf8'));
    expect(ck).toMatchObject({ epoch: 0, iteration: Number(m![1]) });
    expect(seconds).toBeLessThan(30); // an iteration here is well under a second (even on a loaded machine); 200 of them are not
  });

  it('SIGKILL at a random moment: continuing ends bit-identical to an uninterrupted run', async () => {
    const ref = mnxcSync(trainArgs(join(root, 'ref')));
    expect(ref.code, ref.err).toBe(0);
    const reference = readFileSync(join(root, 'ref', 'fold_all', 'checkpoint_final.weights.safetensors'));
    const run = join(root, 'kill');
    const delay = 500 + Math.floor(Math.random() * 5000);
    const p = mnxcSpawn(trainArgs(run));
    await p.waitFor(/^backend /m);
    await sleep(delay);
    p.child.kill('SIGKILL');
    const killed = await p.done;
    const hasCheckpoint = existsSync(join(run, 'fold_all', 'checkpoint_latest.json'));
    const again = hasCheckpoint ? mnxcSync(trainArgs(run, '--continue')) : mnxcSync(trainArgs(run, '--force'));
    expect(again.code, `killed ${delay} ms after start (${killed.signal ?? killed.code}); ${again.err}`).toBe(0);
    expect(readFileSync(join(run, 'fold_all', 'checkpoint_final.weights.safetensors')).equals(reference), `killed ${delay} ms after start`).toBe(true);
  });
});
