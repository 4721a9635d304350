import { MnxError } from '../runtime/errors.js';

/**
 * The application layer's errors. Like the runtime's (runtime/errors.ts), they say what is wrong
 * and with which file; only the CLI (cli/errors.ts, `exitCodeFor`) turns them into exit codes.
 */

/** A job's input is wrong: a run folder, a network, a preprocessed folder, plans for a run (exit 1). */
export class JobError extends MnxError {}

/** A job's options contradict each other or name what does not exist (the CLI's usage error, exit 2). */
export class JobOptionsError extends Error {}
