import { describe, expect, it } from 'vitest';
import { drawSpatial, lowResolution, resamplePatch, type Sample } from './augment.js';
import { readBoxSize } from './batch.js';
import { Rng } from './rng.js';
import { defaultPlansForTests } from './test-plans.js';
import type { Shape3 } from './volume.js';

const aug = (dummy: boolean) => {
  const a = defaultPlansForTests().augmentation;
  return { ...a, dummy_2d: dummy, rotation: { ...a.rotation, p: 1 }, scaling: { ...a.scaling, p: 1 } };
};

/** Slice k of axis 0 holds the value k + 1 everywhere (labels: k mod 3). */
function slabs(shape: Shape3): Sample {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(n), seg = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / (shape[1] * shape[2]));
    data[i] = k + 1;
    seg[i] = k % 3;
  }
  return { data, seg, shape, channels: 1 };
}

describe('dummy-2D augmentation for anisotropic patches (nnU-Net do_dummy_2D_data_aug)', () => {
  it('the spatial transform works per slice: rotation about axis 0 only, axis 0 maps onto itself', () => {
    const rng = new Rng(4);
    const patch: Shape3 = [6, 16, 16];
    let rotatedFar = false;
    for (let t = 0; t < 6; t++) {
      const m = drawSpatial(rng, aug(true))!;
      expect([m[0], m[1], m[2], m[3], m[6]]).toEqual([1, 0, 0, 0, 0]);
      // in-plane angles reach beyond the 3-D ±30°
      if (Math.abs(Math.atan2(m[7], m[4])) > Math.PI / 3) rotatedFar = true;
      // a read box of exactly the patch along axis 0, centred as the loader does (start + box/2 − 0.5)
      const box = readBoxSize(patch, aug(true));
      expect(box[0]).toBe(patch[0]);
      const src = slabs(box);
      const centre = box.map((d) => d / 2 - 0.5);
      const out = resamplePatch(src, m, centre, patch, true);
      const per = patch[1] * patch[2];
      for (let k = 0; k < patch[0]; k++) {
        for (let i = 0; i < per; i++) {
          const v = out.data[k * per + i]!;
          // every output voxel of slice k comes from slice k (or the zero beyond the in-plane box)
          if (v !== 0) expect(v).toBeCloseTo(k + 1, 4);
          const l = out.seg[k * per + i]!;
          if (l !== 0) expect(l).toBe(k % 3);
        }
      }
    }
    expect(rotatedFar).toBe(true);
  });

  it('the read box is the patch along axis 0 and get_patch_size(±180°) in plane', () => {
    expect(readBoxSize([20, 96, 80], aug(true))).toEqual([20, 112, 112]);
    expect(readBoxSize([128, 128, 128], aug(false))).toEqual([205, 205, 205]);
  });

  it('the low-resolution simulation leaves the coarse axis out', () => {
    // varies only along axis 0: an in-plane down/up-sampling keeps it exactly
    const shape: Shape3 = [7, 12, 12];
    const s = slabs(shape);
    const x = s.data.slice();
    lowResolution(x, shape, 0.5, [0]);
    for (let i = 0; i < x.length; i++) expect(x[i]).toBeCloseTo(s.data[i]!, 5);
    // while a 3-D one changes it
    const y = s.data.slice();
    lowResolution(y, shape, 0.5);
    expect(y.some((v, i) => Math.abs(v - s.data[i]!) > 1e-3)).toBe(true);
  });
});
