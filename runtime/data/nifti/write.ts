import { gzipSync } from 'node:zlib';
import { writeFileAtomic } from '../../io/atomic.js';
import { encodeNifti } from './encode.js';
import type { NiftiImage, WriteNiftiOptions } from './types.js';

/** Writing NIfTI-1 files: encode.ts makes the bytes (no Node I/O there), this writes them. */
export { createImage, defaultHeader, headerForWrite } from './encode.js';

/**
 * Writes `image` to `path` (atomically). Options: `like` (copy its header's codes, units,
 * intent), `dtype` (stored type; integer types round, and refuse values out of range), `gzip`
 * (default: when the name ends in .gz).
 */
export function writeNifti(path: string, image: NiftiImage, options: WriteNiftiOptions = {}): void {
  const whole = encodeNifti(image, options, path);
  const gzip = options.gzip ?? /\.gz$/i.test(path);
  writeFileAtomic(path, gzip ? gzipSync(whole, { level: 6 }) : whole);
}
