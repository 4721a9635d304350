import { createImage, type NiftiHeader, type NiftiImage } from '../nifti/index.js';
import type { UndoneCase } from './pipeline.js';
import type { CaseProperties } from './store.js';

/**
 * The undone labels as a NIfTI image on the case's original grid: same shape, affine and header
 * (codes, units, description) as the source image, stored as uint8. Write it with `writeNifti`.
 */
export function toOriginalImage(undone: UndoneCase, props: CaseProperties): NiftiImage {
  const header = props.original.header as unknown as NiftiHeader;
  const shape = [...undone.shape];
  const like: NiftiImage = {
    shape,
    dtype: 'uint8',
    data: new Uint8Array(0),
    affine: props.original.affine,
    spacing: [props.original.spacing[2], props.original.spacing[1], props.original.spacing[0]],
    header,
  };
  return createImage({ shape, data: undone.labels, affine: props.original.affine, dtype: 'uint8' }, like);
}
