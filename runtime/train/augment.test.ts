import { describe, expect, it } from 'vitest';
import { defaultPlansForTests } from './test-plans.js';
import {
  augmentIntensities, contrast, drawSpatial, gamma, gaussianBlur, gaussianNoise, lowResolution, mirror, resamplePatch, rotationAbout,
  type Mat3, type Sample,
} from './augment.js';
import { enlargedPatchSize } from './batch.js';
import { Rng } from './rng.js';
import { meanStd, resizeNearest, type Shape3 } from './volume.js';

const IDENTITY: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

function randomSample(shape: Shape3, channels: number, seed: number): Sample {
  const rng = new Rng(seed);
  const n = shape[0] * shape[1] * shape[2];
  const data = Float32Array.from({ length: n * channels }, () => rng.normal() * 3 + 1);
  const seg = Int8Array.from({ length: n }, () => rng.int(3));
  return { data, seg, shape, channels };
}

const centreOf = (shape: Shape3) => shape.map((d) => (d - 1) / 2);

describe('spatial transform (rotation + scaling in one resampling)', () => {
  it('the identity transform returns the patch unchanged, images and labels', () => {
    const s = randomSample([6, 5, 7], 2, 1);
    const out = resamplePatch(s, IDENTITY, centreOf(s.shape), s.shape);
    // an interpolating spline reproduces its samples (float32 coefficients: to rounding)
    for (let i = 0; i < s.data.length; i++) expect(out.data[i]).toBeCloseTo(s.data[i]!, 4);
    expect(out.seg).toEqual(s.seg);
  });

  it('rotation by 0 about every axis is the identity', () => {
    const s = randomSample([5, 5, 5], 1, 2);
    let m = IDENTITY;
    for (const a of [0, 1, 2]) m = rotationAbout(a, 0);
    const out = resamplePatch(s, m, centreOf(s.shape), s.shape);
    for (let i = 0; i < s.data.length; i++) expect(out.data[i]).toBeCloseTo(s.data[i]!, 4);
  });

  it('rotation by 90° about axis 0 maps the grid onto itself (a transpose + flip of axes 1, 2)', () => {
    const s = randomSample([3, 5, 5], 1, 3);
    // exact matrix: cos(π/2) ≈ 6e-17 would put the border a hair outside the box, which samples 0 (as scipy)
    const r90: Mat3 = [1, 0, 0, 0, 0, -1, 0, 1, 0];
    expect(rotationAbout(0, Math.PI / 2).map((v, i) => v - r90[i]!).every((d) => Math.abs(d) < 1e-12)).toBe(true);
    const out = resamplePatch(s, r90, centreOf(s.shape), s.shape);
    // output (a, b, c) samples source (a, 2 - (c - 2)... ): centre + R·o with R = [[1,0,0],[0,0,-1],[0,1,0]]
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 5; b++)
        for (let c = 0; c < 5; c++) {
          const src = (a * 5 + (4 - c)) * 5 + b;
          expect(out.data[(a * 5 + b) * 5 + c]).toBeCloseTo(s.data[src]!, 4);
          expect(out.seg[(a * 5 + b) * 5 + c]).toBe(s.seg[src]);
        }
  });

  it('labels stay labels: every output label is an input label, 0 beyond the loaded box', () => {
    const s = randomSample([10, 10, 10], 1, 4);
    const rng = new Rng(9);
    const aug = { ...defaultPlansForTests().augmentation, rotation: { p: 1, max_degrees: [30, 30, 30] as [number, number, number] }, scaling: { p: 1, range: [0.7, 1.4] as [number, number] } };
    for (let k = 0; k < 5; k++) {
      const m = drawSpatial(rng, aug)!;
      const out = resamplePatch(s, m, centreOf(s.shape), [8, 8, 8]);
      expect(new Set(out.seg).size).toBeGreaterThan(1);
      for (const v of out.seg) expect([0, 1, 2]).toContain(v);
      expect(out.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('the enlarged read patch is batchgenerators get_patch_size (128³, ±30°, zoom-out 0.85 → 205³)', () => {
    expect(enlargedPatchSize([128, 128, 128], [30, 30, 30])).toEqual([205, 205, 205]);
    expect(enlargedPatchSize([16, 16, 16], [0, 0, 0])).toEqual([18, 18, 18]);
  });
});

describe('intensity transforms, each alone', () => {
  it('mirroring twice is the identity, and once flips images and labels together', () => {
    const s = randomSample([4, 3, 5], 2, 5);
    const copy = { ...s, data: s.data.slice(), seg: s.seg.slice() };
    mirror(copy, [0, 2]);
    expect(copy.data).not.toEqual(s.data);
    expect(copy.data[0]).toBe(s.data[(3 * 3 + 0) * 5 + 4]);
    expect(copy.seg[0]).toBe(s.seg[(3 * 3 + 0) * 5 + 4]);
    mirror(copy, [0, 2]);
    expect(copy.data).toEqual(s.data);
    expect(copy.seg).toEqual(s.seg);
  });

  it('Gaussian noise adds zero-mean noise of the drawn standard deviation; labels untouched', () => {
    const s = randomSample([20, 20, 20], 1, 6);
    const before = s.data.slice(), seg = s.seg.slice();
    gaussianNoise(s, 0.1, new Rng(1));
    const diff = meanStd(s.data.map((v, i) => v - before[i]!));
    expect(Math.abs(diff.mean)).toBeLessThan(0.01);
    expect(diff.std).toBeCloseTo(0.1, 2);
    expect(s.seg).toEqual(seg);
  });

  it('Gaussian blur keeps a constant image, keeps the mean of a smooth one and lowers the variance', () => {
    const flat = new Float32Array(6 * 6 * 6).fill(3.5);
    gaussianBlur(flat, [6, 6, 6], 1);
    for (const v of flat) expect(v).toBeCloseTo(3.5, 5);
    const s = randomSample([12, 12, 12], 1, 7);
    const before = meanStd(s.data);
    gaussianBlur(s.data, s.shape, 0.8);
    const after = meanStd(s.data);
    expect(after.std).toBeLessThan(before.std * 0.6);
    expect(after.mean).toBeCloseTo(before.mean, 1);
  });

  it('contrast keeps the mean (when nothing clips) and never leaves the original range', () => {
    const x = Float32Array.from([0, 1, 2, 3, 4]);
    contrast(x, 0.8);
    expect(Array.from(x)).toEqual([0.4, 1.2, 2, 2.8, 3.6].map((v) => Math.fround(v)));
    const y = Float32Array.from([0, 1, 2, 3, 4]);
    contrast(y, 1.25);
    expect(Math.min(...y)).toBe(0);
    expect(Math.max(...y)).toBe(4);
  });

  it('low-resolution simulation at zoom 1 is the identity and otherwise stays in range', () => {
    const s = randomSample([8, 8, 8], 1, 8);
    const x = s.data.slice();
    lowResolution(x, s.shape, 1);
    expect(x).toEqual(s.data);
    lowResolution(x, s.shape, 0.5);
    const r = meanStd(s.data), q = meanStd(x);
    expect(q.min).toBeGreaterThanOrEqual(r.min - 1e-5);
    expect(q.max).toBeLessThanOrEqual(r.max + 1e-5);
    expect(x).not.toEqual(s.data);
  });

  it('gamma keeps mean and standard deviation (retain_stats), γ = 1 is the identity, inverted differs', () => {
    const s = randomSample([8, 8, 8], 1, 9);
    const before = meanStd(s.data);
    const id = s.data.slice();
    gamma(id, 1, false, false);
    for (let i = 0; i < id.length; i++) expect(id[i]).toBeCloseTo(s.data[i]!, 4);
    const a = s.data.slice(), b = s.data.slice();
    gamma(a, 1.5, false, true);
    gamma(b, 1.5, true, true);
    for (const x of [a, b]) {
      const st = meanStd(x);
      expect(st.mean).toBeCloseTo(before.mean, 3);
      expect(st.std).toBeCloseTo(before.std, 3);
    }
    expect(a).not.toEqual(b);
  });

  it('the whole chain is deterministic for a seed and keeps labels as labels', () => {
    const aug = defaultPlansForTests().augmentation;
    for (const k of ['gaussian_noise', 'gaussian_blur', 'brightness', 'contrast', 'low_resolution', 'gamma_inverted', 'gamma'] as const) aug[k].p = 1;
    const a = randomSample([8, 8, 8], 2, 10), b = randomSample([8, 8, 8], 2, 10);
    augmentIntensities(a, new Rng(3), aug);
    augmentIntensities(b, new Rng(3), aug);
    expect(a.data).toEqual(b.data);
    expect(a.seg).toEqual(b.seg);
    for (const v of a.seg) expect([0, 1, 2]).toContain(v);
    expect(a.data.every(Number.isFinite)).toBe(true);
  });

  it('deep-supervision targets: nearest-neighbour downsampling keeps label values', () => {
    const s = randomSample([8, 8, 8], 1, 11);
    const half = resizeNearest(s.seg, [8, 8, 8], [4, 4, 4]);
    expect(half.length).toBe(64);
    expect(half[0]).toBe(s.seg[(1 * 8 + 1) * 8 + 1]);
    for (const v of half) expect([0, 1, 2]).toContain(v);
  });
});
