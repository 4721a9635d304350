import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { convTranspose3d } from './conv-transpose3d.js';
import { autodiffGrads, maxAbsDiff, numericGrad, randArr, refConvTranspose3d, toTf } from './test-helpers.js';

describe.each(['cpu', 'wasm'] as const)('convTranspose3d on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each([
    // MedNeXt up-block res_conv (1×1×1, stride 2 -> 2n − 1) and OutBlock head (1×1×1, stride 1).
    { k: [1, 1, 1], s: [2, 2, 2], p: [0, 0, 0], shape: [1, 3, 4, 2, 4], co: 2 },
    { k: [1, 1, 1], s: [1, 1, 1], p: [0, 0, 0], shape: [2, 3, 3, 3, 4], co: 3 },
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [1, 3, 2, 4, 2], co: 3 },
    { k: [2, 2, 2], s: [2, 2, 2], p: [0, 0, 0], shape: [1, 2, 3, 2, 3], co: 2 },
  ])('matches the scatter definition: kernel $k stride $s padding $p', ({ k, s, p, shape, co }) => {
    const x = randArr(shape, 31);
    const w = randArr([...k, co, shape[4]!], 32);
    const bias = randArr([co], 33);
    const ref = refConvTranspose3d(x, w, s, p, false);
    const y = tf.tidy(() => tf.sub(convTranspose3d(toTf(x), toTf(w), s, p, toTf(bias)), toTf(bias)));
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });

  it('adds the bias at every output voxel, including those no input reaches (as PyTorch does)', () => {
    const y = tf.tidy(() => convTranspose3d(tf.zeros([1, 2, 2, 2, 1]), tf.ones([1, 1, 1, 1, 1]), 2, 0, tf.tensor1d([0.25])));
    expect(y.shape).toEqual([1, 3, 3, 3, 1]);
    expect(Array.from(y.dataSync()).every((v) => v === 0.25)).toBe(true);
    y.dispose();
  });
});

describe('convTranspose3d gradient (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it.each([
    { k: [1, 1, 1], p: [0, 0, 0] },
    { k: [3, 3, 3], p: [1, 1, 1] },
  ])('matches float64 finite differences: kernel $k stride 2', ({ k, p }) => {
    const x = randArr([1, 2, 3, 2, 2], 34);
    const w = randArr([...k, 3, 2], 35);
    const f = ([a, b]: typeof x[]) => refConvTranspose3d(a!, b!, [2, 2, 2], p, false);
    const r = randArr(f([x, w]).shape, 36);
    const [gx, gw] = autodiffGrads(([a, b]) => convTranspose3d(a!, b!, 2, p), [x, w], r);
    expect(maxAbsDiff(gx!, numericGrad(f, [x, w], 0, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gw!, numericGrad(f, [x, w], 1, r))).toBeLessThan(1e-4);
  });
});
