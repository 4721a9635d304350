/**
 * The CLI boundary: whatever escapes a command becomes one clear line (what failed, on which file,
 * what to do), never a stack trace; `--debug` prints the trace as well.
 */
import { describeErrno } from '../runtime/io/atomic.js';

const WRITE_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EISDIR', 'EEXIST']);

/** One line (or a few, for multi-case reports) describing `e` for a user. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (err.code && err.path) {
    const verb = err.syscall ? { open: 'open', mkdir: 'create', rename: 'replace', unlink: 'remove', rmdir: 'remove', scandir: 'list', stat: 'read', read: 'read', write: 'write' }[err.syscall] ?? err.syscall : 'use';
    const hint = WRITE_CODES.has(err.code) ? '; check the folder exists and is writable, or choose another output' : '';
    return `${err.path}: cannot ${verb} (${describeErrno(err)})${hint}`;
  }
  if (e instanceof RangeError && /call stack/i.test(e.message)) return `the input is nested too deeply to process (${e.message})`;
  if (e instanceof RangeError && /(Array buffer allocation failed|Invalid typed array length|Invalid array length)/i.test(e.message))
    return `not enough memory for this input (${e.message}); try a smaller input or see --max-memory`;
  return e.message || e.name;
}

/** Removes `--debug` from a command line; true when it was there (or MNXC_DEBUG=1 is set). */
export function takeDebugFlag(argv: string[]): boolean {
  let debug = process.env.MNXC_DEBUG === '1';
  for (let i = argv.indexOf('--debug'); i >= 0; i = argv.indexOf('--debug')) {
    argv.splice(i, 1);
    debug = true;
  }
  return debug;
}

/** Writes the one-line report of an unexpected failure of `mnxc NAME`; returns the exit code 1. */
export function reportFailure(name: string, e: unknown, debug: boolean): number {
  process.stderr.write(`mnxc ${name}: error: ${describeError(e)}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
  else if (!debug) process.stderr.write(`(run again with --debug for the details)\n`);
  return 1;
}
