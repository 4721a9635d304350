/** NIfTI's error type lives with the runtime's others (runtime/errors.ts). */
export { NiftiError } from '../../errors.js';
