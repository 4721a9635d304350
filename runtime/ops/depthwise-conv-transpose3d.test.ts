import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { depthwiseConvTranspose3d } from './depthwise-conv-transpose3d.js';
import { autodiffGrads, maxAbsDiff, numericGrad, randArr, refConvTranspose3d, toTf } from './test-helpers.js';

describe.each(['cpu', 'wasm'] as const)('depthwiseConvTranspose3d on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each([
    // MedNeXt up block: stride 2, padding k//2 -> 2n - 1 per axis.
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [1, 4, 3, 5, 3], out: [7, 5, 9] },
    { k: [5, 5, 5], s: [2, 2, 2], p: [2, 2, 2], shape: [2, 3, 4, 3, 2], out: [5, 7, 5] },
    { k: [3, 1, 3], s: [1, 2, 1], p: [0, 0, 1], shape: [1, 3, 3, 3, 2], out: [5, 5, 3] },
  ])('matches the scatter definition: kernel $k stride $s padding $p', ({ k, s, p, shape, out }) => {
    const x = randArr(shape, 11);
    const w = randArr([...k, shape[4]!, 1], 12);
    const ref = refConvTranspose3d(x, w, s, p, true);
    const y = tf.tidy(() => depthwiseConvTranspose3d(toTf(x), toTf(w), s, p));
    expect(y.shape.slice(1, 4)).toEqual(out);
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });

  it('refuses padding larger than kernel − 1', () => {
    expect(() => depthwiseConvTranspose3d(tf.zeros([1, 2, 2, 2, 1]), tf.zeros([3, 3, 3, 1, 1]), 2, 3)).toThrow(/exceeds kernel − 1/);
  });
});

describe('depthwiseConvTranspose3d gradient (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it('matches float64 finite differences for input and filter (stride 2, padding 1)', () => {
    const x = randArr([1, 3, 2, 3, 2], 13);
    const w = randArr([3, 3, 3, 2, 1], 14);
    const f = ([a, b]: typeof x[]) => refConvTranspose3d(a!, b!, [2, 2, 2], [1, 1, 1], true);
    const r = randArr(f([x, w]).shape, 15);
    const [gx, gw] = autodiffGrads(([a, b]) => depthwiseConvTranspose3d(a!, b!, 2, 1), [x, w], r);
    expect(maxAbsDiff(gx!, numericGrad(f, [x, w], 0, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gw!, numericGrad(f, [x, w], 1, r))).toBeLessThan(1e-4);
  });

  it.each([
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [2, 3, 2, 3, 2] },
    { k: [5, 3, 2], s: [2, 1, 2], p: [2, 0, 1], shape: [2, 2, 3, 3, 1] },
  ])('kernel $k, stride $s, padding $p, two samples: input, filter and bias gradients match finite differences', ({ k, s, p, shape }) => {
    const x = randArr(shape, 16);
    const w = randArr([...k, shape[4]!, 1], 17);
    const b = randArr([shape[4]!], 18);
    const f = ([a, wf, bb]: typeof x[]) => {
      const y = refConvTranspose3d(a!, wf!, s, p, true);
      return { shape: y.shape, data: y.data.map((v, i) => v + bb!.data[i % bb!.shape[0]!]!) };
    };
    const r = randArr(f([x, w, b]).shape, 19);
    const [gx, gw, gb] = autodiffGrads(([a, wf, bb]) => depthwiseConvTranspose3d(a!, wf!, s, p, bb), [x, w, b], r);
    expect(maxAbsDiff(gx!, numericGrad(f, [x, w, b], 0, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gw!, numericGrad(f, [x, w, b], 1, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gb!, numericGrad(f, [x, w, b], 2, r))).toBeLessThan(1e-4);
  });
});
