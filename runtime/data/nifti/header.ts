import { DATATYPES, describeUnsupportedCode, dtypeOfCode } from './datatypes.js';
import { NiftiError } from './errors.js';
import type { NiftiDType, NiftiHeader } from './types.js';

/**
 * NIfTI-1 (348-byte) and NIfTI-2 (540-byte) headers: parsing with every check done before the
 * reader allocates what the header claims, and NIfTI-1 serialisation for the writer.
 * Field offsets follow nifti1.h / nifti2.h.
 */

export const NIFTI1_HEADER_SIZE = 348;
export const NIFTI2_HEADER_SIZE = 540;
const MAGIC1_SINGLE = 'n+1\0';
const MAGIC1_PAIR = 'ni1\0';
const MAGIC2_SINGLE = 'n+2\0\r\n\x1a\n';
const MAGIC2_PAIR = 'ni2\0\r\n\x1a\n';

/**
 * Largest voxel payload we will allocate: 4 GiB − 1, within one Node buffer (Node ≥ 20 allows 4 GiB
 * or more) and one ArrayBuffer of the browsers that run the page.
 */
export const MAX_DATA_BYTES = 2 ** 32 - 1;

export interface ParsedHeader {
  header: NiftiHeader;
  dtype: NiftiDType;
  /** Size of the stored header (348 or 540). */
  headerSize: number;
  /** The image shape (dim[1..dim[0]]). */
  shape: number[];
  /** Bytes of voxel data the header promises, starting at voxOffset. */
  dataBytes: number;
}

/** How many bytes the header of this file needs, from its first four bytes; throws if neither size. */
export function headerSizeOf(bytes: Uint8Array, file: string): { size: number; littleEndian: boolean } {
  if (bytes.byteLength === 0) throw new NiftiError(file, 'file is empty');
  if (bytes.byteLength < 4) throw new NiftiError(file, `file is only ${bytes.byteLength} bytes, too short for a NIfTI header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 4);
  for (const littleEndian of [true, false]) {
    const n = dv.getInt32(0, littleEndian);
    if (n === NIFTI1_HEADER_SIZE || n === NIFTI2_HEADER_SIZE) return { size: n, littleEndian };
  }
  const n = dv.getInt32(0, true);
  throw new NiftiError(file, `not a NIfTI file: sizeof_hdr is ${n}, expected 348 (NIfTI-1) or 540 (NIfTI-2)`);
}

function str(bytes: Uint8Array, offset: number, length: number): string {
  const raw = bytes.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return new TextDecoder('latin1').decode(end < 0 ? raw : raw.subarray(0, end));
}

/** Parses and validates a header; `bytes` starts at the beginning of the file. */
export function parseHeader(bytes: Uint8Array, file: string): ParsedHeader {
  const { size, littleEndian: le } = headerSizeOf(bytes, file);
  const version: 1 | 2 = size === NIFTI1_HEADER_SIZE ? 1 : 2;
  if (bytes.byteLength < size) {
    throw new NiftiError(file, `truncated header: ${bytes.byteLength} bytes, a NIfTI-${version} header needs ${size}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, size);
  const i16 = (o: number) => dv.getInt16(o, le);
  const i32 = (o: number) => dv.getInt32(o, le);
  const f32 = (o: number) => dv.getFloat32(o, le);
  const f64 = (o: number) => dv.getFloat64(o, le);
  const i64 = (o: number) => Number(dv.getBigInt64(o, le));

  let h: NiftiHeader;
  if (version === 1) {
    const magic = str(bytes, 344, 4) + '\0';
    if (magic === MAGIC1_PAIR) throw new NiftiError(file, 'header/image pairs (.hdr/.img, magic "ni1") are not supported; convert to a single .nii file');
    if (magic !== MAGIC1_SINGLE) throw new NiftiError(file, `bad magic ${JSON.stringify(str(bytes, 344, 4))}: expected "n+1" for a NIfTI-1 file`);
    h = {
      version, littleEndian: le,
      dim: Array.from({ length: 8 }, (_, i) => i16(40 + 2 * i)),
      pixdim: Array.from({ length: 8 }, (_, i) => f32(76 + 4 * i)),
      datatype: i16(70), bitpix: i16(72),
      voxOffset: f32(108), sclSlope: f32(112), sclInter: f32(116), scaling: false,
      qformCode: i16(252), sformCode: i16(254),
      quatern: [f32(256), f32(260), f32(264), f32(268), f32(272), f32(276)],
      srow: [0, 1, 2].map((r) => Array.from({ length: 4 }, (_, c) => f32(280 + 16 * r + 4 * c))) as [number[], number[], number[]],
      xyztUnits: bytes[123]!, intentCode: i16(68), intentP: [f32(56), f32(60), f32(64)],
      intentName: str(bytes, 328, 16), descrip: str(bytes, 148, 80), auxFile: str(bytes, 228, 24),
      dimInfo: bytes[39]!, calMax: f32(124), calMin: f32(128),
      sliceCode: bytes[122]!, sliceStart: i16(74), sliceEnd: i16(120), sliceDuration: f32(132), toffset: f32(136),
    };
  } else {
    const magic = new TextDecoder('latin1').decode(bytes.subarray(4, 12));
    if (magic === MAGIC2_PAIR) throw new NiftiError(file, 'header/image pairs (.hdr/.img, magic "ni2") are not supported; convert to a single .nii file');
    if (magic !== MAGIC2_SINGLE) throw new NiftiError(file, `bad magic ${JSON.stringify(magic)}: expected "n+2" for a NIfTI-2 file`);
    h = {
      version, littleEndian: le,
      dim: Array.from({ length: 8 }, (_, i) => i64(16 + 8 * i)),
      pixdim: Array.from({ length: 8 }, (_, i) => f64(104 + 8 * i)),
      datatype: i16(12), bitpix: i16(14),
      voxOffset: i64(168), sclSlope: f64(176), sclInter: f64(184), scaling: false,
      qformCode: i32(344), sformCode: i32(348),
      quatern: [f64(352), f64(360), f64(368), f64(376), f64(384), f64(392)],
      srow: [0, 1, 2].map((r) => Array.from({ length: 4 }, (_, c) => f64(400 + 32 * r + 8 * c))) as [number[], number[], number[]],
      xyztUnits: i32(500), intentCode: i32(504), intentP: [f64(80), f64(88), f64(96)],
      intentName: str(bytes, 508, 16), descrip: str(bytes, 240, 80), auxFile: str(bytes, 320, 24),
      dimInfo: bytes[524]!, calMax: f64(192), calMin: f64(200),
      sliceCode: i32(496), sliceStart: i64(224), sliceEnd: i64(232), sliceDuration: f64(208), toffset: f64(216),
    };
  }
  // nibabel: slope 0 or non-finite means "no scaling"; slope 1 with intercept 0 changes nothing.
  h.scaling = Number.isFinite(h.sclSlope) && h.sclSlope !== 0 && Number.isFinite(h.sclInter) && !(h.sclSlope === 1 && h.sclInter === 0);

  const ndim = h.dim[0]!;
  if (ndim < 1 || ndim > 7) throw new NiftiError(file, `dim[0] is ${ndim}: the number of dimensions must be 1 to 7`);
  const shape = h.dim.slice(1, 1 + ndim);
  shape.forEach((n, i) => {
    if (!Number.isSafeInteger(n) || n < 1) throw new NiftiError(file, `dim[${i + 1}] is ${n}: every dimension must be at least 1`);
  });
  const dtype = dtypeOfCode(h.datatype);
  if (dtype === undefined) throw new NiftiError(file, describeUnsupportedCode(h.datatype));
  if (h.bitpix !== DATATYPES[dtype].bitpix) {
    throw new NiftiError(file, `bitpix is ${h.bitpix} but datatype ${dtype} has ${DATATYPES[dtype].bitpix} bits per voxel`);
  }
  // Multiply in floating point and compare against the limit before any allocation: a product of
  // absurd dims must not overflow into something plausible.
  const voxels = shape.reduce((a, b) => a * b, 1);
  const dataBytes = voxels * (DATATYPES[dtype].bitpix / 8);
  if (dataBytes > MAX_DATA_BYTES) {
    throw new NiftiError(file, `dimensions ${shape.join('×')} (${dtype}) claim ${dataBytes.toExponential(3)} bytes of voxels, more than the ${MAX_DATA_BYTES} a reader can hold`);
  }
  if (!Number.isInteger(h.voxOffset) || h.voxOffset < size) {
    throw new NiftiError(file, `vox_offset is ${h.voxOffset}: it must be a whole number of bytes, at least the header size ${size}`);
  }
  return { header: h, dtype, headerSize: size, shape, dataBytes };
}

