import { affineZooms, quaternionFromAffine, qformAffine } from './affine.js';
import { DATATYPES, dtypeOfArray, integerRange, isIntegerDType } from './datatypes.js';
import { NiftiError } from './errors.js';
import { serializeNifti1Header } from './header.js';
import { swapBytes } from './decode.js';
import type { ImageSpec, NiftiDType, NiftiHeader, NiftiImage, VoxelArray, WriteNiftiOptions } from './types.js';

/**
 * Encoding NIfTI-1 single files in memory (write.ts writes them; the browser page builds its
 * download with it), little-endian (big-endian on request),
 * voxels at offset 352, no extensions, no scaling (slope 1, intercept 0). The sform holds the
 * exact affine; the qform holds its nearest rigid part; their codes, the units, the intent and
 * the description come from `like` (or the image's own header).
 */

const MM_UNITS = 2;
const ALIGNED = 2;

/** A header with NIfTI defaults: no codes, mm units, no intent. */
export function defaultHeader(): NiftiHeader {
  return {
    version: 1, littleEndian: true, dim: [0, 1, 1, 1, 1, 1, 1, 1], pixdim: [1, 1, 1, 1, 1, 1, 1, 1],
    datatype: 0, bitpix: 0, voxOffset: 352, sclSlope: 1, sclInter: 0, scaling: false,
    qformCode: 0, sformCode: 0, quatern: [0, 0, 0, 0, 0, 0], srow: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]],
    xyztUnits: MM_UNITS, intentCode: 0, intentP: [0, 0, 0], intentName: '', descrip: '', auxFile: '',
    dimInfo: 0, calMin: 0, calMax: 0, sliceCode: 0, sliceStart: 0, sliceEnd: 0, sliceDuration: 0, toffset: 0,
  };
}

/**
 * An in-memory image from data, shape and affine (default: identity, 1 mm voxels). With `like`,
 * the header (codes, units, intent) is copied from that image, as a prediction copies its input's.
 */
export function createImage(spec: ImageSpec, like?: NiftiImage): NiftiImage {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.data.length !== n) {
    throw new Error(`createImage: data has ${spec.data.length} values, shape ${spec.shape.join('×')} needs ${n}`);
  }
  const affine = (spec.affine ?? like?.affine ?? [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]).map((r) => [...r]);
  const header: NiftiHeader = like ? { ...like.header, scaling: false, sclSlope: 1, sclInter: 0 } : { ...defaultHeader(), qformCode: ALIGNED, sformCode: ALIGNED };
  const zooms = affineZooms(affine);
  const spacing = spec.shape.map((_, i) => (i < 3 ? zooms[i]! : like?.spacing[i] ?? 1));
  return { shape: [...spec.shape], dtype: spec.dtype ?? dtypeOfArray(spec.data), data: spec.data, affine, spacing, header };
}

/** The stored type to write when none is asked for: the image's dtype if its data still holds that type. */
function defaultDType(image: NiftiImage): NiftiDType {
  const held = dtypeOfArray(image.data);
  if (held === image.dtype) return held;
  if ((image.dtype === 'int64' || image.dtype === 'uint64') && !image.header.scaling && held === 'float64') return image.dtype;
  return held;
}

