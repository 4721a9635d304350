import { FeatureTransform, type Shape3 } from './edt.js';
import { unionBoundingBox } from './surface-distances.js';

/**
 * The voxel-count "normalised surface Dice" of MedNeXt's `evaluation/surface_dice.py`
 * (`normalized_surface_dice`, connectivity 1), kept as a secondary metric: its own docstring says
 * it is not comparable to the standard surfel-area NSD.
 *
 * Border voxels (medpy): inside voxels with at least one of their 6 face neighbours outside, voxels
 * beyond the array counting as outside. For each border voxel of one mask, the distance (mm) to
 * the nearest border voxel of the other; tp/fp (and tp/fn the other way) are the fractions of
 * border voxels within / beyond the tolerance, and
 * nsd = (tp_a + tp_b) / (tp_a + tp_b + fp + fn + 1e-8). NaN when either mask is empty (the
 * official code raises there).
 */
export function voxelSurfaceDice(pred: Uint8Array, ref: Uint8Array, shape: Shape3, spacing: readonly number[], tolerance: number): number {
  const box = unionBoundingBox(pred, ref, shape);
  if (!box) return NaN;
  // Crop to the union box plus one voxel of outside on every side: the padding plays the part of
  // the array edge (outside), and every border voxel of either mask lies inside the crop.
  const size: Shape3 = [box.hi[0]! - box.lo[0]! + 3, box.hi[1]! - box.lo[1]! + 3, box.hi[2]! - box.lo[2]! + 3];
  const a = cropPadded(pred, shape, box.lo, size);
  const b = cropPadded(ref, shape, box.lo, size);
  const borderA = border(a, size);
  const borderB = border(b, size);
  const toA = new FeatureTransform(borderA, size, spacing);
  const toB = new FeatureTransform(borderB, size, spacing);
  if (toA.empty || toB.empty) return NaN;
  const [nA, withinA] = countWithin(borderA, toB, tolerance);
  const [nB, withinB] = countWithin(borderB, toA, tolerance);
  const tpA = withinA / nA, fp = (nA - withinA) / nA;
  const tpB = withinB / nB, fn = (nB - withinB) / nB;
  return (tpA + tpB) / (tpA + tpB + fp + fn + 1e-8);
}

function cropPadded(mask: Uint8Array, shape: Shape3, lo: number[], size: Shape3): Uint8Array {
  const [, n1, n2] = shape;
  const [m0, m1, m2] = size;
  const out = new Uint8Array(m0 * m1 * m2);
  for (let c0 = 1; c0 < m0 - 1; c0++) {
    for (let c1 = 1; c1 < m1 - 1; c1++) {
      const src = ((lo[0]! + c0 - 1) * n1 + lo[1]! + c1 - 1) * n2 + lo[2]! - 1;
      const dst = (c0 * m1 + c1) * m2;
      for (let c2 = 1; c2 < m2 - 1; c2++) out[dst + c2] = mask[src + c2] ? 1 : 0;
    }
  }
  return out;
}

/** Inside voxels with an outside face neighbour (the crop's outer layer is all outside). */
function border(m: Uint8Array, size: Shape3): Uint8Array {
  const [m0, m1, m2] = size;
  const plane = m1 * m2;
  const out = new Uint8Array(m.length);
  for (let c0 = 1; c0 < m0 - 1; c0++) {
    for (let c1 = 1; c1 < m1 - 1; c1++) {
      for (let c2 = 1; c2 < m2 - 1; c2++) {
        const i = (c0 * m1 + c1) * m2 + c2;
        if (!m[i]) continue;
        if (!m[i - 1] || !m[i + 1] || !m[i - m2] || !m[i + m2] || !m[i - plane] || !m[i + plane]) out[i] = 1;
      }
    }
  }
  return out;
}

function countWithin(from: Uint8Array, to: FeatureTransform, tolerance: number): [number, number] {
  let n = 0, within = 0;
  for (let i = 0; i < from.length; i++) {
    if (!from[i]) continue;
    n++;
    if (to.distanceAtIndex(i) <= tolerance) within++;
  }
  return [n, within];
}
