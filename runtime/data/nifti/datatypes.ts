import type { NiftiDType, VoxelArray } from './types.js';

/** NIfTI datatype codes (nifti1.h) for the types this reader handles, with their bits per voxel. */
export const DATATYPES: Record<NiftiDType, { code: number; bitpix: number }> = {
  uint8: { code: 2, bitpix: 8 },
  int16: { code: 4, bitpix: 16 },
  int32: { code: 8, bitpix: 32 },
  float32: { code: 16, bitpix: 32 },
  float64: { code: 64, bitpix: 64 },
  int8: { code: 256, bitpix: 8 },
  uint16: { code: 512, bitpix: 16 },
  uint32: { code: 768, bitpix: 32 },
  int64: { code: 1024, bitpix: 64 },
  uint64: { code: 1280, bitpix: 64 },
};

/** Names of codes that exist in NIfTI but are not voxel types we read, for clearer refusals. */
const UNSUPPORTED: Record<number, string> = {
  1: 'binary', 32: 'complex64', 128: 'RGB24', 1536: 'float128', 1792: 'complex128', 2048: 'complex256', 2304: 'RGBA32',
};

export function dtypeOfCode(code: number): NiftiDType | undefined {
  for (const [name, t] of Object.entries(DATATYPES)) if (t.code === code) return name as NiftiDType;
  return undefined;
}

export function describeUnsupportedCode(code: number): string {
  return UNSUPPORTED[code] !== undefined ? `${UNSUPPORTED[code]} (datatype ${code}) is not supported` : `unknown datatype code ${code}`;
}

export function bytesPerVoxel(dtype: NiftiDType): number {
  return DATATYPES[dtype].bitpix / 8;
}

/** The NIfTI type that stores a typed array's values without loss (Float64 for float64 data). */
export function dtypeOfArray(data: VoxelArray): NiftiDType {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

export function isIntegerDType(dtype: NiftiDType): boolean {
  return dtype !== 'float32' && dtype !== 'float64';
}

/** Range of an integer type (int64/uint64: the range a float64 can hold exactly). */
export function integerRange(dtype: NiftiDType): [number, number] {
  switch (dtype) {
    case 'uint8': return [0, 255];
    case 'int8': return [-128, 127];
    case 'int16': return [-32768, 32767];
    case 'uint16': return [0, 65535];
    case 'int32': return [-2147483648, 2147483647];
    case 'uint32': return [0, 4294967295];
    case 'int64': return [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
    case 'uint64': return [0, Number.MAX_SAFE_INTEGER];
    default: return [-Infinity, Infinity];
  }
}
