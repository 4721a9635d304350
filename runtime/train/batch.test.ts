import { describe, expect, it } from 'vitest';
import type { CaseHeader } from '../data/preprocess/store.js';
import { chooseBoxStart, enlargedPatchSize } from './batch.js';
import { Rng } from './rng.js';
import type { Shape3 } from './volume.js';

/** A case header as the store writes it: only the shape and the foreground locations matter here. */
function header(shape: Shape3, fg: number[] = []): CaseHeader {
  return {
    format: 'mnxc-preprocessed-case',
    version: 1,
    plans_hash: '',
    data: { file: 'x.data.f32', dtype: 'float32', shape: [1, ...shape] },
    seg: { file: 'x.seg.i8', dtype: 'int8', shape },
    properties: { class_locations: fg.length ? { '1': fg } : {} } as unknown as CaseHeader['properties'],
  };
}

// the numbers: a 128³ patch, its 205³ read box (±30°, zoom-out 0.85), an axis of 300 voxels
const PATCH: Shape3 = [128, 16, 16];
const BOX: Shape3 = [205, 16, 16];
const OFFSET = Math.floor((BOX[0] - PATCH[0]) / 2); // the final patch is the centre of the box (38)

describe('patch sampling as nnU-Net v1 DataLoader3D', () => {
  it('get_patch_size rotates the patch vector (numbers from numpy with batchgenerators matrices)', () => {
    expect(enlargedPatchSize([128, 128, 128], [30, 30, 30])).toEqual([205, 205, 205]);
    expect(enlargedPatchSize([64, 128, 128], [30, 30, 30])).toEqual([140, 205, 168]);
    expect(enlargedPatchSize([20, 96, 80], [30, 30, 30])).toEqual([76, 144, 94]);
    // dummy 2-D: the in-plane axes with ±180° (clamped to 90°)
    expect(enlargedPatchSize([96, 80], [180])).toEqual([112, 112]);
  });

  it('unaugmented final patches reach every voxel of an axis of 300 (box 205, patch 128)', () => {
    const rng = new Rng(1);
    const h = header([300, 16, 16]);
    const covered = new Uint8Array(300);
    let lo = Infinity, hi = -Infinity;
    for (let k = 0; k < 4000; k++) {
      const s = chooseBoxStart(rng, h, BOX, false, PATCH);
      lo = Math.min(lo, s[0]);
      hi = Math.max(hi, s[0]);
      for (let v = s[0] + OFFSET; v < s[0] + OFFSET + PATCH[0]; v++) if (v >= 0 && v < 300) covered[v] = 1;
    }
    // start range −⌈77/2⌉ … 300 + ⌈77/2⌉ − 205
    expect([lo, hi]).toEqual([-39, 134]);
    expect(covered.every((c) => c === 1)).toBe(true);
  });

  it('a forced-foreground patch always contains the chosen voxel, at either border too', () => {
    const rng = new Rng(2);
    for (const v of [0, 5, 38, 62, 63, 150, 261, 262, 294, 299]) {
      const h = header([300, 16, 16], [v, 8, 8]);
      const s = chooseBoxStart(rng, h, BOX, true, PATCH);
      expect(v, `foreground voxel ${v}`).toBeGreaterThanOrEqual(s[0] + OFFSET);
      expect(v, `foreground voxel ${v}`).toBeLessThan(s[0] + OFFSET + PATCH[0]);
    }
  });

  it('a case smaller than the box is padded on both sides (validation: box = patch)', () => {
    const rng = new Rng(3);
    const h = header([10, 16, 16]);
    const starts = new Set<number>();
    for (let k = 0; k < 200; k++) starts.add(chooseBoxStart(rng, h, [16, 16, 16], false)[0]);
    // need 6: −3 … 10 + 3 − 16
    expect([...starts].sort((a, b) => a - b)).toEqual([-3]);
  });
});
