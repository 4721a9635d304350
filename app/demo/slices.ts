/**
 * Axial slices of a volume as RGB pictures: the image under a CT window, label maps in fixed
 * colours. Arrays are NIfTI order (x fastest); rows are j and columns i, so LPS-stored CT shows in
 * the radiological convention (patient's right on the left of the picture, anterior at the top).
 */

export interface RgbPicture {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Label colours: background black, then distinct colours (liver, kidney, lesion, ...). */
export const LABEL_COLOURS: [number, number, number][] = [
  [0, 0, 0], [214, 96, 77], [67, 147, 195], [255, 220, 60], [120, 200, 110], [190, 120, 220], [240, 150, 40], [110, 220, 220],
];

export function labelColour(value: number): [number, number, number] {
  return value === 0 ? LABEL_COLOURS[0]! : LABEL_COLOURS[1 + ((value - 1) % (LABEL_COLOURS.length - 1))]!;
}

/** Slice k of a [X, Y, Z] intensity volume, windowed (level, width in the volume's units), upscaled by `scale`. */
export function windowedSlice(data: ArrayLike<number>, shape: number[], k: number, level: number, width: number, scale = 1): RgbPicture {
  const [X = 1, Y = 1] = shape;
  const lo = level - width / 2;
  return picture(X, Y, scale, (i, j) => {
    const v = Math.round(((data[i + X * (j + Y * k)]! - lo) / width) * 255);
    const g = v < 0 ? 0 : v > 255 ? 255 : v;
    return [g, g, g];
  });
}

/** Slice k of a label volume in `labelColour`s; with `under`, labels are blended over that picture. */
export function labelSlice(labels: ArrayLike<number>, shape: number[], k: number, scale = 1, under?: RgbPicture, alpha = 0.55): RgbPicture {
  const [X = 1, Y = 1] = shape;
  return picture(X, Y, scale, (i, j, px) => {
    const v = labels[i + X * (j + Y * k)]!;
    const c = labelColour(v);
    if (!under) return c;
    const o = px * 3;
    const b = [under.rgb[o]!, under.rgb[o + 1]!, under.rgb[o + 2]!];
    if (v === 0) return b as [number, number, number];
    return [0, 1, 2].map((t) => Math.round(alpha * c[t]! + (1 - alpha) * b[t]!)) as [number, number, number];
  });
}

function picture(X: number, Y: number, scale: number, colour: (i: number, j: number, pixel: number) => [number, number, number]): RgbPicture {
  const width = X * scale, height = Y * scale;
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const px = y * width + x;
      const c = colour(Math.floor(x / scale), Math.floor(y / scale), px);
      rgb[px * 3] = c[0];
      rgb[px * 3 + 1] = c[1];
      rgb[px * 3 + 2] = c[2];
    }
  }
  return { width, height, rgb };
}

/** Pictures side by side with a `gap`-pixel dark border between them. */
export function sideBySide(pictures: RgbPicture[], gap = 4): RgbPicture {
  const height = Math.max(...pictures.map((p) => p.height));
  const width = pictures.reduce((a, p) => a + p.width, 0) + gap * (pictures.length - 1);
  const rgb = new Uint8Array(width * height * 3).fill(32);
  let x0 = 0;
  for (const p of pictures) {
    for (let y = 0; y < p.height; y++) rgb.set(p.rgb.subarray(y * p.width * 3, (y + 1) * p.width * 3), (y * width + x0) * 3);
    x0 += p.width + gap;
  }
  return { width, height, rgb };
}
