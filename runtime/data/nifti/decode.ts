import { Gunzip } from 'fflate';
import { affineFromHeader } from './affine.js';
import { bytesPerVoxel } from './datatypes.js';
import { NiftiError } from './errors.js';
import { NIFTI2_HEADER_SIZE, parseHeader, type ParsedHeader } from './header.js';
import type { NiftiDType, NiftiHeader, NiftiImage, VoxelArray } from './types.js';

/**
 * Decoding NIfTI-1/2 bytes, plain or gzip-compressed, with no file access (read.ts reads files with
 * it; the browser page decodes a dropped file with it). Every claim of the header is checked
 * against the bytes before anything of the claimed size is allocated; gzip data is decompressed
 * with an output limit taken from the header, so a gzip bomb stops at the size the header describes.
 */

/** DEFLATE cannot expand data by more than ~1032×; a header claiming more than this is impossible. */
const MAX_GZIP_RATIO = 1100;
/** Compressed bytes fed per step while looking for the header (≤ ~1 MiB of output per step). */
const HEADER_CHUNK = 1024;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Bytes a gzip stream may decompress to past what the header describes (padding after the voxels). */
export const GZIP_SLACK = 65536;

/**
 * Decompresses a whole gzip stream into at most `expected + GZIP_SLACK` bytes; throws NiftiError
 * naming `file` when the stream is corrupt, truncated or would produce more.
 */
export type BoundedGunzip = (compressed: Uint8Array, expected: number, file: string) => Uint8Array;

/** Decompresses just enough of a gzip stream to hold the NIfTI header (streamed, bounded). */
export function gunzipHeader(compressed: Uint8Array, file: string): Uint8Array {
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

/** A `BoundedGunzip` in JavaScript (fflate, streamed: output past the limit is never buffered). */
export const gunzipBoundedJs: BoundedGunzip = (compressed, expected, file) => {
  const limit = expected + GZIP_SLACK;
  const parts: Uint8Array[] = [];
  let have = 0;
  let over = false;
  const inflater = new Gunzip((chunk) => {
    have += chunk.byteLength;
    if (have > limit) over = true;
    else parts.push(chunk);
  });
  const step = 1 << 16;
  try {
    for (let at = 0; at < compressed.byteLength && !over; at += step) {
      const end = Math.min(at + step, compressed.byteLength);
      inflater.push(compressed.subarray(at, end), end === compressed.byteLength);
    }
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    throw new NiftiError(file, /unexpected EOF/i.test(message) ? 'truncated gzip data (unexpected end of file)' : `corrupt gzip data (${message})`);
  }
  if (over) throw new NiftiError(file, `gzip data decompresses to more than the ${expected} bytes the header describes (corrupt file or gzip bomb)`);
  const out = new Uint8Array(have);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

/** Checks that the voxels the header describes lie inside `length` bytes of (decompressed) file. */
export function checkExtent(parsed: ParsedHeader, length: number, gz: boolean, file: string): void {
  const { voxOffset } = parsed.header;
  if (voxOffset > length) {
    throw new NiftiError(file, `vox_offset ${voxOffset} is past the end of the ${gz ? 'decompressed ' : ''}file (${length} bytes)`);
  }
  if (voxOffset + parsed.dataBytes > length) {
    throw new NiftiError(file, `truncated voxel data: the header describes ${parsed.dataBytes} bytes from offset ${voxOffset}, but only ${length - voxOffset} are there`);
  }
}

/**
 * Decodes a NIfTI-1 or NIfTI-2 file's bytes (.nii or .nii.gz; the gzip signature decides, not the
 * name `file`, which only names it in messages). See `NiftiImage` for the array order and value types.
 * Throws NiftiError naming the file and the problem for anything malformed.
 */
export function decodeNifti(raw: Uint8Array, file: string, gunzip: BoundedGunzip = gunzipBoundedJs): NiftiImage {
  if (raw.byteLength === 0) throw new NiftiError(file, 'file is empty');
  const gz = isGzip(raw);
  if (!gz && /\.gz$/i.test(file)) throw new NiftiError(file, 'named .gz but not gzip-compressed (no gzip signature)');
  const parsed = parseHeader(gz ? gunzipHeader(raw, file) : raw, file);
  const { header, dtype, dataBytes } = parsed;
  const end = header.voxOffset + dataBytes;
  if (!gz) checkExtent(parsed, raw.byteLength, false, file);
  let bytes = raw;
  if (gz) {
    if (end > raw.byteLength * MAX_GZIP_RATIO)
      throw new NiftiError(file, `truncated: the header describes ${end} bytes, which ${raw.byteLength} compressed bytes cannot hold`);
    bytes = gunzip(raw, end, file);
  }
  checkExtent(parsed, bytes.byteLength, gz, file);
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
