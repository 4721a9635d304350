/**
 * Cropping to the non-zero region, as nnU-Net v1 `preprocessing/cropping.py`: the mask is the OR over
 * channels of `value != 0`, holes filled (`scipy.ndimage.binary_fill_holes`: background not connected to
 * the border through 6-connected background becomes foreground), then its bounding box. Inside the box,
 * label-0 voxels outside the mask become −1, which later marks "outside the body" for normalisation
 * and sampling.
 * Volumes are C-order [d0, d1, d2]; boxes are half-open `[[lo0, hi0], [lo1, hi1], [lo2, hi2]]`.
 */
export type Box3 = [[number, number], [number, number], [number, number]];
export type Shape3 = [number, number, number];

/** Non-zero mask over all channels with its holes filled. */
export function nonzeroMask(channels: ArrayLike<number>[], shape: Shape3): Uint8Array {
  const size = shape[0] * shape[1] * shape[2];
  const mask = new Uint8Array(size);
  for (const ch of channels) for (let i = 0; i < size; i++) if (ch[i] !== 0) mask[i] = 1;
  fillHoles(mask, shape);
  return mask;
}

/** In-place `binary_fill_holes` with the default (6-connected) structure. */
export function fillHoles(mask: Uint8Array, shape: Shape3): void {
  const [d0, d1, d2] = shape;
  const size = d0 * d1 * d2;
  const s0 = d1 * d2;
  const reached = new Uint8Array(size);
  const queue = new Int32Array(size);
  let head = 0;
  let tail = 0;
  const seed = (i: number) => {
    if (mask[i] === 0 && reached[i] === 0) {
      reached[i] = 1;
      queue[tail++] = i;
    }
  };
  for (let a = 0; a < d0; a++)
    for (let b = 0; b < d1; b++)
      for (let c = 0; c < d2; c++)
        if (a === 0 || a === d0 - 1 || b === 0 || b === d1 - 1 || c === 0 || c === d2 - 1) seed(a * s0 + b * d2 + c);
  while (head < tail) {
    const i = queue[head++]!;
    const a = Math.floor(i / s0);
    const rem = i - a * s0;
    const b = Math.floor(rem / d2);
    const c = rem - b * d2;
    if (a > 0) seed(i - s0);
    if (a < d0 - 1) seed(i + s0);
    if (b > 0) seed(i - d2);
    if (b < d1 - 1) seed(i + d2);
    if (c > 0) seed(i - 1);
    if (c < d2 - 1) seed(i + 1);
  }
  for (let i = 0; i < size; i++) if (reached[i] === 0) mask[i] = 1;
}

/** Bounding box of the non-zero voxels; the whole volume when the mask is empty (nothing to crop to). */
export function boundingBox(mask: ArrayLike<number>, shape: Shape3): Box3 {
  const [d0, d1, d2] = shape;
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-1, -1, -1];
  let i = 0;
  for (let a = 0; a < d0; a++)
    for (let b = 0; b < d1; b++)
      for (let c = 0; c < d2; c++, i++) {
        if (mask[i] === 0) continue;
        if (a < lo[0]!) lo[0] = a;
        if (a > hi[0]!) hi[0] = a;
        if (b < lo[1]!) lo[1] = b;
        if (b > hi[1]!) hi[1] = b;
        if (c < lo[2]!) lo[2] = c;
        if (c > hi[2]!) hi[2] = c;
      }
  if (hi[0]! < 0) return [[0, d0], [0, d1], [0, d2]];
  return [[lo[0]!, hi[0]! + 1], [lo[1]!, hi[1]! + 1], [lo[2]!, hi[2]! + 1]];
}

export function boxShape(box: Box3): Shape3 {
  return [box[0][1] - box[0][0], box[1][1] - box[1][0], box[2][1] - box[2][0]];
}

/** Copies the box out of a volume into a new array of the given constructor's type. */
export function cropToBox<T extends ArrayLike<number>>(
  data: ArrayLike<number>,
  shape: Shape3,
  box: Box3,
  make: (n: number) => T & { [i: number]: number },
): T {
  const [c0, c1, c2] = boxShape(box);
  const out = make(c0 * c1 * c2);
  let o = 0;
  for (let a = box[0][0]; a < box[0][1]; a++)
    for (let b = box[1][0]; b < box[1][1]; b++) {
      const row = (a * shape[1] + b) * shape[2];
      for (let c = box[2][0]; c < box[2][1]; c++) out[o++] = data[row + c]!;
    }
  return out;
}

/** The inverse of `cropToBox`: a volume of `shape` filled with `fill`, the box pasted in. */
export function pasteIntoBox<T extends { [i: number]: number; length: number; fill(v: number): unknown }>(
  part: ArrayLike<number>,
  shape: Shape3,
  box: Box3,
  make: (n: number) => T,
  fill = 0,
): T {
  const out = make(shape[0] * shape[1] * shape[2]);
  if (fill !== 0) out.fill(fill);
  let o = 0;
  for (let a = box[0][0]; a < box[0][1]; a++)
    for (let b = box[1][0]; b < box[1][1]; b++) {
      const row = (a * shape[1] + b) * shape[2];
      for (let c = box[2][0]; c < box[2][1]; c++) out[row + c] = part[o++]!;
    }
  return out;
}
