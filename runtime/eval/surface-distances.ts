import { FeatureTransform, type Shape3 } from './edt.js';
import { surfelAreaTable } from './surfel-table.js';

/**
 * Surface distances between two binary masks as DeepMind's surface-distance library computes them
 * (`compute_surface_distances`): surfels live on the grid of voxel corners; a corner is on the
 * surface when its 2×2×2 neighbourhood is neither all inside nor all outside; each surfel carries
 * the marching-cubes area of its cell (`surfelAreaTable`) and its distance (mm) to the nearest
 * surfel of the other mask. Masks are C order (voxel (i0, i1, i2) at (i0·n1 + i1)·n2 + i2), one
 * byte per voxel, non-zero = inside; spacing[i] is the voxel size along axis i.
 */
export interface SurfaceDistances {
  /** Ref-surfel distances to the predicted surface (mm), sorted ascending; areas in the same order. */
  distancesRefToPred: Float64Array;
  areasRef: Float64Array;
  distancesPredToRef: Float64Array;
  areasPred: Float64Array;
}

/** Inclusive bounding box of the non-zero voxels of either mask, or undefined when both are empty. */
export function unionBoundingBox(a: Uint8Array, b: Uint8Array, shape: Shape3): { lo: number[]; hi: number[] } | undefined {
  const [n0, n1, n2] = shape;
  const lo = [n0, n1, n2], hi = [-1, -1, -1];
  let i = 0;
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      let first = -1, last = -1;
      for (let i2 = 0; i2 < n2; i2++, i++) {
        if (a[i] || b[i]) {
          if (first < 0) first = i2;
          last = i2;
        }
      }
      if (first < 0) continue;
      if (i0 < lo[0]!) lo[0] = i0;
      if (i0 > hi[0]!) hi[0] = i0;
      if (i1 < lo[1]!) lo[1] = i1;
      if (i1 > hi[1]!) hi[1] = i1;
      if (first < lo[2]!) lo[2] = first;
      if (last > hi[2]!) hi[2] = last;
    }
  }
  return hi[0]! < 0 ? undefined : { lo, hi };
}

/**
 * Neighbourhood code of every voxel corner in the box: corner (c0, c1, c2) of the corner grid
 * (size = box extent + 1 per axis) sits between voxels lo + c − 1 and lo + c; voxels outside the
 * box count as outside.
 */
function cornerCodes(mask: Uint8Array, shape: Shape3, lo: number[], cgrid: Shape3): Uint8Array {
  const [, n1, n2] = shape;
  const [m0, m1, m2] = cgrid;
  const e0 = m0 - 1, e1 = m1 - 1, e2 = m2 - 1; // box extent in voxels
  const codes = new Uint8Array(m0 * m1 * m2);
  const plane = m1 * m2;
  // Scatter: inside voxel v is the neighbour (a, b, c) = (1, 1, 1) − d of corner v + d, d ∈ {0,1}³.
  for (let v0 = 0; v0 < e0; v0++) {
    for (let v1 = 0; v1 < e1; v1++) {
      const src = ((lo[0]! + v0) * n1 + lo[1]! + v1) * n2 + lo[2]!;
      const row = (v0 * m1 + v1) * m2;
      for (let v2 = 0; v2 < e2; v2++) {
        if (!mask[src + v2]) continue;
        const c = row + v2;
        codes[c] |= 1; // d = (0,0,0): corner bit of (1,1,1)
        codes[c + 1] |= 2; // (0,0,1): (1,1,0)
        codes[c + m2] |= 4; // (0,1,0): (1,0,1)
        codes[c + m2 + 1] |= 8; // (0,1,1): (1,0,0)
        codes[c + plane] |= 16; // (1,0,0): (0,1,1)
        codes[c + plane + 1] |= 32; // (1,0,1): (0,1,0)
        codes[c + plane + m2] |= 64; // (1,1,0): (0,0,1)
        codes[c + plane + m2 + 1] |= 128; // (1,1,1): (0,0,0)
      }
    }
  }
  return codes;
}

function surfaceOf(codes: Uint8Array): Uint8Array {
  const surface = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) surface[i] = codes[i] !== 0 && codes[i] !== 255 ? 1 : 0;
  return surface;
}

