import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './fixtures.js';

/**
 * Child processes for the queue's kill tests: `mnxc` commands and `mnxc worker`s run from a scratch
 * folder, the way a user on each machine would run them.
 */

/** Runs `mnxc ARGS` in `cwd`; resolves with its exit code, stdout and stderr together, and stdout alone. */
export function runMnxc(cwd: string, args: string[]): Promise<{ code: number | null; out: string; stdout: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { cwd });
    let out = '';
    let stdout = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => ((out += d), (stdout += d)));
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.once('close', (code) => res({ code, out, stdout }));
  });
}

export interface TestWorker {
  proc: ChildProcess;
  log: () => string;
  exit: Promise<number | null>;
}

/** Starts `mnxc worker` on the cpu backend with the given lock duration; the process is added to `procs` (to kill at the end). */
export function startWorker(cwd: string, redisUrl: string, lockMs: number, procs: ChildProcess[]): TestWorker {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'worker', '--redis', redisUrl, '--backend', 'cpu', '--lock-duration', String(lockMs)], { cwd });
  procs.push(proc);
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, log: () => log, exit };
}

/** Polls `cond` every 50 ms; throws naming `what` (and the logs) after `ms`. */
export async function until(what: string, cond: () => boolean, ms: number, logs: () => string = () => ''): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
