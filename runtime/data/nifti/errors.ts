import { UserError } from '../../../cli/errors.js';

/**
 * A NIfTI file that cannot be read or written. It is a UserError, so the CLI prints the message
 * (which names the file and the problem) and exits 1 without a stack trace, whichever command
 * hit the bad file.
 */
export class NiftiError extends UserError {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'NiftiError';
  }
}
