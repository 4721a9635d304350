import { describe, expect, it } from 'vitest';
import type { Triple } from '../data/plan/plans.js';
import { gaussianImportanceMap, gaussianProfile } from './gaussian.js';
import { ProbabilityAccumulator, accumulateWindows, extractPatch, padToPatch, predictSlidingWindow, type Volume, type WindowPredictor } from './sliding-window.js';
import { windowGrid, windowStarts } from './steps.js';

const at = (map: Float32Array, p: Triple, a: number, b: number, c: number) => map[(a * p[1] + b) * p[2] + c]!;

describe('Gaussian importance map (nnU-Net v1 _get_gaussian)', () => {
  it('is exp(-d²/2σ²) around ⌊P/2⌋ with σ = P/8, maximum 1', () => {
    // P = 8: σ = 1, centre 4, scipy radius ⌊4·1 + 0.5⌋ = 4 covers d = −4 … 3, so no zeros.
    const p: Triple = [8, 8, 8];
    const g = gaussianImportanceMap(p);
    expect(at(g, p, 4, 4, 4)).toBe(1);
    expect(at(g, p, 3, 4, 4)).toBe(Math.fround(Math.exp(-0.5)));
    expect(at(g, p, 5, 4, 4)).toBe(Math.fround(Math.exp(-0.5)));
    expect(at(g, p, 0, 4, 4)).toBe(Math.fround(Math.exp(-8)));
    expect(at(g, p, 7, 4, 4)).toBe(Math.fround(Math.exp(-4.5)));
    expect(at(g, p, 0, 0, 0) / Math.exp(-24)).toBeCloseTo(1, 6);
    expect(at(g, p, 6, 2, 5) / Math.exp(-(4 + 4 + 1) / 2)).toBeCloseTo(1, 6);
    expect(Math.max(...g)).toBe(1);
  });

  it('uses σ per axis for anisotropic patches', () => {
    // [16, 8, 4]: σ = 2, 1, 0.5; centres 8, 4, 2.
    const p: Triple = [16, 8, 4];
    const g = gaussianImportanceMap(p);
    expect(at(g, p, 8, 4, 2)).toBe(1);
    expect(at(g, p, 10, 4, 2)).toBe(Math.fround(Math.exp(-4 / 8)));
    expect(at(g, p, 8, 6, 2)).toBe(Math.fround(Math.exp(-4 / 2)));
    expect(at(g, p, 8, 4, 0)).toBe(Math.fround(Math.exp(-4 / 0.5)));
  });

  it('cuts at scipy radius ⌊4σ + 0.5⌋ and replaces the zeros by the smallest non-zero value', () => {
    // σ = 8/16 = 0.5: radius ⌊2.5⌋ = 2, so d = −4, −3, 3 are outside the kernel.
    expect([...gaussianProfile(8, 0.5)]).toEqual([0, 0, Math.exp(-8), Math.exp(-2), 1, Math.exp(-2), Math.exp(-8), 0]);
    const p: Triple = [8, 8, 8];
    const g = gaussianImportanceMap(p, 1 / 16);
    const smallest = Math.fround(Math.exp(-24)); // corner of the kept cube: d = ±2 on every axis
    expect(at(g, p, 2, 2, 2)).toBe(smallest);
    expect(at(g, p, 0, 4, 4)).toBe(smallest);
    expect(at(g, p, 7, 7, 7)).toBe(smallest);
    expect(at(g, p, 2, 4, 4)).toBe(Math.fround(Math.exp(-8)));
    expect(Math.min(...g)).toBe(smallest);
  });
});

describe('window positions (nnU-Net v1 _compute_steps_for_sliding_window)', () => {
  it('spreads n = ⌈(S−P)/(step·P)⌉ + 1 windows evenly, rounding halves to even', () => {
    expect(windowStarts(64, 64, 0.5)).toEqual([0]);
    expect(windowStarts(100, 64, 0.5)).toEqual([0, 18, 36]); // n = ⌈36/32⌉ + 1 = 3
    expect(windowStarts(96, 64, 0.5)).toEqual([0, 32]); // n = 2
    expect(windowStarts(109, 64, 0.5)).toEqual([0, 22, 45]); // 22.5 → 22 (numpy rounds half to even)
    expect(windowStarts(129, 64, 0.5)).toEqual([0, 22, 43, 65]); // 21.67, 43.33
    expect(windowStarts(200, 128, 0.5)).toEqual([0, 36, 72]);
    expect(windowStarts(100, 64, 1)).toEqual([0, 36]);
    expect(windowStarts(256, 128, 0.5)).toEqual([0, 64, 128]);
    // n = ⌈54/4⌉ + 1 = 15, spacing 54/14 = 3.857…
    expect(windowStarts(70, 16, 0.25)).toEqual([0, 4, 8, 12, 15, 19, 23, 27, 31, 35, 39, 42, 46, 50, 54]);
  });

  it('makes the grid axis 0 slowest and rejects a volume smaller than the patch', () => {
    expect(windowGrid([100, 64, 96], [64, 64, 64], 0.5)).toEqual([
      [0, 0, 0], [0, 0, 32], [18, 0, 0], [18, 0, 32], [36, 0, 0], [36, 0, 32],
    ]);
    expect(() => windowStarts(40, 64, 0.5)).toThrow(/smaller than the patch/);
  });
});

/** A volume whose channel c at (a, b, x) encodes the position, so any misplaced copy shows. */
function positionVolume(shape: Triple, channels: number): Volume {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(channels * n);
  for (let c = 0; c < channels; c++)
    for (let i = 0; i < n; i++) data[c * n + i] = Math.sin(0.37 * i + c) + 0.1 * c;
  return { data, channels, shape };
}

