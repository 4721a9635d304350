import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

/** One `mnxc` sub-command. `run` returns the process exit code. */
export interface Command {
  name: string;
  /** One line for `mnxc --help`. */
  summary: string;
  /** Full help text printed by `mnxc NAME --help`. */
  help: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with usage errors instead of exceptions, and `--help` handled by the caller. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** An integer option (`--epochs 5`): undefined when absent; a UsageError below `min` or not whole. */
export function intArg(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} expects a whole number ≥ ${min}, got '${v}'`);
  return n;
}
