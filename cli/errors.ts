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
