/**
 * Issue 19, item 2: a fold is locked while it trains (host + process in fold.lock, stale locks
 * taken over, other hosts' locks respected); a run folder refuses a fold trained with another
 * network than its other folds (--force or not); a --force restart removes what it supersedes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK, makeTrainingData, mnxcSpawn, mnxcSync } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let trainArgs: (run: string, ...extra: string[]) => string[];
beforeAll(async () => {
  ({ trainArgs } = await makeTrainingData(root));
}, 60_000);

describe('one training per fold', () => {
  const run = join(root, 'run');
  it('a second training of the same fold is refused while the first runs; the first ends whole', async () => {
    const first = mnxcSpawn(trainArgs(run, '--iterations', '12')); // long enough to be running when the second starts
    await first.waitFor(/^backend /m);
    const lock = JSON.parse(readFileSync(join(run, 'fold_all', 'fold.lock'), 'utf8'));
    expect(lock).toMatchObject({ host: hostname(), pid: first.child.pid });
    const second = mnxcSync(trainArgs(run, '--force'));
    expect(second.code).toBe(1);
    expect(second.err).toMatch(new RegExp(`fold_all: is being trained by process ${first.child.pid}`));
    expect(second.err).not.toMatch(STACK);
    const r = await first.done;
    expect(r.code, r.err).toBe(0);
    expect(existsSync(join(run, 'fold_all', 'fold.lock'))).toBe(false);
    const log = readFileSync(join(run, 'fold_all', 'training_log.txt'), 'utf8');
    expect(log.match(/epoch 1\/2/g)).toHaveLength(1); // one run's log, not two interleaved
  });

  it('another network for another fold of the same run folder is refused, even with --force', () => {
    const r = mnxcSync([...trainArgs(run, '--force', '--spec', 'examples/tiny.mnx', '--set', 'n_channels=3').map((a) => (a === 'all' ? '0' : a))]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/fold_all was trained with a different setup: this fold would use another network/);
    expect(r.err).not.toMatch(STACK);
  });

  it('a stale lock (its process is gone) is taken over; a --force restart removes the old checkpoint_final', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(run, 'fold_all', 'fold.lock'), JSON.stringify({ host: hostname(), pid: Number(dead.stdout), started: 'then' }));
    expect(existsSync(join(run, 'fold_all', 'checkpoint_final.json'))).toBe(true);
    const r = mnxcSync(trainArgs(run, '--force', '--until-epoch', '1'));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(new RegExp(`took over the stale lock of process ${dead.stdout}`));
    expect(existsSync(join(run, 'fold_all', 'checkpoint_final.json'))).toBe(false);
    expect(existsSync(join(run, 'fold_all', 'checkpoint_final.weights.safetensors'))).toBe(false);
    expect(readFileSync(join(run, 'fold_all', 'training_log.txt'), 'utf8').match(/epoch 1\/2/g)).toHaveLength(1);
  });

  it("another host's lock is respected", () => {
    mkdirSync(join(run, 'fold_all'), { recursive: true });
    writeFileSync(join(run, 'fold_all', 'fold.lock'), JSON.stringify({ host: 'elsewhere.example', pid: 1, started: 'then' }));
    const r = mnxcSync(trainArgs(run, '--continue'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/locked by process 1 on host elsewhere\.example/);
  });
});
