/**
 * Small helpers on host volumes: C-order arrays [d0, d1, d2] (one channel) as the preprocessed
 * store keeps them. Used by the augmentation and the batch builder; no TF.js here.
 */
export type Shape3 = [number, number, number];

export function voxels(s: readonly number[]): number {
  return s[0]! * s[1]! * s[2]!;
}

/** Nearest-neighbour source index of output index i when resizing n → m (centre-aligned, as skimage order 0). */
export function nearestIndex(i: number, n: number, m: number): number {
  return Math.min(n - 1, Math.floor(((i + 0.5) * n) / m));
}

/** Resizes one channel by nearest neighbour (labels, low-resolution simulation). */
export function resizeNearest<T extends Float32Array | Int8Array>(src: T, from: Shape3, to: Shape3): T {
  const out = new (src.constructor as { new (n: number): T })(voxels(to));
  const i0 = Array.from({ length: to[0] }, (_, i) => nearestIndex(i, from[0], to[0]));
  const i1 = Array.from({ length: to[1] }, (_, i) => nearestIndex(i, from[1], to[1]));
  const i2 = Array.from({ length: to[2] }, (_, i) => nearestIndex(i, from[2], to[2]));
  let o = 0;
  for (let a = 0; a < to[0]; a++)
    for (let b = 0; b < to[1]; b++) {
      const row = (i0[a]! * from[1] + i1[b]!) * from[2];
      for (let c = 0; c < to[2]; c++) out[o++] = src[row + i2[c]!]!;
    }
  return out;
}

/** Reverses one axis of a [C?, d0, d1, d2] array in place (`channels` leading blocks). */
export function flipAxis(arr: Float32Array | Int8Array, shape: Shape3, axis: number, channels = 1): void {
  const [D0, D1, D2] = shape;
  const n = voxels(shape);
  for (let c = 0; c < channels; c++) {
    const base = c * n;
    for (let a = 0; a < D0; a++)
      for (let b = 0; b < D1; b++)
        for (let k = 0; k < D2; k++) {
          let a2 = a, b2 = b, k2 = k;
          if (axis === 0) { if (a >= D0 - 1 - a) continue; a2 = D0 - 1 - a; }
          else if (axis === 1) { if (b >= D1 - 1 - b) continue; b2 = D1 - 1 - b; }
          else { if (k >= D2 - 1 - k) continue; k2 = D2 - 1 - k; }
          const i = base + (a * D1 + b) * D2 + k;
          const j = base + (a2 * D1 + b2) * D2 + k2;
          const t = arr[i]!;
          arr[i] = arr[j]!;
          arr[j] = t;
        }
  }
}

export function meanStd(x: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0, mn = Infinity, mx = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    s += v;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  const mean = s / x.length;
  let q = 0;
  for (let i = 0; i < x.length; i++) q += (x[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(q / x.length), min: mn, max: mx };
}