/** Distances from the surfels of `from` to the surface transformed by `to`, with their areas. */
function directed(codes: Uint8Array, surface: Uint8Array, to: FeatureTransform, table: Float64Array): [Float64Array, Float64Array] {
  let count = 0;
  for (let i = 0; i < surface.length; i++) count += surface[i]!;
  const distances = new Float64Array(count);
  const areas = new Float64Array(count);
  const [m0, m1, m2] = to.shape;
  let k = 0, i = 0;
  for (let c0 = 0; c0 < m0; c0++) {
    for (let c1 = 0; c1 < m1; c1++) {
      for (let c2 = 0; c2 < m2; c2++, i++) {
        if (!surface[i]) continue;
        distances[k] = to.distance(c0, c1, c2);
        areas[k] = table[codes[i]!]!;
        k++;
      }
    }
  }
  return sortByDistanceThenArea(distances, areas);
}

/** Sorts the pairs by (distance, area), as the library sorts its (distance, area) tuples. */
function sortByDistanceThenArea(d: Float64Array, a: Float64Array): [Float64Array, Float64Array] {
  const order = new Uint32Array(d.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((x, y) => d[x]! - d[y]! || a[x]! - a[y]! || 0);
  const ds = new Float64Array(d.length), as = new Float64Array(d.length);
  for (let i = 0; i < order.length; i++) {
    ds[i] = d[order[i]!]!;
    as[i] = a[order[i]!]!;
  }
  return [ds, as];
}

export function computeSurfaceDistances(ref: Uint8Array, pred: Uint8Array, shape: Shape3, spacing: readonly number[]): SurfaceDistances {
  const box = unionBoundingBox(ref, pred, shape);
  if (!box) {
    const none = new Float64Array(0);
    return { distancesRefToPred: none, areasRef: none, distancesPredToRef: none, areasPred: none };
  }
  const cgrid: Shape3 = [box.hi[0]! - box.lo[0]! + 2, box.hi[1]! - box.lo[1]! + 2, box.hi[2]! - box.lo[2]! + 2];
  const table = surfelAreaTable(spacing);
  const codesRef = cornerCodes(ref, shape, box.lo, cgrid);
  const codesPred = cornerCodes(pred, shape, box.lo, cgrid);
  const surfRef = surfaceOf(codesRef);
  const surfPred = surfaceOf(codesPred);
  const toRef = new FeatureTransform(surfRef, cgrid, spacing);
  const toPred = new FeatureTransform(surfPred, cgrid, spacing);
  const [distancesRefToPred, areasRef] = directed(codesRef, surfRef, toPred, table);
  const [distancesPredToRef, areasPred] = directed(codesPred, surfPred, toRef, table);
  return { distancesRefToPred, areasRef, distancesPredToRef, areasPred };
}

function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

function sumWithin(d: Float64Array, a: Float64Array, tolerance: number): number {
  let s = 0;
  for (let i = 0; i < d.length; i++) if (d[i]! <= tolerance) s += a[i]!;
  return s;
}

/**
 * Normalised surface Dice at a tolerance (mm): the surfel area of both surfaces lying within the
 * tolerance of the other surface, over the total area (`compute_surface_dice_at_tolerance`).
 * NaN when both surfaces are empty; 0 when exactly one is.
 */
export function surfaceDiceAtTolerance(sd: SurfaceDistances, tolerance: number): number {
  const overlap = sumWithin(sd.distancesRefToPred, sd.areasRef, tolerance) + sumWithin(sd.distancesPredToRef, sd.areasPred, tolerance);
  return overlap / (sum(sd.areasRef) + sum(sd.areasPred));
}

function directedPercentile(d: Float64Array, a: Float64Array, percent: number): number {
  if (d.length === 0) return Infinity;
  const total = sum(a);
  const target = percent / 100;
  let cum = 0;
  // First index whose cumulative area fraction reaches the target (numpy searchsorted, side left).
  for (let i = 0; i < d.length; i++) {
    cum += a[i]!;
    if (cum / total >= target) return d[i]!;
  }
  return d[d.length - 1]!;
}

/**
 * Robust Hausdorff distance (`compute_robust_hausdorff`): the area-weighted `percent` percentile
 * of each directed distance set, the larger of the two. Infinity when either surface is empty.
 */
export function robustHausdorff(sd: SurfaceDistances, percent: number): number {
  return Math.max(
    directedPercentile(sd.distancesRefToPred, sd.areasRef, percent),
    directedPercentile(sd.distancesPredToRef, sd.areasPred, percent),
  );
}

/**
 * Area-weighted mean distance in each direction (`compute_average_surface_distance`):
 * [ref → pred, pred → ref]. NaN for an empty surface.
 */
export function averageSurfaceDistances(sd: SurfaceDistances): [number, number] {
  const mean = (d: Float64Array, a: Float64Array) => {
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i]! * a[i]!;
    return s / sum(a);
  };
  return [mean(sd.distancesRefToPred, sd.areasRef), mean(sd.distancesPredToRef, sd.areasPred)];
}
