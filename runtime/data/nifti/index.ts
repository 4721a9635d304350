/**
 * NIfTI-1/2 input and output. Public API:
 *
 *   readNifti(path): NiftiImage            whole image, scaled values, x-fastest order
 *   readNiftiHeader(path): ParsedHeader    header only, same checks
 *   writeNifti(path, image, {like?, dtype?, gzip?})   NIfTI-1, .nii.gz by name, atomic
 *   createImage({shape, data, affine?, dtype?}, like?): NiftiImage
 *   decodeNifti(bytes, name) / encodeNifti(image, options)   the same on bytes, no file access
 *                                          (decode.ts, encode.ts: what the browser page imports)
 *   orientationCode(affine): string        nibabel aff2axcodes, e.g. "LPS"
 *   channelOf / channelCount / sameGeometry / affineDistance / intensityStats
 *
 * Errors are NiftiError (runtime/errors.ts): the message names the file and the problem.
 */
export type { NiftiDType, NiftiHeader, NiftiImage, VoxelArray, WriteNiftiOptions, ImageSpec } from './types.js';
export { readNifti, readNiftiHeader } from './read.js';
export { writeNifti } from './write.js';
export { decodeNifti, gunzipBoundedJs, type BoundedGunzip } from './decode.js';
export { encodeNifti, createImage, defaultHeader } from './encode.js';
export { orientationCode, affineFromHeader, affineZooms } from './affine.js';
export { channelOf, channelCount, sameGeometry, affineDistance, intensityStats, type IntensityStats } from './image.js';
export { NiftiError } from './errors.js';
export { DATATYPES, isIntegerDType } from './datatypes.js';
export type { ParsedHeader } from './header.js';
