import { accessSync, constants, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

import { OutputError } from '../errors.js';

export { OutputError };

const TMP = /^\.(.+)\.(\d+)\.(\d+)\.tmp$/;

/**
 * Writes a file so that readers see either the old content or the whole new one, never a
 * half-written file: write to a temporary name in the same folder, then rename over the target.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The temporary files `writeFileAtomic` leaves in `dir` when its process is killed mid-write. */
export function strayTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => TMP.test(n)).map((n) => join(dir, n));
}

/** Removes the stray temporary files of processes that are no longer running (all when `all`). */
export function removeStrayTempFiles(dir: string, all = false): string[] {
  const removed: string[] = [];
  for (const path of strayTempFiles(dir)) {
    const pid = Number(TMP.exec(basename(path))![2]);
    if (!all && pid !== process.pid && processAlive(pid)) continue;
    if (pid === process.pid && !all) continue;
    rmSync(path, { force: true, recursive: true });
    removed.push(path);
  }
  return removed;
}

/** Whether a process with this id runs on this machine (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes sure `dir` exists (creating it) and that files can be created in it, before any work whose
 * result would go there; OutputError naming the folder otherwise.
 */
export function ensureWritableDir(dir: string, what = 'output folder'): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new OutputError(`${dir}: cannot create the ${what} (${describeErrno(e)}); choose another folder or fix its permissions`);
  }
  if (!statSync(dir).isDirectory()) throw new OutputError(`${dir}: the ${what} is not a folder`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    // access() can pass where writing fails (read-only mounts, ACLs): try a real file too.
    const probe = join(dir, `.mnxc-write-probe.${process.pid}.${Date.now()}.tmp`);
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (e) {
    throw new OutputError(`${dir}: cannot write to the ${what} (${describeErrno(e)}); choose another folder or fix its permissions`);
  }
}

/** 'EACCES: permission denied' from a Node file-system error. */
export function describeErrno(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    ENOENT: 'no such file or folder',
    ENOTDIR: 'a part of the path is not a folder',
    EISDIR: 'is a folder',
    EEXIST: 'already exists',
    ELOOP: 'too many levels of symbolic links',
    EMFILE: 'too many open files',
  };
  return err.code ? `${err.code}: ${reasons[err.code] ?? err.message}` : (err.message ?? String(e));
}
