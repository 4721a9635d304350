import { describe, expect, it } from 'vitest';
import { computeSurfaceDistances } from './surface-distances.js';
import { cornerBit, surfelAreaTable } from './surfel-table.js';

/** Total surfel area of a mask, from the surface-distance machinery. */
function surfaceArea(mask: Uint8Array, shape: [number, number, number], spacing: number[]): number {
  const sd = computeSurfaceDistances(mask, mask, shape, spacing);
  return sd.areasRef.reduce((a, b) => a + b, 0);
}

describe('surfelAreaTable', () => {
  it('gives no area to uniform neighbourhoods and the corner triangle to a single voxel', () => {
    const t = surfelAreaTable([1, 1, 1]);
    expect(t[0]).toBe(0);
    expect(t[255]).toBe(0);
    for (let b = 0; b < 8; b++) expect(t[1 << b]).toBeCloseTo(Math.sqrt(3) / 8, 14);
  });

  it('gives a flat face the face area, scaled by the two in-plane spacings', () => {
    const [s0, s1, s2] = [0.7, 1.3, 2.9];
    const t = surfelAreaTable([s0, s1, s2]);
    // The four corners with a = 1: a plane normal to axis 0.
    const face0 = cornerBit(1, 0, 0) | cornerBit(1, 0, 1) | cornerBit(1, 1, 0) | cornerBit(1, 1, 1);
    const face2 = cornerBit(0, 0, 0) | cornerBit(0, 1, 0) | cornerBit(1, 0, 0) | cornerBit(1, 1, 0);
    expect(t[face0]).toBeCloseTo(s1 * s2, 13);
    expect(t[face2]).toBeCloseTo(s0 * s1, 13);
  });

  it('is symmetric under complement (inside and outside swap)', () => {
    const t = surfelAreaTable([0.8, 1.7, 2.5]);
    for (let c = 0; c < 256; c++) expect(t[255 - c]).toBeCloseTo(t[c]!, 13);
  });

  it('measures a box as flat faces, chamfered edges and corner triangles, at any spacing', () => {
    // An n0×n1×n2 voxel box: the marching-cubes surface has (n_i − 1)(n_j − 1) unit faces on
    // each side, (n_k − 1) edge quads with area vector (0, ½, ½) along each of 12 edges, and 8
    // corner triangles with area vector (⅛, ⅛, ⅛).
    const [n0, n1, n2] = [5, 7, 4];
    const shape: [number, number, number] = [n0 + 4, n1 + 4, n2 + 4];
    const mask = new Uint8Array(shape[0] * shape[1] * shape[2]);
    for (let i = 2; i < 2 + n0; i++) for (let j = 2; j < 2 + n1; j++) for (let k = 2; k < 2 + n2; k++) mask[(i * shape[1] + j) * shape[2] + k] = 1;
    for (const [s0, s1, s2] of [[1, 1, 1], [0.8, 1.5, 2.5]] as const) {
      const faces = 2 * ((n1 - 1) * (n2 - 1) * s1 * s2 + (n0 - 1) * (n2 - 1) * s0 * s2 + (n0 - 1) * (n1 - 1) * s0 * s1);
      const edges =
        4 * (n0 - 1) * 0.5 * Math.hypot(s0 * s2, s0 * s1) + 4 * (n1 - 1) * 0.5 * Math.hypot(s1 * s2, s0 * s1) + 4 * (n2 - 1) * 0.5 * Math.hypot(s1 * s2, s0 * s2);
      const corners = 8 * 0.125 * Math.hypot(s1 * s2, s0 * s2, s0 * s1);
      expect(surfaceArea(mask, shape, [s0, s1, s2])).toBeCloseTo(faces + edges + corners, 10);
    }
  });

  it('does not depend on the axis order when shape and spacing are permuted together', () => {
    // A random blob, transposed (i0, i1, i2) → (i2, i1, i0).
    const shape: [number, number, number] = [9, 7, 6];
    const mask = new Uint8Array(9 * 7 * 6);
    let seed = 7;
    for (let i = 0; i < mask.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      mask[i] = seed / 4294967296 < 0.45 ? 1 : 0;
    }
    const t = new Uint8Array(mask.length);
    for (let i = 0; i < 9; i++) for (let j = 0; j < 7; j++) for (let k = 0; k < 6; k++) t[(k * 7 + j) * 9 + i] = mask[(i * 7 + j) * 6 + k]!;
    expect(surfaceArea(t, [6, 7, 9], [2.5, 1.1, 0.6])).toBeCloseTo(surfaceArea(mask, shape, [0.6, 1.1, 2.5]), 10);
  });
});
