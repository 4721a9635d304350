import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { depthwiseConv3d } from './depthwise-conv3d.js';
import { autodiffGrads, maxAbsDiff, numericGrad, randArr, refConv3d, toTf, type Arr } from './test-helpers.js';

describe.each(['cpu', 'wasm'] as const)('depthwiseConv3d on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each([
    { k: [3, 3, 3], s: [1, 1, 1], p: [1, 1, 1], shape: [2, 6, 5, 7, 3] },
    { k: [5, 5, 5], s: [1, 1, 1], p: [2, 2, 2], shape: [1, 6, 6, 6, 2] },
    // Stride 2 with odd and even extents: PyTorch's symmetric k//2 padding, not TF's `same`.
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [1, 7, 8, 5, 3] },
    { k: [5, 3, 1], s: [2, 1, 2], p: [2, 1, 0], shape: [1, 9, 6, 6, 2] },
  ])('matches the float64 definition: kernel $k stride $s padding $p', ({ k, s, p, shape }) => {
    const x = randArr(shape, 1);
    const w = randArr([...k, shape[4]!, 1], 2);
    const ref = refConv3d(x, w, s, p, true);
    const y = tf.tidy(() => depthwiseConv3d(toTf(x), toTf(w), s, p));
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });

  it('adds the bias per channel', () => {
    const x = randArr([1, 4, 4, 4, 2], 3);
    const w = randArr([3, 3, 3, 2, 1], 4);
    const y = tf.tidy(() => tf.sub(depthwiseConv3d(toTf(x), toTf(w), 1, 1, tf.tensor1d([0.5, -2])), depthwiseConv3d(toTf(x), toTf(w), 1, 1)));
    const d = y.dataSync();
    expect(d[0]).toBeCloseTo(0.5, 6);
    expect(d[1]).toBeCloseTo(-2, 6);
    y.dispose();
  });

  it('refuses a filter whose channels do not match', () => {
    expect(() => depthwiseConv3d(tf.zeros([1, 4, 4, 4, 3]), tf.zeros([3, 3, 3, 2, 1]), 1, 1)).toThrow(/does not fit input channels 3/);
  });
});

describe('depthwiseConv3d gradient (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it.each([
    { s: [1, 1, 1], shape: [1, 4, 5, 3, 2] },
    { s: [2, 2, 2], shape: [1, 5, 4, 5, 2] },
  ])('matches float64 finite differences for input and filter at stride $s', ({ s, shape }) => {
    const x = randArr(shape, 5);
    const w = randArr([3, 3, 3, shape[4]!, 1], 6);
    const out = refConv3d(x, w, s, [1, 1, 1], true);
    const r = randArr(out.shape, 7);
    const [gx, gw] = autodiffGrads(([a, b]) => depthwiseConv3d(a!, b!, s, 1), [x, w], r);
    const f = ([a, b]: typeof x[]) => refConv3d(a!, b!, s, [1, 1, 1], true);
    expect(maxAbsDiff(gx!, numericGrad(f, [x, w], 0, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gw!, numericGrad(f, [x, w], 1, r))).toBeLessThan(1e-4);
  });

  // The written-out stride-1 gradient: two samples (the plane grid has gaps between them),
  // uneven kernels and paddings (p = 0 and p = k − 1 included), with a bias.
  it.each([
    { k: [3, 3, 3], p: [1, 1, 1], shape: [2, 4, 5, 3, 2] },
    { k: [5, 3, 1], p: [2, 0, 0], shape: [2, 6, 4, 3, 3] },
    { k: [3, 3, 3], p: [2, 1, 0], shape: [3, 3, 4, 4, 1] },
  ])('stride 1, kernel $k, padding $p, N = $shape.0: input, filter and bias gradients match float64 finite differences', ({ k, p, shape }) => {
    const x = randArr(shape, 8);
    const w = randArr([...k, shape[4]!, 1], 9);
    const b = randArr([shape[4]!], 10);
    const withBias = (a: Arr, wf: Arr, bb: Arr) => {
      const y = refConv3d(a, wf, [1, 1, 1], p, true);
      const c = bb.shape[0]!;
      return { shape: y.shape, data: y.data.map((v, i) => v + bb.data[i % c]!) };
    };
    const out = withBias(x, w, b);
    const r = randArr(out.shape, 11);
    const [gx, gw, gb] = autodiffGrads(([a, f, bb]) => depthwiseConv3d(a!, f!, 1, p, bb), [x, w, b], r);
    const f = ([a, wf, bb]: Arr[]) => withBias(a!, wf!, bb!);
    expect(maxAbsDiff(gx!, numericGrad(f, [x, w, b], 0, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gw!, numericGrad(f, [x, w, b], 1, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gb!, numericGrad(f, [x, w, b], 2, r))).toBeLessThan(1e-4);
  });
});
