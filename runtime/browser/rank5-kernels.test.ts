import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../backend.js';
import { foldingKernels, foldPadding, foldReverse, foldTranspose } from './rank5-kernels.js';

/**
 * The folding of runtime/browser/rank5-kernels.ts checked in Node: the replacement kernels,
 * registered on the cpu backend around its own, give exactly the cpu kernels' values on
 * tensors of rank 5 to 8 (the browser's webgl and webgpu run them in runtime/browser/parity*.test.ts).
 */
describe('rank-folding kernels', () => {
  const originals: tf.KernelConfig[] = [];
  const values = (shape: number[], seed: number) => {
    let s = seed;
    return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1), shape);
  };
  const cases: Record<string, () => tf.Tensor> = {
    pad: () => tf.pad(values([1, 3, 4, 5, 2], 1), [[0, 0], [1, 0], [2, 1], [0, 3], [0, 0]]),
    padBatch: () => tf.pad(values([2, 3, 3, 3, 2], 2), [[0, 0], [1, 1], [0, 0], [1, 1], [0, 0]]),
    padRank6: () => tf.pad(values([2, 3, 1, 3, 2, 2], 3), [[1, 0], [0, 0], [0, 0], [0, 2], [0, 0], [0, 0]]),
    stridedSlice: () => tf.stridedSlice(values([2, 7, 6, 5, 3], 4), [1, 1, 0, 2, 0], [2, 7, 6, 5, 3], [1, 2, 3, 2, 1]),
    reverse: () => tf.reverse(values([3, 3, 3, 4, 2], 5), [0, 1, 2]),
    reverseApart: () => tf.reverse(values([3, 2, 3, 4, 2], 6), [0, 2, 4]),
    transpose8: () => tf.transpose(values([1, 2, 4, 2, 3, 3, 2, 4], 7), [0, 1, 3, 5, 2, 4, 6, 7]),
    transposeSizeOne: () => tf.transpose(tf.add(values([1, 2, 2, 1, 2, 1, 2, 3], 13), 0), [0, 1, 3, 5, 2, 4, 6, 7]),
    transpose5: () => tf.transpose(values([2, 3, 4, 5, 2], 8), [0, 4, 1, 2, 3]),
    addBias: () => tf.add(values([2, 3, 4, 5, 3], 9), values([3], 10)),
    subRow: () => tf.sub(values([5, 3], 11), values([2, 3, 4, 5, 3], 12)),
  };
  let expected: Record<string, Float32Array>;

  beforeAll(async () => {
    await useBackend('cpu');
    expected = Object.fromEntries(Object.entries(cases).map(([k, f]) => [k, tf.tidy(f).dataSync() as Float32Array]));
    const configs = foldingKernels('cpu', { binary: true });
    for (const c of configs) {
      originals.push(tf.getKernel(c.kernelName, 'cpu')!);
      tf.unregisterKernel(c.kernelName, 'cpu');
      tf.registerKernel(c);
    }
  });
  afterAll(() => {
    for (const c of originals) {
      tf.unregisterKernel(c.kernelName, 'cpu');
      tf.registerKernel(c);
    }
  });

  it('give the same values as the kernels they wrap, and leak nothing', () => {
    for (const [k, f] of Object.entries(cases)) {
      const before = tf.memory().numTensors;
      const y = tf.tidy(f);
      expect([...(y.dataSync() as Float32Array)], k).toEqual([...expected[k]!]);
      y.dispose();
      expect(tf.memory().numTensors, k).toBe(before);
    }
  });

  it('fold the axes as documented', () => {
    expect(foldPadding([1, 16, 16, 16, 4], [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]])).toEqual({ shape: [16, 16, 64], paddings: [[1, 1], [1, 1], [4, 4]] });
    expect(foldReverse([3, 3, 3, 4, 1], [0, 1, 2])).toEqual({ shape: [27, 4], dims: [0] });
    expect(foldTranspose([1, 2, 4, 2, 4, 2, 4, 8], [0, 1, 3, 5, 2, 4, 6, 7])).toEqual({ shape: [2, 4, 2, 4, 2, 32], perm: [0, 2, 4, 1, 3, 5] });
  });
});