function encodeVoxels(data: VoxelArray, dtype: NiftiDType, file: string): Uint8Array {
  const n = data.length;
  const integer = isIntegerDType(dtype);
  const [lo, hi] = integerRange(dtype);
  if (integer && dtypeOfArray(data) !== dtype) {
    for (let i = 0; i < n; i++) {
      const v = data[i]!;
      if (!(v >= lo - 0.5 && v < hi + 0.5)) {
        throw new NiftiError(file, `voxel ${i} is ${v}, which ${dtype} cannot store (range ${lo}..${hi})`);
      }
    }
  }
  if (dtypeOfArray(data) === dtype) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let out: ArrayBufferView;
  switch (dtype) {
    case 'uint8': out = Uint8Array.from(data, Math.round); break;
    case 'int8': out = Int8Array.from(data, Math.round); break;
    case 'int16': out = Int16Array.from(data, Math.round); break;
    case 'uint16': out = Uint16Array.from(data, Math.round); break;
    case 'int32': out = Int32Array.from(data, Math.round); break;
    case 'uint32': out = Uint32Array.from(data, Math.round); break;
    case 'float32': out = data instanceof Float32Array ? data : Float32Array.from(data); break;
    case 'float64': out = data instanceof Float64Array ? data : Float64Array.from(data); break;
    case 'int64': out = BigInt64Array.from(data, (v) => BigInt(Math.round(v))); break;
    case 'uint64': out = BigUint64Array.from(data, (v) => BigInt(Math.round(v))); break;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The header that writes `image` as `dtype`, keeping `ref`'s codes, units, intent and text. */
export function headerForWrite(image: NiftiImage, dtype: NiftiDType, ref: NiftiHeader, file: string): NiftiHeader {
  const shape = image.shape;
  if (shape.length < 1 || shape.length > 7) throw new NiftiError(file, `cannot write ${shape.length} dimensions (1 to 7)`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1 || d > 32767) throw new NiftiError(file, `dimension ${d} does not fit a NIfTI-1 header (1..32767)`);
  }
  const affine = image.affine;
  if (affine.length < 3 || affine.some((r) => r.length !== 4 || r.some((v) => !Number.isFinite(v)))) {
    throw new NiftiError(file, 'the affine must be a finite 4×4 matrix');
  }
  const h: NiftiHeader = { ...ref, version: 1, littleEndian: true, scaling: false, sclSlope: 1, sclInter: 0, voxOffset: 352 };
  h.dim = [shape.length, ...shape, ...Array(7 - shape.length).fill(1)];
  h.datatype = DATATYPES[dtype].code;
  h.bitpix = DATATYPES[dtype].bitpix;

  const q = quaternionFromAffine(affine);
  // Keep the reference's stored voxel sizes when they agree with the affine (no float32 drift).
  const zooms = q.zooms.map((z, i) => {
    const stored = Math.abs(ref.pixdim[i + 1] ?? 0);
    return Math.abs(stored - z) <= 1e-6 * Math.max(z, 1) ? stored : z;
  });
  const pixdim = [q.qfac, ...zooms];
  for (let i = 3; i < 7; i++) pixdim.push(i < shape.length ? image.spacing[i] ?? ref.pixdim[i + 1] ?? 1 : ref.pixdim[i + 1] ?? 1);
  h.pixdim = pixdim.slice(0, 8);
  h.quatern = q.quatern;
  h.srow = [affine[0]!.slice(0, 4), affine[1]!.slice(0, 4), affine[2]!.slice(0, 4)];

  if (h.qformCode === 0 && h.sformCode === 0) {
    h.qformCode = ALIGNED;
    h.sformCode = ALIGNED;
  }
  // With only a qform, make sure it says the whole affine (no shear, no float drift); if not, add the sform.
  if (h.sformCode === 0) {
    const back = qformAffine(h);
    const err = Math.max(...[0, 1, 2].flatMap((r) => [0, 1, 2, 3].map((c) => Math.abs(back[r]![c]! - affine[r]![c]!))));
    if (err > 1e-4) h.sformCode = ALIGNED;
  }
  return h;
}

/**
 * `image` as the bytes of an uncompressed NIfTI-1 file. Options as `writeNifti`'s (`gzip` aside:
 * compressing is the caller's); `file` names the output in messages.
 */
export function encodeNifti(image: NiftiImage, options: WriteNiftiOptions = {}, file = 'NIfTI output'): Uint8Array {
  const dtype = options.dtype ?? defaultDType(image);
  const n = image.shape.reduce((a, b) => a * b, 1);
  if (image.data.length !== n) throw new NiftiError(file, `data has ${image.data.length} values, shape ${image.shape.join('×')} needs ${n}`);
  const header = headerForWrite(image, dtype, options.like?.header ?? image.header ?? defaultHeader(), file);
  const bigEndian = options.bigEndian === true;
  const head = serializeNifti1Header(header, !bigEndian);
  let voxels = encodeVoxels(image.data, dtype, file);
  if (bigEndian) {
    voxels = voxels.slice();
    swapBytes(voxels, DATATYPES[dtype].bitpix / 8);
  }
  const whole = new Uint8Array(head.byteLength + voxels.byteLength);
  whole.set(head, 0);
  whole.set(voxels, head.byteLength);
  return whole;
}
