import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { groupNorm } from './group-norm.js';
import { autodiffGrads, maxAbsDiff, numericGrad, randArr, refGroupNorm, toTf } from './test-helpers.js';

describe.each(['cpu', 'wasm'] as const)('groupNorm on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each([{ groups: 4 }, { groups: 2 }, { groups: 1 }])('matches the float64 definition with $groups groups of 4 channels', ({ groups }) => {
    // Offset and scaled input: a naive E[x²] − E[x]² variance would lose digits here.
    const x = randArr([2, 3, 4, 5, 4], 41, 2, 5);
    const g = randArr([4], 42, 0.5, 1.5);
    const b = randArr([4], 43);
    const ref = refGroupNorm(x, groups, 1e-5, g, b);
    const y = tf.tidy(() => groupNorm(toTf(x), groups, 1e-5, toTf(g), toTf(b)));
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(2e-5);
    y.dispose();
  });

  it('uses eps inside the square root (a constant channel maps to beta)', () => {
    const y = tf.tidy(() => groupNorm(tf.fill([1, 2, 2, 2, 1], 3), 1, 1e-5, tf.tensor1d([2]), tf.tensor1d([0.5])));
    expect(Array.from(y.dataSync()).every((v) => v === 0.5)).toBe(true);
    y.dispose();
  });

  it('refuses groups that do not divide the channels', () => {
    expect(() => groupNorm(tf.zeros([1, 2, 2, 2, 6]), 4, 1e-5)).toThrow(/4 groups do not divide 6 channels/);
  });
});

describe('groupNorm gradient (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it('matches float64 finite differences for input, weight and bias', () => {
    const x = randArr([1, 2, 3, 2, 2], 44);
    const g = randArr([2], 45, 0.5, 1.5);
    const b = randArr([2], 46);
    const r = randArr(x.shape, 47);
    const f = ([a, gg, bb]: typeof x[]) => refGroupNorm(a!, 2, 1e-5, gg, bb);
    const grads = autodiffGrads(([a, gg, bb]) => groupNorm(a!, 2, 1e-5, gg, bb), [x, g, b], r);
    grads.forEach((gr, i) => expect(maxAbsDiff(gr, numericGrad(f, [x, g, b], i, r, 1e-3))).toBeLessThan(2e-3));
  });
});
