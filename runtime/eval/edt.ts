/**
 * Exact Euclidean distance transform of a 3-D binary feature mask with anisotropic voxel spacing:
 * the distance (mm) from any voxel to the nearest feature voxel.
 *
 * Separable algorithm (Felzenszwalb & Huttenlocher 2012): a two-sweep nearest-feature pass along
 * axis 2, then the lower envelope of parabolas along axis 1 and axis 0. Each pass also records
 * which site won, so the nearest feature's coordinates can be recovered and the distance computed
 * from the integer offsets as sqrt((Δ0·s0)² + (Δ1·s1)² + (Δ2·s2)²) — the same expression, in
 * the same order, as scipy's distance_transform_edt, so distances that equal a tolerance exactly
 * compare the same way.
 *
 * Arrays are C order: voxel (i0, i1, i2) is at index (i0·n1 + i1)·n2 + i2.
 */

export type Shape3 = readonly [number, number, number];

type IndexArray = Int16Array | Int32Array;

export class FeatureTransform {
  readonly empty: boolean;
  private readonly near0: IndexArray;
  private readonly near1: IndexArray;
  private readonly near2: IndexArray;

  constructor(feature: Uint8Array, readonly shape: Shape3, readonly spacing: readonly number[]) {
    const [n0, n1, n2] = shape;
    const total = n0 * n1 * n2;
    if (feature.length !== total) throw new Error(`FeatureTransform: mask has ${feature.length} voxels, shape ${shape.join('×')} needs ${total}`);
    const Index = Math.max(n0, n1, n2) > 32767 ? Int32Array : Int16Array;
    this.near2 = new Index(total);
    this.near1 = new Index(total);
    this.near0 = new Index(total);
    const f = new Float64Array(total);
    this.empty = !firstPass(feature, f, this.near2, shape, spacing[2]!);
    if (this.empty) return;
    const longest = Math.max(n0, n1);
    const work = new Work(longest);
    // Axis 1: lines of stride n2, one per (i0, i2).
    for (let i0 = 0; i0 < n0; i0++) {
      for (let i2 = 0; i2 < n2; i2++) envelopePass(f, this.near1, i0 * n1 * n2 + i2, n2, n1, spacing[1]!, work);
    }
    // Axis 0: lines of stride n1·n2, one per (i1, i2).
    for (let j = 0; j < n1 * n2; j++) envelopePass(f, this.near0, j, n1 * n2, n0, spacing[0]!, work);
  }

  /** Distance (mm) from voxel (i0, i1, i2) to the nearest feature; Infinity when there is none. */
  distance(i0: number, i1: number, i2: number): number {
    if (this.empty) return Infinity;
    const [, n1, n2] = this.shape;
    const f0 = this.near0[(i0 * n1 + i1) * n2 + i2]!;
    const f1 = this.near1[(f0 * n1 + i1) * n2 + i2]!;
    const f2 = this.near2[(f0 * n1 + f1) * n2 + i2]!;
    const d0 = (f0 - i0) * this.spacing[0]!;
    const d1 = (f1 - i1) * this.spacing[1]!;
    const d2 = (f2 - i2) * this.spacing[2]!;
    return Math.sqrt(d0 * d0 + d1 * d1 + d2 * d2);
  }

  /** Distance at a C-order linear index. */
  distanceAtIndex(index: number): number {
    const [, n1, n2] = this.shape;
    const i2 = index % n2;
    const rest = (index - i2) / n2;
    const i1 = rest % n1;
    return this.distance((rest - i1) / n1, i1, i2);
  }
}

/** Scratch buffers for one line of the envelope pass. */
class Work {
  readonly g: Float64Array;
  readonly v: Int32Array;
  readonly z: Float64Array;
  constructor(n: number) {
    this.g = new Float64Array(n);
    this.v = new Int32Array(n);
    this.z = new Float64Array(n + 1);
  }
}

/**
 * Along axis 2: nearest feature on each line by a forward and a backward sweep. Writes the squared
 * distance (mm²) to `f` and the feature's i2 to `near`; returns whether any feature exists.
 */
function firstPass(feature: Uint8Array, f: Float64Array, near: IndexArray, shape: Shape3, s: number): boolean {
  const [n0, n1, n2] = shape;
  let any = false;
  for (let line = 0; line < n0 * n1; line++) {
    const base = line * n2;
    let last = -1;
    for (let k = 0; k < n2; k++) {
      if (feature[base + k]) last = k;
      near[base + k] = last;
    }
    let next = -1;
    for (let k = n2 - 1; k >= 0; k--) {
      if (feature[base + k]) next = k;
      const prev = near[base + k]!;
      let q = prev;
      if (next >= 0 && (prev < 0 || next - k < k - prev)) q = next;
      near[base + k] = q;
      if (q < 0) f[base + k] = Infinity;
      else {
        const d = (k - q) * s;
        f[base + k] = d * d;
      }
    }
    if (last >= 0) any = true;
  }
  return any;
}

/**
 * One line of the separable pass: f(p) ← min_q g(q) + (s·(p − q))², via the lower envelope of the
 * parabolas rooted at the sites with finite g. `near` receives the winning q (−1: no site).
 */
function envelopePass(f: Float64Array, near: IndexArray, start: number, stride: number, n: number, s: number, w: Work): void {
  const { g, v, z } = w;
  const s2 = s * s;
  let k = -1;
  for (let q = 0; q < n; q++) {
    const gq = f[start + q * stride]!;
    g[q] = gq;
    if (gq === Infinity) continue;
    let cross = -Infinity;
    while (k >= 0) {
      const r = v[k]!;
      cross = (gq + s2 * q * q - (g[r]! + s2 * r * r)) / (2 * s2 * (q - r));
      if (cross <= z[k]!) k--;
      else break;
    }
    k++;
    v[k] = q;
    z[k] = k === 0 ? -Infinity : cross;
  }
  if (k < 0) {
    for (let p = 0; p < n; p++) {
      f[start + p * stride] = Infinity;
      near[start + p * stride] = -1;
    }
    return;
  }
  z[k + 1] = Infinity;
  let j = 0;
  for (let p = 0; p < n; p++) {
    while (z[j + 1]! < p) j++;
    const q = v[j]!;
    const d = p - q;
    f[start + p * stride] = s2 * d * d + g[q]!;
    near[start + p * stride] = q;
  }
}
