import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireFoldLock, FoldLockError, LOCK_FILE } from './fold-lock.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-fold-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fold.lock and queue jobs', () => {
  it("another host's lock is taken over by the same queue job only (the queue saw that worker's lock expire)", () => {
    const fold = join(root, 'fold_0');
    const left = { host: 'gone.example', pid: 4242, started: 'then', job: 'train-fold_0-abc' };
    acquireFoldLock(fold, 'x').release(); // creates the folder
    writeFileSync(join(fold, LOCK_FILE), JSON.stringify(left));
    expect(() => acquireFoldLock(fold, 'train', 'train-fold_0-other')).toThrow(FoldLockError);
    expect(() => acquireFoldLock(fold, 'train')).toThrow(/locked by process 4242 on host gone\.example/);
    const lock = acquireFoldLock(fold, 'train', 'train-fold_0-abc');
    expect(lock.tookOverFrom).toMatchObject({ host: 'gone.example', pid: 4242 });
    expect(JSON.parse(readFileSync(join(fold, LOCK_FILE), 'utf8'))).toMatchObject({ host: hostname(), pid: process.pid, job: 'train-fold_0-abc' });
    lock.release();
  });

  it('a live process on this host keeps its lock, whatever job asks', () => {
    const fold = join(root, 'fold_1');
    const held = acquireFoldLock(fold, 'first', 'train-fold_1-abc');
    expect(() => acquireFoldLock(fold, 'second', 'train-fold_1-abc')).toThrow(/is being trained by process/);
    held.release();
  });
});
