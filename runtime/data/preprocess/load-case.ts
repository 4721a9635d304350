/**
 * Reads one raw case (every channel and the label) from its files into array-order volumes;
 * case.ts assembles and checks it (no file access there, the browser page uses it too).
 */
import { readNifti } from '../nifti/read.js';
import { assembleCase, refuseChannelsInOneFile, type LoadedCase } from './case.js';

export { assembleCase, GEOMETRY_TOLERANCE, type CaseImages, type LoadedCase, type NamedImage } from './case.js';

export interface CaseSource {
  id: string;
  /** One file per channel, or a single 4-D file holding every channel (`channelsInOneFile`). */
  images: string[];
  label: string | null;
}

/**
 * Reads a case; every channel and the label must share the first channel's grid (shape and
 * affine), and the label may hold only `declaredLabels` when given (see `assembleCase`).
 */
export function loadCase(source: CaseSource, channelsInOneFile = false, expectedChannels?: number, declaredLabels?: number[]): LoadedCase {
  const files = channelsInOneFile ? source.images.slice(0, 1) : source.images;
  const images = [{ image: readNifti(files[0]!), file: files[0]! }];
  if (!channelsInOneFile) refuseChannelsInOneFile(images[0]!); // before the others are read
  for (const file of files.slice(1)) images.push({ image: readNifti(file), file });
  const label = source.label ? { image: readNifti(source.label), file: source.label } : null;
  return assembleCase({ id: source.id, images, label }, channelsInOneFile, expectedChannels, declaredLabels);
}
