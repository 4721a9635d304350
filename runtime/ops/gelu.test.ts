import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { gelu } from './gelu.js';
import { autodiffGrads, erf64, maxAbsDiff, numericGrad, randArr, refGelu, toTf } from './test-helpers.js';

describe('erf64 (the test reference)', () => {
  it('hits known values', () => {
    expect(erf64(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf64(-1)).toBeCloseTo(-0.8427007929497149, 14);
    expect(erf64(3.5)).toBeCloseTo(0.9999992569016276, 14);
  });
});

describe.each(['cpu', 'wasm'] as const)('gelu on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('is the exact erf form, not the tanh approximation', () => {
    const x = randArr([4000], 61, -8, 8);
    const ref = refGelu(x);
    const y = tf.tidy(() => gelu(toTf(x)));
    const err = maxAbsDiff(y.dataSync(), ref.data);
    expect(err).toBeLessThan(2e-6);
    // The tanh form is ~1e-4 off near |x| ≈ 2; the check above would catch it.
    const tanh = x.data.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    expect(maxAbsDiff(tanh, ref.data)).toBeGreaterThan(50 * err);
    y.dispose();
  });
});

describe('gelu gradient (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it('matches float64 finite differences', () => {
    const x = randArr([200], 62, -4, 4);
    const r = randArr([200], 63);
    const [g] = autodiffGrads(([a]) => gelu(a!), [x], r);
    expect(maxAbsDiff(g!, numericGrad(([a]) => refGelu(a!), [x], 0, r))).toBeLessThan(1e-5);
  });
});