/**
 * A NIfTI-1 header (348 bytes) plus the 4-byte extension flag (no extensions): voxels start at 352.
 * Little-endian unless `le` is false.
 */
export function serializeNifti1Header(h: NiftiHeader, le = true): Uint8Array {
  const bytes = new Uint8Array(352);
  const dv = new DataView(bytes.buffer);
  const putStr = (o: number, len: number, s: string) => {
    for (let i = 0; i < Math.min(len - 1, s.length); i++) bytes[o + i] = s.charCodeAt(i) & 0xff;
  };
  dv.setInt32(0, NIFTI1_HEADER_SIZE, le);
  bytes[38] = 'r'.charCodeAt(0); // "regular", as nifti1 writers set it
  bytes[39] = h.dimInfo & 0xff;
  h.dim.forEach((d, i) => dv.setInt16(40 + 2 * i, d, le));
  h.intentP.forEach((p, i) => dv.setFloat32(56 + 4 * i, p, le));
  dv.setInt16(68, h.intentCode, le);
  dv.setInt16(70, h.datatype, le);
  dv.setInt16(72, h.bitpix, le);
  dv.setInt16(74, h.sliceStart, le);
  h.pixdim.forEach((p, i) => dv.setFloat32(76 + 4 * i, p, le));
  dv.setFloat32(108, 352, le);
  dv.setFloat32(112, h.sclSlope, le);
  dv.setFloat32(116, h.sclInter, le);
  dv.setInt16(120, h.sliceEnd, le);
  bytes[122] = h.sliceCode & 0xff;
  bytes[123] = h.xyztUnits & 0xff;
  dv.setFloat32(124, h.calMax, le);
  dv.setFloat32(128, h.calMin, le);
  dv.setFloat32(132, h.sliceDuration, le);
  dv.setFloat32(136, h.toffset, le);
  putStr(148, 80, h.descrip);
  putStr(228, 24, h.auxFile);
  dv.setInt16(252, h.qformCode, le);
  dv.setInt16(254, h.sformCode, le);
  h.quatern.forEach((q, i) => dv.setFloat32(256 + 4 * i, q, le));
  h.srow.forEach((row, r) => row.forEach((v, c) => dv.setFloat32(280 + 16 * r + 4 * c, v, le)));
  putStr(328, 16, h.intentName);
  putStr(344, 4, MAGIC1_SINGLE);
  return bytes;
}
