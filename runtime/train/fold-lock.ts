/**
 * One training per fold folder at a time. `fold.lock` names the host, process and start time of the
 * training that holds it; it is created whole (written aside, then hard-linked into place, which
 * fails when a lock is there) and removed when the training ends. A lock of a process that no
 * longer runs on this host is stale and taken over; a lock of another host is reported, never
 * broken (its process cannot be checked from here).
 */
import { hostname } from 'node:os';
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../io/atomic.js';

import { FoldLockError } from '../errors.js';

export { FoldLockError };

export interface LockOwner {
  host: string;
  pid: number;
  started: string;
  command?: string;
  /** The queue job (mnxc worker) that holds the lock, if any. */
  job?: string;
}

export const LOCK_FILE = 'fold.lock';

export interface FoldLock {
  path: string;
  owner: LockOwner;
  /** A stale lock that was taken over (its owner), if any. */
  tookOverFrom: LockOwner | null;
  /**
   * Throws FoldLockError if `fold.lock` no longer names this training (another one took the fold
   * over: a queue job whose Redis lock expired while its worker was still alive, then handed to a
   * worker on another host). The trainer calls it before every checkpoint and progress write, so
   * the training that lost the fold stops without overwriting the one that now holds it.
   */
  check(): void;
  release(): void;
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return typeof o.host === 'string' && Number.isInteger(o.pid) ? o : null;
  } catch {
    return null;
  }
}

/**
 * `job`: the queue job taking the fold. A lock left by the same job on another host is taken over:
 * the queue handed the job on only after that worker's lock in Redis expired (it died or lost
 * its machine), which is the evidence of death that a process id on another host cannot give.
 */
export function acquireFoldLock(foldDir: string, command = process.argv.slice(2).join(' '), job?: string): FoldLock {
  mkdirSync(foldDir, { recursive: true });
  const path = join(foldDir, LOCK_FILE);
  const owner: LockOwner = { host: hostname(), pid: process.pid, started: new Date().toISOString(), command, ...(job ? { job } : {}) };
  const tmp = join(foldDir, `.${LOCK_FILE}.${process.pid}.${Date.now()}.tmp`);
  writeFileSync(tmp, JSON.stringify(owner, null, 2) + '\n');
  let tookOverFrom: LockOwner | null = null;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      }
      const held = readOwner(path);
      const sameJobElsewhere = held !== null && job !== undefined && held.job === job && held.host !== owner.host;
      if (held && held.host !== owner.host && !sameJobElsewhere)
        throw new FoldLockError(`${foldDir}: locked by process ${held.pid} on host ${held.host} (since ${held.started}); wait for that training to end, or delete ${path} if it is gone`);
      if (held && held.host === owner.host && processAlive(held.pid))
        throw new FoldLockError(`${foldDir}: is being trained by process ${held.pid} (since ${held.started}${held.command ? `: mnxc ${held.command}` : ''}); wait for it to end or stop it first`);
      // the owner is gone (killed; or its queue job's lock expired on another host), or the lock is unreadable: stale
      tookOverFrom = held ?? { host: owner.host, pid: -1, started: 'unknown' };
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const held = readOwner(path);
    if (held && held.pid === owner.pid && held.host === owner.host) rmSync(path, { force: true });
  };
  process.on('exit', release);
  const check = () => {
    const held = readOwner(path);
    if (held && held.host === owner.host && held.pid === owner.pid && held.started === owner.started) return;
    const who = held ? `process ${held.pid} on host ${held.host} (since ${held.started}${held.job ? `, queue job ${held.job}` : ''})` : 'nobody (the lock file is gone)';
    throw new FoldLockError(`${foldDir}: this training no longer holds the fold's lock — it is held by ${who}; stopping without writing (the fold's files are the other training's now)`);
  };
  return { path, owner, tookOverFrom, check, release };
}

/**
 * What a fresh start of a fold supersedes: its checkpoints (and their copies aside), progress
 * files and log. Called with the fold's lock held.
 */
export function clearFold(foldDir: string): string[] {
  if (!existsSync(foldDir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(foldDir)) {
    if (/^\.?checkpoint_\w+(\.prev$|\.weights\.safetensors$|\.state\.safetensors$|\.json$)/.test(name) || ['progress.json', 'progress.svg', 'training_log.txt'].includes(name)) {
      rmSync(join(foldDir, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

/**
 * A run folder's model.ir.json and plans.yaml are shared by its folds, and `predict` ensembles the
 * folds through them. Training a fold with another network or other preprocessing would change
 * what the other folds' weights mean, so it is refused (whatever --force says) while another fold
 * holds a checkpoint; `sameNetwork` and `samePreprocessing` compare the run's files with the new ones.
 */
export function checkSharedRunFiles(runDir: string, fold: string, sameNetwork: () => boolean, samePreprocessing: () => boolean): void {
  if (!existsSync(runDir)) return;
  const others = readdirSync(runDir).filter((n) => /^fold_(\d+|all)$/.test(n) && n !== `fold_${fold}` && readdirSync(join(runDir, n)).some((f) => /^checkpoint_\w+\.json$/.test(f)));
  if (others.length === 0) return;
  const what = [existsSync(join(runDir, 'model.ir.json')) && !sameNetwork() ? 'another network (spec or --set)' : '', existsSync(join(runDir, 'plans.yaml')) && !samePreprocessing() ? 'other preprocessing or labels (plans)' : ''].filter(Boolean);
  if (what.length > 0)
    throw new FoldLockError(`${runDir}: ${others.join(', ')} ${others.length > 1 ? 'were' : 'was'} trained with ${what.length ? 'a different setup' : ''}: this fold would use ${what.join(' and ')}, and the run's shared model.ir.json/plans.yaml would no longer match ${others.length > 1 ? 'them' : 'it'}; train into another run folder (-o)`);
}
