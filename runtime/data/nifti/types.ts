/**
 * The in-memory form of a NIfTI image.
 *
 * Array order: the file's voxel order, x fastest, exactly as stored. For shape [X, Y, Z(, C)]
 * the value of voxel (i, j, k(, c)) is `data[i + X * (j + Y * (k + Z * c))]`, so each channel of
 * a 4-D image is one contiguous 3-D volume (`channelOf`). No reorientation is ever applied: the
 * affine says where the voxels are.
 */

/** Stored voxel types this reader accepts (NIfTI datatype codes in `DATATYPES`). */
export type NiftiDType =
  | 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64';

export type VoxelArray =
  | Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** The header fields a writer needs to reproduce a reference image's geometry and meaning. */
export interface NiftiHeader {
  /** 1 or 2. */
  version: 1 | 2;
  littleEndian: boolean;
  /** dim[0..7] as stored. */
  dim: number[];
  /** pixdim[0..7] as stored (pixdim[0] is qfac). */
  pixdim: number[];
  datatype: number;
  bitpix: number;
  voxOffset: number;
  /** As stored; `scaling` says whether they apply. */
  sclSlope: number;
  sclInter: number;
  /** True when slope/intercept change the values (slope finite, non-zero and not the identity 1/0). */
  scaling: boolean;
  qformCode: number;
  sformCode: number;
  /** quatern_b, c, d, qoffset_x, y, z. */
  quatern: [number, number, number, number, number, number];
  /** srow_x, srow_y, srow_z: the first three rows of the sform. */
  srow: [number[], number[], number[]];
  /** xyzt_units byte: spatial units in bits 0-2 (2 = mm), temporal in bits 3-5. */
  xyztUnits: number;
  intentCode: number;
  intentP: [number, number, number];
  intentName: string;
  descrip: string;
  auxFile: string;
  dimInfo: number;
  calMin: number;
  calMax: number;
  sliceCode: number;
  sliceStart: number;
  sliceEnd: number;
  sliceDuration: number;
  toffset: number;
}

export interface NiftiImage {
  /** [X, Y, Z] or [X, Y, Z, C]; 2-D files give [X, Y] (dim[0] = 2), trailing size-1 axes beyond dim[0] are dropped. */
  shape: number[];
  /** Stored datatype, whatever `data` holds. */
  dtype: NiftiDType;
  /**
   * Voxel values, x fastest. Scaled by scl_slope/scl_inter when the header sets a scaling
   * (Float32Array, or Float64Array for 32/64-bit stored types); otherwise the stored type
   * (int64/uint64 become Float64Array: exact up to 2^53).
   */
  data: VoxelArray;
  /** 4×4 voxel (i, j, k) → RAS+ world mm, as nibabel's `img.affine` (sform, else qform, else pixdim). */
  affine: number[][];
  /** Voxel sizes pixdim[1..ndim] as stored (one per entry of `shape`). */
  spacing: number[];
  header: NiftiHeader;
}

export interface WriteNiftiOptions {
  /** Copy qform/sform codes, voxel sizes beyond xyz, units, intent and description from this image. */
  like?: NiftiImage;
  /** Stored type to write (default: `image.dtype`, or the type of `image.data` when it holds scaled values). */
  dtype?: NiftiDType;
  /** gzip or not (default: by file name, `.gz` → gzip). */
  gzip?: boolean;
  /** Write big-endian (default little-endian); for interoperability tests and old tools. */
  bigEndian?: boolean;
}

/** What `createImage` needs: everything else gets NIfTI defaults. */
export interface ImageSpec {
  shape: number[];
  data: VoxelArray;
  affine?: number[][];
  dtype?: NiftiDType;
}
