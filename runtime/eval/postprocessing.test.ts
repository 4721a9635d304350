import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, writeNifti } from '../data/nifti/index.js';
import { applyPostprocessing, determinePostprocessing } from './postprocessing.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-pp-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const S = 12;
/** A label volume (x fastest, 12³) with boxes [lo, hi) per label. */
function volume(boxes: { label: number; lo: number[]; hi: number[] }[]): Uint8Array {
  const v = new Uint8Array(S ** 3);
  for (const b of boxes)
    for (let k = b.lo[2]!; k < b.hi[2]!; k++)
      for (let j = b.lo[1]!; j < b.hi[1]!; j++) for (let i = b.lo[0]!; i < b.hi[0]!; i++) v[i + S * (j + S * k)] = b.label;
  return v;
}
let n = 0;
function pair(pred: Uint8Array, ref: Uint8Array): { pred: string; ref: string } {
  const p = join(root, `p${n}.nii.gz`), r = join(root, `r${n++}.nii.gz`);
  writeNifti(p, createImage({ shape: [S, S, S], data: pred }), { dtype: 'uint8' });
  writeNifti(r, createImage({ shape: [S, S, S], data: ref }), { dtype: 'uint8' });
  return { pred: p, ref: r };
}

// an organ (1) with a lesion (2) touching it
const organ = { label: 1, lo: [2, 2, 2], hi: [7, 7, 7] };
const lesion = { label: 2, lo: [7, 3, 3], hi: [9, 5, 5] };

describe("post-processing determination as nnU-Net v1's determine_postprocessing", () => {
  it('keeps the largest foreground component when that helps some class and hurts none', () => {
    const ref = volume([organ, lesion]);
    // a spurious organ blob far away: removed by the all-foreground step, the lesion is untouched
    const pred = volume([organ, lesion, { label: 1, lo: [10, 10, 10], hi: [12, 12, 12] }]);
    const pp = determinePostprocessing([pair(pred, ref), pair(ref, ref)], [1, 2]);
    expect(pp.for_which_classes[0]).toEqual([1, 2]);
    expect(pp.dc_per_class_pp_all['1']).toBeGreaterThan(pp.dc_per_class_raw['1']!);
    expect(pp.dc_per_class_pp_all['2']).toBe(pp.dc_per_class_raw['2']);
    // the per-class step starts from there and finds nothing more to gain
    expect(pp.for_which_classes).toEqual([[1, 2]]);
  });

  it('a class whose reference has several parts is left alone; a class helped on its own is added', () => {
    // two separate organ parts in the reference (and the prediction); a spurious lesion blob
    const parts = [organ, { label: 1, lo: [9, 9, 9], hi: [12, 12, 12] }];
    const ref = volume([...parts, lesion]);
    const pred = volume([...parts, lesion, { label: 2, lo: [0, 10, 0], hi: [1, 11, 1] }]);
    const pp = determinePostprocessing([pair(pred, ref)], [1, 2]);
    // all-foreground would remove the second organ part: worse for class 1 → rejected
    expect(pp.dc_per_class_pp_all['1']).toBeLessThan(pp.dc_per_class_raw['1']!);
    expect(pp.for_which_classes).toEqual([2]);
  });

  it('applying keeps the largest component of each entry in turn', () => {
    const v = volume([organ, lesion, { label: 1, lo: [10, 10, 10], hi: [12, 12, 12] }, { label: 2, lo: [0, 11, 0], hi: [1, 12, 1] }]);
    const removed = applyPostprocessing(v, [S, S, S], [[1, 2], 2]);
    expect(removed).toEqual([9, 0]);
    expect(v.filter((x) => x === 1).length).toBe(125);
    expect(v.filter((x) => x === 2).length).toBe(8);
  });
});
