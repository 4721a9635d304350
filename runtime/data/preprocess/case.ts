/**
 * One raw case (every channel and the label, decoded) as array-order volumes, checked; no file
 * access (load-case.ts reads the files; the browser page decodes a dropped file).
 *
 * NIfTI voxels are stored x fastest, so the same flat array read C-order has shape [Z, Y, X]: the
 * array order nnU-Net works in (SimpleITK's z, y, x). Spacing is reversed to match: [sz, sy, sx].
 * Nothing is copied or reoriented; the affine says where the voxels are.
 */
import { affineDistance, channelCount, channelOf } from '../nifti/image.js';
import type { NiftiImage } from '../nifti/types.js';
import { DatasetError } from '../../errors.js';
import type { Triple } from './store.js';

export interface LoadedCase {
  id: string;
  /** Float32 per channel, NaN replaced by 0 (nnU-Net does the same before cropping). */
  channels: Float32Array[];
  /** Label values (int16), or null. */
  label: Int16Array | null;
  shape: Triple;
  spacing: Triple;
  affine: number[][];
  /** The first channel's image without its voxels, to write outputs on the same grid. */
  reference: NiftiImage;
}

function asFloat32(image: NiftiImage): Float32Array {
  const out = new Float32Array(image.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = image.data[i]!;
    out[i] = Number.isNaN(v) ? 0 : v;
  }
  return out;
}

function arrayShape(image: NiftiImage, file: string): Triple {
  const [x = 1, y = 1, z = 1] = image.shape;
  if (image.shape.length > 3 && image.shape.slice(3).some((n) => n !== 1) && image.shape.length !== 4)
    throw new DatasetError(`${file}: expected a 3-D image, found shape ${image.shape.join('×')}`);
  return [z, y, x];
}

function arraySpacing(image: NiftiImage): Triple {
  const [sx = 1, sy = 1, sz = 1] = image.spacing.map((s) => Math.abs(s));
  return [sz, sy, sx];
}

/**
 * How far (mm, largest affine entry difference) a channel's or label's affine may be from channel
 * 0's; the same tolerance `mnxc dataset check` reports with, so every command refuses alike.
 */
export const GEOMETRY_TOLERANCE = 1e-4;

function fmtValues(values: number[]): string {
  return values.length > 8 ? `${values.slice(0, 8).join(', ')}, … (${values.length} values)` : values.join(', ');
}

/** A decoded image and the name of its file (for messages). */
export interface NamedImage {
  image: NiftiImage;
  file: string;
}

/** A case's decoded images: one per channel (or one 4-D image holding every channel), and the label. */
export interface CaseImages {
  id: string;
  images: NamedImage[];
  label: NamedImage | null;
}

/** Where each channel has its own file: the first file must not hold several on its 4th axis. */
export function refuseChannelsInOneFile(first: NamedImage): void {
  if (first.image.shape.length > 3 && channelCount(first.image) > 1)
    throw new DatasetError(`${first.file}: has ${channelCount(first.image)} channels on its 4th axis; expected one channel per file`);
}

/**
 * A case from its decoded images; every channel and the label must share the first channel's grid
 * (shape and affine), and the label may hold only `declaredLabels` when given (nnU-Net's
 * verify_dataset_integrity refuses both alike).
 */
export function assembleCase(source: CaseImages, channelsInOneFile = false, expectedChannels?: number, declaredLabels?: number[]): LoadedCase {
  const first = source.images[0]!;
  const images: NamedImage[] = [];
  if (channelsInOneFile) {
    const n = channelCount(first.image);
    for (let c = 0; c < n; c++) images.push({ image: channelOf(first.image, c), file: first.file });
  } else {
    refuseChannelsInOneFile(first);
    images.push(...source.images);
  }
  if (expectedChannels !== undefined && images.length !== expectedChannels)
    throw new DatasetError(`case ${source.id}: has ${images.length} channel(s), the dataset declares ${expectedChannels}`);
  const shape = arrayShape(images[0]!.image, images[0]!.file);
  for (const { image, file } of images.slice(1)) {
    const s = arrayShape(image, file);
    if (s.some((n, a) => n !== shape[a])) throw new DatasetError(`${file}: shape ${[...s].reverse().join('×')} differs from channel 0's ${[...shape].reverse().join('×')}`);
    const d = affineDistance(image.affine, images[0]!.image.affine);
    if (d > GEOMETRY_TOLERANCE) throw new DatasetError(`case ${source.id}: ${file}: geometry (affine) differs from channel 0's (${images[0]!.file}) by up to ${d.toPrecision(3)} mm (tolerance ${GEOMETRY_TOLERANCE}); fix the header so the files share one grid`);
  }
  let label: Int16Array | null = null;
  if (source.label) {
    const { image: l, file: labelFile } = source.label;
    const s = arrayShape(l, labelFile);
    if (s.some((n, a) => n !== shape[a])) throw new DatasetError(`${labelFile}: shape ${[...s].reverse().join('×')} differs from the image's ${[...shape].reverse().join('×')}`);
    const d = affineDistance(l.affine, images[0]!.image.affine);
    if (d > GEOMETRY_TOLERANCE) throw new DatasetError(`case ${source.id}: ${labelFile}: geometry (affine) of the label differs from the image's (${images[0]!.file}) by up to ${d.toPrecision(3)} mm (tolerance ${GEOMETRY_TOLERANCE}); fix the header so image and label share one grid`);
    label = new Int16Array(l.data.length);
    const declared = declaredLabels ? new Set(declaredLabels) : null;
    const undeclared = new Set<number>();
    for (let i = 0; i < label.length; i++) {
      const v = l.data[i]!;
      if (!Number.isInteger(v) || v < 0 || v > 127) throw new DatasetError(`${labelFile}: voxel ${i} has label ${v}; labels must be integers 0..127`);
      if (declared && !declared.has(v)) undeclared.add(v);
      label[i] = v;
    }
    if (undeclared.size > 0)
      throw new DatasetError(`case ${source.id}: ${labelFile}: label value(s) ${fmtValues([...undeclared].sort((a, b) => a - b))} not declared in dataset.json labels (declared: ${fmtValues([...declared!].sort((a, b) => a - b))})`);
  }
  const ref = images[0]!.image;
  const reference: NiftiImage = { ...ref, shape: ref.shape.slice(0, 3), data: new Float32Array(0) };
  return {
    id: source.id,
    channels: images.map(({ image }) => asFloat32(image)),
    label,
    shape,
    spacing: arraySpacing(ref),
    affine: ref.affine,
    reference,
  };
}
