import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { conv3d } from './conv3d.js';
import { autodiffGrads, maxAbsDiff, numericGrad, randArr, refConv3d, toTf } from './test-helpers.js';

describe.each(['cpu', 'wasm'] as const)('conv3d on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each([
    { k: [3, 3, 3], s: [1, 1, 1], p: [1, 1, 1], shape: [1, 5, 4, 6, 3], co: 4 },
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [1, 7, 6, 5, 2], co: 3 },
    // 1×1×1 kernels take the matrix-product path, strided ones subsample first.
    { k: [1, 1, 1], s: [1, 1, 1], p: [0, 0, 0], shape: [2, 3, 4, 5, 4], co: 8 },
    { k: [1, 1, 1], s: [2, 2, 2], p: [0, 0, 0], shape: [1, 7, 8, 5, 4], co: 6 },
  ])('matches the float64 definition: kernel $k stride $s padding $p', ({ k, s, p, shape, co }) => {
    const x = randArr(shape, 21);
    const w = randArr([...k, shape[4]!, co], 22);
    const ref = refConv3d(x, w, s, p, false);
    const y = tf.tidy(() => conv3d(toTf(x), toTf(w), s, p));
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });
});

describe('conv3d gradient (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it.each([
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1] },
    { k: [1, 1, 1], s: [2, 2, 2], p: [0, 0, 0] },
  ])('matches float64 finite differences: kernel $k stride $s', ({ k, s, p }) => {
    const x = randArr([1, 3, 4, 3, 2], 23);
    const w = randArr([...k, 2, 3], 24);
    const f = ([a, b]: typeof x[]) => refConv3d(a!, b!, s, p, false);
    const r = randArr(f([x, w]).shape, 25);
    const [gx, gw] = autodiffGrads(([a, b]) => conv3d(a!, b!, s, p), [x, w], r);
    expect(maxAbsDiff(gx!, numericGrad(f, [x, w], 0, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gw!, numericGrad(f, [x, w], 1, r))).toBeLessThan(1e-4);
  });
});
