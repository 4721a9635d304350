import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { layerNorm } from './layer-norm.js';
import { autodiffGrads, maxAbsDiff, numericGrad, randArr, refLayerNorm, toTf } from './test-helpers.js';

describe.each(['cpu', 'wasm'] as const)('layerNorm on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('normalises the channels of each voxel (MedNeXt channels_first LayerNorm, eps 1e-5)', () => {
    const x = randArr([2, 3, 4, 2, 6], 51, -3, 4);
    const g = randArr([6], 52, 0.5, 1.5);
    const b = randArr([6], 53);
    const ref = refLayerNorm(x, 1e-5, g, b);
    const y = tf.tidy(() => layerNorm(toTf(x), 1e-5, toTf(g), toTf(b)));
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(2e-5);
    y.dispose();
  });
});

describe('layerNorm gradient (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it('matches float64 finite differences for input, weight and bias', () => {
    const x = randArr([1, 2, 2, 2, 3], 54);
    const g = randArr([3], 55, 0.5, 1.5);
    const b = randArr([3], 56);
    const r = randArr(x.shape, 57);
    const f = ([a, gg, bb]: typeof x[]) => refLayerNorm(a!, 1e-5, gg!, bb!);
    const grads = autodiffGrads(([a, gg, bb]) => layerNorm(a!, 1e-5, gg, bb), [x, g, b], r);
    grads.forEach((gr, i) => expect(maxAbsDiff(gr, numericGrad(f, [x, g, b], i, r, 1e-3))).toBeLessThan(2e-3));
  });
});
