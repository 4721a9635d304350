import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { checkExtent, decodeNifti, gunzipHeader, GZIP_SLACK, isGzip, type BoundedGunzip } from './decode.js';
import { NiftiError } from './errors.js';
import { parseHeader, type ParsedHeader } from './header.js';
import type { NiftiImage } from './types.js';

/** Reading NIfTI files: the file access; decoding the bytes is decode.ts's (shared with the browser). */

export { swapBytes } from './decode.js';

function readBytes(path: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new NiftiError(path, 'not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof NiftiError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new NiftiError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (e as Error).message})`);
  }
  if (size === 0) throw new NiftiError(path, 'file is empty');
  try {
    return readFileSync(path);
  } catch (e) {
    throw new NiftiError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Node's zlib (faster than JavaScript), refusing to produce more than the header describes (and the slack). */
const gunzipBoundedNode: BoundedGunzip = (compressed, expected, file) => {
  try {
    // A little slack tolerates padding after the voxels; anything bigger is refused, not buffered.
    return gunzipSync(compressed, { maxOutputLength: expected + GZIP_SLACK });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new NiftiError(file, `gzip data decompresses to more than the ${expected} bytes the header describes (corrupt file or gzip bomb)`);
    }
    const what = err.code === 'Z_BUF_ERROR' ? 'truncated gzip data (unexpected end of file)' : `corrupt gzip data (${err.message})`;
    throw new NiftiError(file, what);
  }
};

/**
 * Reads only the header: the first 64 KiB of the file, voxels untouched. Same header checks as
 * `readNifti`; for uncompressed files also the file length.
 */
export function readNiftiHeader(path: string): ParsedHeader {
  let size: number;
  const prefix = new Uint8Array(65536);
  let got: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new NiftiError(path, 'not a regular file');
    size = st.size;
    const fd = openSync(path, 'r');
    try {
      got = readSync(fd, prefix, 0, prefix.byteLength, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof NiftiError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new NiftiError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (e as Error).message})`);
  }
  if (size === 0) throw new NiftiError(path, 'file is empty');
  const raw = prefix.subarray(0, got);
  const gz = isGzip(raw);
  if (!gz && /\.gz$/i.test(path)) throw new NiftiError(path, 'named .gz but not gzip-compressed (no gzip signature)');
  const parsed = parseHeader(gz ? gunzipHeader(raw, path) : raw, path);
  if (!gz) checkExtent(parsed, size, false, path);
  return parsed;
}

/**
 * Reads a NIfTI-1 or NIfTI-2 file (.nii or .nii.gz; the gzip signature decides, not the name).
 * See `NiftiImage` for the array order and value types. Throws NiftiError naming the file and
 * the problem for anything malformed.
 */
export function readNifti(path: string): NiftiImage {
  return decodeNifti(readBytes(path), path, gunzipBoundedNode);
}
