/** Setup's error type lives with the runtime's others (runtime/errors.ts). */
export { SetupError } from '../errors.js';
