import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { grn } from './grn.js';
import { autodiffGrads, maxAbsDiff, numericGrad, randArr, refGrn, toTf } from './test-helpers.js';

describe.each(['cpu', 'wasm'] as const)('grn on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('matches the float64 definition (per-sample L2 over D·H·W, normalised by the channel mean)', () => {
    const x = randArr([2, 3, 4, 5, 6], 71);
    const g = randArr([6], 72);
    const b = randArr([6], 73);
    const ref = refGrn(x, g, b, 1e-6);
    const y = tf.tidy(() => grn(toTf(x), toTf(g), toTf(b), 1e-6));
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });

  it('is the identity with zero gamma and beta (a new model starts there)', () => {
    const x = randArr([1, 2, 2, 2, 3], 74);
    const y = tf.tidy(() => grn(toTf(x), tf.zeros([3]), tf.zeros([3]), 1e-6));
    expect(maxAbsDiff(y.dataSync(), x.data)).toBeLessThan(1e-7);
    y.dispose();
  });
});

describe('grn gradient (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it('matches float64 finite differences for input, gamma and beta', () => {
    const x = randArr([1, 2, 2, 3, 3], 75);
    const g = randArr([3], 76);
    const b = randArr([3], 77);
    const r = randArr(x.shape, 78);
    const f = ([a, gg, bb]: typeof x[]) => refGrn(a!, gg!, bb!, 1e-6);
    const grads = autodiffGrads(([a, gg, bb]) => grn(a!, gg!, bb!, 1e-6), [x, g, b], r);
    grads.forEach((gr, i) => expect(maxAbsDiff(gr, numericGrad(f, [x, g, b], i, r, 1e-3))).toBeLessThan(1e-3));
  });
});
