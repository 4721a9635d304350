import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Gunzip } from 'fflate';
import { affineFromHeader } from './affine.js';
import { bytesPerVoxel } from './datatypes.js';
import { NiftiError } from './errors.js';
import { NIFTI2_HEADER_SIZE, parseHeader, type ParsedHeader } from './header.js';
import type { NiftiDType, NiftiHeader, NiftiImage, VoxelArray } from './types.js';

/**
 * Reading NIfTI-1/2 files, plain or gzip-compressed. Every claim of the header is checked against
 * the file before anything of the claimed size is allocated; gzip data is decompressed with an
 * output limit taken from the header, so a gzip bomb stops at the size the header describes.
 */

/** DEFLATE cannot expand data by more than ~1032×; a header claiming more than this is impossible. */
const MAX_GZIP_RATIO = 1100;
/** Compressed bytes fed per step while looking for the header (≤ ~1 MiB of output per step). */
const HEADER_CHUNK = 1024;

function isGzip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

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

/** Decompresses just enough of a gzip stream to hold the NIfTI header (streamed, bounded). */
function gunzipHeader(compressed: Uint8Array, file: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let have = 0;
  const inflater = new Gunzip((chunk) => {
    parts.push(chunk);
    have += chunk.byteLength;
  });
  try {
    for (let at = 0; at < compressed.byteLength && have < NIFTI2_HEADER_SIZE; at += HEADER_CHUNK) {
      const end = Math.min(at + HEADER_CHUNK, compressed.byteLength);
      inflater.push(compressed.subarray(at, end), end === compressed.byteLength);
    }
  } catch (e) {
    if (have === 0) throw new NiftiError(file, `corrupt gzip data (${(e as Error).message})`);
  }
  const out = new Uint8Array(Math.min(have, NIFTI2_HEADER_SIZE));
  let at = 0;
  for (const p of parts) {
    if (at >= out.byteLength) break;
    const take = p.subarray(0, out.byteLength - at);
    out.set(take, at);
    at += take.byteLength;
  }
  return out;
}

/** Decompresses the whole stream, refusing to produce more than the header describes. */
function gunzipBounded(compressed: Uint8Array, expected: number, file: string): Uint8Array {
  if (expected > compressed.byteLength * MAX_GZIP_RATIO) {
    throw new NiftiError(file, `truncated: the header describes ${expected} bytes, which ${compressed.byteLength} compressed bytes cannot hold`);
  }
  try {
    // A little slack tolerates padding after the voxels; anything bigger is refused, not buffered.
    return gunzipSync(compressed, { maxOutputLength: expected + 65536 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new NiftiError(file, `gzip data decompresses to more than the ${expected} bytes the header describes (corrupt file or gzip bomb)`);
    }
    const what = err.code === 'Z_BUF_ERROR' ? 'truncated gzip data (unexpected end of file)' : `corrupt gzip data (${err.message})`;
    throw new NiftiError(file, what);
  }
}

/** Checks that the voxels the header describes lie inside `length` bytes of (decompressed) file. */
function checkExtent(parsed: ParsedHeader, length: number, gz: boolean, file: string): void {
  const { voxOffset } = parsed.header;
  if (voxOffset > length) {
    throw new NiftiError(file, `vox_offset ${voxOffset} is past the end of the ${gz ? 'decompressed ' : ''}file (${length} bytes)`);
  }
  if (voxOffset + parsed.dataBytes > length) {
    throw new NiftiError(file, `truncated voxel data: the header describes ${parsed.dataBytes} bytes from offset ${voxOffset}, but only ${length - voxOffset} are there`);
  }
}

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
  const raw = readBytes(path);
  const gz = isGzip(raw);
  if (!gz && /\.gz$/i.test(path)) throw new NiftiError(path, 'named .gz but not gzip-compressed (no gzip signature)');
  const parsed = parseHeader(gz ? gunzipHeader(raw, path) : raw, path);
  const { header, dtype, dataBytes } = parsed;
  const end = header.voxOffset + dataBytes;
  if (!gz) checkExtent(parsed, raw.byteLength, false, path);
  const bytes = gz ? gunzipBounded(raw, end, path) : raw;
  checkExtent(parsed, bytes.byteLength, gz, path);
  const data = decodeVoxels(bytes.subarray(header.voxOffset, end), dtype, header);
  const shape = parsed.shape;
  return {
    shape,
    dtype,
    data,
    affine: affineFromHeader(header, shape),
    spacing: header.pixdim.slice(1, 1 + shape.length),
    header,
  };
}

/** Reverses the byte order of each `width`-byte element, in place. */
export function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i < bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Stored bytes → typed array of the stored type (int64 → Float64Array), then scaling. */
function decodeVoxels(src: Uint8Array, dtype: NiftiDType, h: NiftiHeader): VoxelArray {
  const width = bytesPerVoxel(dtype);
  const n = src.byteLength / width;
  // Copy into a fresh, aligned buffer (the voxel offset need not be aligned), swapping if needed.
  const copy = new Uint8Array(src.byteLength);
  copy.set(src);
  if (h.littleEndian !== hostLittleEndian) swapBytes(copy, width);
  const buf = copy.buffer;
  let stored: VoxelArray;
  switch (dtype) {
    case 'uint8': stored = copy; break;
    case 'int8': stored = new Int8Array(buf); break;
    case 'int16': stored = new Int16Array(buf); break;
    case 'uint16': stored = new Uint16Array(buf); break;
    case 'int32': stored = new Int32Array(buf); break;
    case 'uint32': stored = new Uint32Array(buf); break;
    case 'float32': stored = new Float32Array(buf); break;
    case 'float64': stored = new Float64Array(buf); break;
    case 'int64':
    case 'uint64': {
      const big = dtype === 'int64' ? new BigInt64Array(buf) : new BigUint64Array(buf);
      const f = new Float64Array(n);
      for (let i = 0; i < n; i++) f[i] = Number(big[i]!);
      stored = f;
      break;
    }
  }
  if (!h.scaling) return stored;
  // Scaled values: float32 keeps memory low for 8/16-bit data; wider types need float64.
  const wide = width >= 4 && dtype !== 'float32';
  const out = wide ? new Float64Array(n) : new Float32Array(n);
  const slope = h.sclSlope, inter = h.sclInter;
  for (let i = 0; i < n; i++) out[i] = stored[i]! * slope + inter;
  return out;
}
