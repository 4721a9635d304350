/**
 * The importance map that weights each sliding-window prediction (nnU-Net v1 `_get_gaussian`): a unit
 * impulse at the patch centre `⌊P/2⌋`, blurred by scipy's `gaussian_filter` (σ = P·scale per axis,
 * kernel truncated at radius ⌊4σ + 0.5⌋, zero outside), normalised to a maximum of 1, stored as
 * float32, and its zeros replaced by the smallest non-zero value so no voxel gets weight 0.
 *
 * Blurring an impulse with a separable kernel gives the kernel itself, so the map is the product of
 * one truncated 1-D Gaussian per axis; normalising by the centre value leaves exp(−d²/2σ²).
 */
import type { Triple } from '../data/plan/plans.js';

/** scipy.ndimage's default `truncate`. */
const TRUNCATE = 4;

/** exp(−d²/2σ²) at d = i − ⌊P/2⌋, zero beyond scipy's kernel radius. */
export function gaussianProfile(patch: number, sigma: number): Float64Array {
  const centre = Math.floor(patch / 2);
  const radius = Math.floor(TRUNCATE * sigma + 0.5);
  const out = new Float64Array(patch);
  for (let i = 0; i < patch; i++) {
    const d = i - centre;
    out[i] = Math.abs(d) <= radius ? Math.exp((-0.5 * d * d) / (sigma * sigma)) : 0;
  }
  return out;
}

/** The importance map, C order [p0, p1, p2], maximum 1, strictly positive. */
export function gaussianImportanceMap(patch: Triple, sigmaScale = 1 / 8): Float32Array {
  const [g0, g1, g2] = patch.map((p) => gaussianProfile(p, p * sigmaScale)) as [Float64Array, Float64Array, Float64Array];
  const out = new Float32Array(patch[0] * patch[1] * patch[2]);
  let o = 0;
  for (let a = 0; a < patch[0]; a++)
    for (let b = 0; b < patch[1]; b++) {
      const ab = g0[a]! * g1[b]!;
      for (let c = 0; c < patch[2]; c++) out[o++] = ab * g2[c]!;
    }
  let minPositive = Infinity;
  for (const v of out) if (v > 0 && v < minPositive) minPositive = v;
  for (let i = 0; i < out.length; i++) if (out[i] === 0) out[i] = minPositive;
  return out;
}
