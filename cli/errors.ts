import { PlansImportError } from '../compiler/import-plans.js';
import { JobOptionsError } from '../app/errors.js';
import { MnxError } from '../runtime/errors.js';

/**
 * Errors the CLI turns into a message and an exit code, never a stack trace.
 * UsageError: the command line itself is wrong (exit 2).
 * UserError: the input (a file, a dataset, a config) is wrong (exit 1).
 */
export class UsageError extends Error {
  readonly exitCode = 2;
}

export class UserError extends Error {
  readonly exitCode = 1;
}

/**
 * The one place where errors become exit codes: the CLI's own UsageError (2) and UserError (1),
 * the application layer's JobOptionsError (2) and JobError (an MnxError, 1),
 * every error the runtime raises on purpose (runtime/errors.ts: NIfTI, dataset, plans, weights,
 * checkpoint, backend, setup, …) and the plans importer's (1). Anything else is a bug: null, and
 * the caller lets it through with its stack trace.
 */
export function exitCodeFor(e: unknown): 1 | 2 | null {
  if (e instanceof UsageError || e instanceof JobOptionsError) return 2;
  if (e instanceof UserError || e instanceof MnxError || e instanceof PlansImportError) return 1;
  return null;
}
