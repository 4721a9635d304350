/** The checkpoint reader's error type lives with the runtime's others (runtime/errors.ts). */
export { CheckpointError } from '../errors.js';
