import { describe, expect, it } from 'vitest';
import { relativePositionIndex, shiftedWindowMask } from './buffers.js';

describe('compile-time buffers', () => {
  it("Swin's relative position index: (Δd + w₀−1)(2w₁−1)(2w₂−1) + (Δh + w₁−1)(2w₂−1) + (Δw + w₂−1)", () => {
    const w = [2, 3, 2];
    const r = relativePositionIndex(w, [5 * 3, 3, 1]);
    expect(r.shape).toEqual([12, 12]);
    // Query (1, 2, 1) = token 11, key (0, 0, 0) = token 0: (1+1)·15 + (2+2)·3 + (1+1) = 44; the reverse 0.
    expect(r.data[11 * 12 + 0]).toBe(44);
    expect(r.data[0 * 12 + 11]).toBe(0);
    // The diagonal is the centre of the table.
    for (let i = 0; i < 12; i++) expect(r.data[i * 12 + i]).toBe(1 * 15 + 2 * 3 + 1);
  });

  it('the shifted-window mask separates the regions [0, −w), [−w, −s), [−s, end) per axis', () => {
    // One axis of 4 in windows of 2 shifted by 1 (the other axes a single window, unshifted).
    const m = shiftedWindowMask([4, 2, 2], [2, 2, 2], [1, 0, 0]);
    expect(m.shape).toEqual([2, 8, 8]);
    // Window 0 (d = 0, 1) lies in region [0, 2): no masking.
    expect(Array.from(m.data.slice(0, 64)).every((v) => v === 0)).toBe(true);
    // Window 1 (d = 2 | d = 3) straddles [2, 3) and [3, 4): tokens of different d are masked.
    const at = (i: number, j: number) => m.data[64 + i * 8 + j];
    expect(at(0, 1)).toBe(0); // both d = 2
    expect(at(0, 4)).toBe(-100); // d = 2 vs d = 3
    expect(at(4, 7)).toBe(0);
  });

  it('an unshifted axis is one region, as Python slices with −0 make it', () => {
    const m = shiftedWindowMask([4, 4, 4], [2, 2, 2], [0, 0, 0]);
    expect(Array.from(m.data).every((v) => v === 0)).toBe(true);
  });
});