/** A pointwise "network": two classes, p1 = sigmoid(x0 − x1), p0 = 1 − p1. */
const pointwise: WindowPredictor = async (patch) => {
  const out = new Float32Array(patch.length);
  for (let v = 0; v < patch.length / 2; v++) {
    const p1 = 1 / (1 + Math.exp(-(patch[2 * v]! - patch[2 * v + 1]!)));
    out[2 * v] = 1 - p1;
    out[2 * v + 1] = p1;
  }
  return out;
};

describe('sliding-window accumulation', () => {
  it('pads short axes with zeros, the odd voxel after (pad_nd_image)', () => {
    const v = positionVolume([5, 9, 7], 2);
    const p = padToPatch(v, [8, 8, 8]);
    expect(p.shape).toEqual([8, 9, 8]);
    expect(p.offset).toEqual([1, 0, 0]);
    const n = 8 * 9 * 8;
    // original (a, b, c) of channel 1 sits at (a + 1, b, c)
    expect(p.data[n + ((1 + 2) * 9 + 3) * 8 + 4]).toBe(v.data[5 * 9 * 7 + (2 * 9 + 3) * 7 + 4]);
    expect(p.data[n + (0 * 9 + 3) * 8 + 4]).toBe(0);
    expect(p.data[n + ((1 + 2) * 9 + 3) * 8 + 7]).toBe(0);
  });

  it('extracts a patch channels-last', () => {
    const v = positionVolume([10, 9, 11], 3);
    const out = extractPatch(v, [2, 1, 3], [4, 5, 6], new Float32Array(4 * 5 * 6 * 3));
    const n = 10 * 9 * 11;
    expect(out[((1 * 5 + 2) * 6 + 3) * 3 + 2]).toBe(v.data[2 * n + ((2 + 1) * 9 + 1 + 2) * 11 + 3 + 3]);
  });

  it('returns a pointwise network exactly, whatever the windows and padding', async () => {
    for (const shape of [[20, 13, 9], [8, 8, 8], [5, 17, 30]] as Triple[]) {
      const v = positionVolume(shape, 2);
      const probs = await predictSlidingWindow(v, [pointwise], 2, { patch: [8, 8, 8], step: 0.5, importance: gaussianImportanceMap([8, 8, 8]) });
      const n = shape[0] * shape[1] * shape[2];
      expect(probs.length).toBe(2 * n);
      let err = 0;
      for (let i = 0; i < n; i++) {
        const p1 = 1 / (1 + Math.exp(-(v.data[i]! - v.data[n + i]!)));
        err = Math.max(err, Math.abs(probs[n + i]! - p1), Math.abs(probs[i]! - (1 - p1)));
      }
      expect(err, `shape ${shape}`).toBeLessThan(2e-6);
    }
  });

  it('weights each window by the Gaussian: Σ g·p / Σ g, computed directly', async () => {
    const shape: Triple = [12, 10, 9];
    const patch: Triple = [8, 8, 8];
    const importance = gaussianImportanceMap(patch);
    const windows = windowGrid(shape, patch, 0.5);
    expect(windows.length).toBe(2 * 2 * 2);
    // Window w predicts class 1 with probability w / 8 everywhere.
    let w = 0;
    const constant: WindowPredictor = async (data) => {
      const q = w++ / windows.length;
      const out = new Float32Array((data.length / 1) * 2);
      for (let v = 0; v < data.length; v++) {
        out[2 * v] = 1 - q;
        out[2 * v + 1] = q;
      }
      return out;
    };
    const v: Volume = { data: new Float32Array(12 * 10 * 9), channels: 1, shape };
    const acc = new ProbabilityAccumulator(shape, 2);
    await accumulateWindows(v, constant, acc, { patch, step: 0.5, importance });
    const probs = acc.result([0, 0, 0], shape);
    const n = 12 * 10 * 9;
    for (const [a, b, c] of [[0, 0, 0], [5, 4, 3], [11, 9, 8], [6, 2, 7]]) {
      let num = 0;
      let den = 0;
      windows.forEach((s, i) => {
        const [x, y, z] = [a! - s[0]!, b! - s[1]!, c! - s[2]!];
        if (x < 0 || y < 0 || z < 0 || x >= 8 || y >= 8 || z >= 8) return;
        const g = importance[(x * 8 + y) * 8 + z]!;
        num += g * (i / windows.length);
        den += g;
      });
      expect(probs[n + (a! * 10 + b!) * 9 + c!]).toBeCloseTo(num / den, 6);
    }
  });

  it('averages several predictors (folds) into one buffer', async () => {
    const v = positionVolume([10, 9, 12], 2);
    const half: WindowPredictor = async (patch) => {
      const p = await pointwise(patch);
      return p.map((x, i) => (i % 2 === 0 ? 0.5 * x + 0.5 : 0.5 * x));
    };
    const opts = { patch: [8, 8, 8] as Triple, step: 0.5, importance: gaussianImportanceMap([8, 8, 8]) };
    const a = await predictSlidingWindow(v, [pointwise], 2, opts);
    const b = await predictSlidingWindow(v, [half], 2, opts);
    const both = await predictSlidingWindow(v, [pointwise, half], 2, opts);
    let err = 0;
    for (let i = 0; i < both.length; i++) err = Math.max(err, Math.abs(both[i]! - (a[i]! + b[i]!) / 2));
    expect(err).toBeLessThan(2e-6);
  });
});
