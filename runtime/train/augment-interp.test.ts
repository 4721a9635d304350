import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lowResolution, resamplePatch, type Mat3 } from './augment.js';
import type { Shape3 } from './volume.js';

interface SpatialCase {
  shape: Shape3;
  data: number[];
  seg: number[];
  M: number[];
  centre: number[];
  patch: Shape3;
  out_data: number[];
  out_seg: number[];
}
interface LowResCase {
  shape: Shape3;
  zoom: number;
  ignore: number[];
  x: number[];
  out: number[];
}

// batchgenerators' transforms with nnU-Net's orders restated on scipy 1.17 (testdata/spatial-transform.py)
const ref = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'spatial-transform.json'), 'utf8')) as Record<string, SpatialCase & LowResCase>;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('augmentation interpolation orders against scipy (batchgenerators semantics)', () => {
  for (const [name, inPlane] of [['case3d', false], ['case2d', true]] as const) {
    it(`${name}: images cubic spline (zeros beyond the box), labels linear per label ≥ 0.5`, () => {
      const c = ref[name]!;
      const out = resamplePatch(
        { data: Float32Array.from(c.data), seg: Int8Array.from(c.seg), shape: c.shape, channels: 1 },
        c.M as Mat3,
        c.centre,
        c.patch,
        inPlane,
      );
      // float32 data and coefficients against float64 scipy
      expect(maxAbs(out.data, c.out_data)).toBeLessThan(2e-5);
      expect(Array.from(out.seg)).toEqual(c.out_seg);
    });
  }

  for (const name of ['lowres', 'lowres_ignore0']) {
    it(`${name}: order-0 down-sampling, order-3 up-sampling (skimage resize, clipped)`, () => {
      const c = ref[name]!;
      const x = Float32Array.from(c.x);
      lowResolution(x, c.shape, c.zoom, c.ignore);
      expect(maxAbs(x, c.out)).toBeLessThan(1e-5);
    });
  }
});
