import { describe, expect, it } from 'vitest';
import { boundingBox, cropToBox, fillHoles, nonzeroMask, pasteIntoBox, type Shape3 } from './crop.js';
import { normalizeChannel } from './normalize.js';

describe('non-zero mask and crop (nnU-Net cropping.py)', () => {
  it('fills enclosed holes (6-connected background) but not background that reaches the border', () => {
    const shape: Shape3 = [3, 5, 5];
    const m = new Uint8Array(75);
    // a closed ring in slice 1 with a hole in the middle, sealed above and below
    for (let a = 0; a < 3; a++) for (let b = 1; b < 4; b++) for (let c = 1; c < 4; c++) m[a * 25 + b * 5 + c] = 1;
    m[1 * 25 + 2 * 5 + 2] = 0; // enclosed
    m[0 * 25 + 2 * 5 + 2] = 0; // open to the top face
    fillHoles(m, shape);
    expect(m[1 * 25 + 2 * 5 + 2]).toBe(0); // connected to the border through the top hole
    const sealed = new Uint8Array(75);
    for (let a = 0; a < 3; a++) for (let b = 1; b < 4; b++) for (let c = 1; c < 4; c++) sealed[a * 25 + b * 5 + c] = 1;
    sealed[1 * 25 + 2 * 5 + 2] = 0;
    fillHoles(sealed, shape);
    expect(sealed[1 * 25 + 2 * 5 + 2]).toBe(1);
    expect(sealed[0]).toBe(0);
  });

  it('ORs the channels, takes the half-open bounding box, and crops / pastes back', () => {
    const shape: Shape3 = [2, 3, 4];
    const a = new Float32Array(24);
    const b = new Float32Array(24);
    a[0 * 12 + 1 * 4 + 1] = 5;
    b[1 * 12 + 2 * 4 + 2] = -3;
    const mask = nonzeroMask([a, b], shape);
    const box = boundingBox(mask, shape);
    expect(box).toEqual([[0, 2], [1, 3], [1, 3]]);
    const crop = cropToBox(b, shape, box, (n) => new Float32Array(n));
    expect(Array.from(crop)).toEqual([0, 0, 0, 0, 0, 0, 0, -3]);
    const back = pasteIntoBox(crop, shape, box, (n) => new Float32Array(n));
    expect(Array.from(back)).toEqual(Array.from(b));
    expect(boundingBox(new Uint8Array(24), shape)).toEqual([[0, 2], [0, 3], [0, 4]]);
  });
});

describe('normalisation', () => {
  it('CT: clip to the percentiles, then (x − mean) / std', () => {
    const x = Float32Array.from([-2000, 0, 100, 5000]);
    normalizeChannel(x, { scheme: 'CT', use_nonzero_mask: false, mean: 100, std: 50, lower: -1000, upper: 1000 });
    expect(Array.from(x)).toEqual([-22, -2, 0, 18]);
  });

  it('z-score over the non-zero region when asked, outside set to 0', () => {
    const x = Float32Array.from([7, 1, 2, 3, 9]);
    const seg = [-1, 0, 1, 0, -1];
    normalizeChannel(x, { scheme: 'zscore', use_nonzero_mask: true }, seg);
    const s = Math.sqrt(2 / 3);
    [0, -1 / (s + 1e-8), 0, 1 / (s + 1e-8), 0].forEach((v, i) => expect(x[i]).toBeCloseTo(v, 6));
    const y = Float32Array.from([1, 2, 3, 4]);
    normalizeChannel(y, { scheme: 'zscore', use_nonzero_mask: false });
    expect(y.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 6);
    const z = Float32Array.from([1, 2]);
    normalizeChannel(z, { scheme: 'noNorm', use_nonzero_mask: false });
    expect(Array.from(z)).toEqual([1, 2]);
  });
});
