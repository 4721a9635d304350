import { describe, expect, it } from 'vitest';
import { FeatureTransform } from './edt.js';

function random(n: number, p: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    out[i] = seed / 4294967296 < p ? 1 : 0;
  }
  return out;
}

describe('FeatureTransform (exact anisotropic EDT)', () => {
  it('equals brute-force nearest-feature distances', () => {
    const shape = [11, 8, 13] as const;
    const [n0, n1, n2] = shape;
    for (const [p, spacing, seed] of [[0.02, [1, 1, 1], 3], [0.05, [0.7, 2.3, 1.1], 5], [0.3, [3, 0.5, 1], 9], [0.002, [1.2, 0.9, 2], 11]] as const) {
      const feature = random(n0 * n1 * n2, p, seed);
      const points: number[][] = [];
      for (let i = 0; i < n0; i++) for (let j = 0; j < n1; j++) for (let k = 0; k < n2; k++) if (feature[(i * n1 + j) * n2 + k]) points.push([i, j, k]);
      const ft = new FeatureTransform(feature, shape, spacing);
      let worst = 0;
      for (let i = 0; i < n0; i++) {
        for (let j = 0; j < n1; j++) {
          for (let k = 0; k < n2; k++) {
            let best = Infinity;
            for (const [a, b, c] of points) best = Math.min(best, Math.hypot((a! - i) * spacing[0], (b! - j) * spacing[1], (c! - k) * spacing[2]));
            worst = Math.max(worst, Math.abs(ft.distance(i, j, k) - best));
          }
        }
      }
      expect(points.length).toBeGreaterThan(0);
      expect(worst).toBeLessThan(1e-12);
    }
  });

  it('reports Infinity everywhere when there is no feature', () => {
    const ft = new FeatureTransform(new Uint8Array(24), [2, 3, 4], [1, 1, 1]);
    expect(ft.empty).toBe(true);
    expect(ft.distance(1, 2, 3)).toBe(Infinity);
  });
});
