import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { groupedConv3d } from './grouped-conv3d.js';
import { binary, linear, matmul, maxPool, roll, slice, softmax, standardizeFilter, upsampleBilinear } from './tensor.js';

const close = (a: tf.Tensor, b: number[] | tf.Tensor, tol = 1e-5) => {
  const bv = Array.isArray(b) ? b : Array.from(b.dataSync());
  const av = Array.from(a.dataSync());
  expect(av.length).toBe(bv.length);
  av.forEach((v, i) => expect(Math.abs(v - bv[i]!), `element ${i}`).toBeLessThan(tol));
};

describe.each(['cpu', 'wasm'] as const)('general-tensor ops on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('roll moves element i to (i + shift) mod n, as torch.roll', () => {
    const x = tf.tensor([0, 1, 2, 3, 4, 5], [1, 2, 3]);
    close(roll(x, [-1], [1]), [1, 2, 0, 4, 5, 3]);
    close(roll(x, [1, 2], [0, 1]), [4, 5, 3, 1, 2, 0]);
  });

  it('slice with a step, along a per-sample axis', () => {
    const x = tf.range(0, 8).reshape([1, 8]);
    close(slice(x, 0, 1, 8, 2), [1, 3, 5, 7]);
  });

  it('linear is x·Wᵀ + b with W [out, in]', () => {
    const x = tf.tensor([1, 2], [1, 1, 2]);
    const w = tf.tensor([1, 0, 0, 1, 1, 1], [3, 2]);
    close(linear(x, w, tf.tensor([0.5, 0, -1])), [1.5, 2, 2]);
  });

  it('matmul broadcasts a batch-1 operand of lower rank over the leading axes', () => {
    const a = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 1);
    const b = tf.randomNormal([1, 5, 2], 0, 1, 'float32', 2);
    const y = matmul(a, b);
    expect(y.shape).toEqual([2, 3, 4, 2]);
    close(y, tf.matMul(a.reshape([6, 4, 5]), tf.tile(b, [6, 1, 1])).reshape([2, 3, 4, 2]));
    close(matmul(a, tf.transpose(b, [0, 2, 1]), true), y);
  });

  it('softmax over a middle axis, and broadcasting adds insert axes after the batch', () => {
    const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 3);
    close(softmax(x, 0), tf.transpose(tf.softmax(tf.transpose(x, [0, 2, 1])), [0, 2, 1]));
    const bias = tf.randomNormal([1, 4], 0, 1, 'float32', 4);
    close(binary(x, bias, 'add'), tf.add(x, bias.reshape([1, 1, 4])));
  });

  it('grouped convolution (neither dense nor depthwise) equals one dense conv per group', () => {
    const x = tf.randomNormal([1, 3, 4, 3, 4], 0, 1, 'float32', 5);
    for (const [k, co] of [[1, 8], [3, 4]] as const) {
      const w = tf.randomNormal([co, 2, k, k, k], 0, 1, 'float32', 6); // PyTorch layout, groups 2
      const b = tf.randomNormal([co], 0, 1, 'float32', 7);
      const p = (k - 1) / 2;
      const y = groupedConv3d(x, w, 2, 1, p, b);
      const ref = tf.concat(
        [0, 1].map((g) => {
          const xg = tf.slice(x, [0, 0, 0, 0, 2 * g], [-1, -1, -1, -1, 2]).pad([[0, 0], [p, p], [p, p], [p, p], [0, 0]]) as tf.Tensor5D;
          const wg = tf.transpose(tf.slice(w, [(co / 2) * g, 0, 0, 0, 0], [co / 2, -1, -1, -1, -1]), [2, 3, 4, 1, 0]) as tf.Tensor5D;
          return tf.conv3d(xg, wg, 1, 'valid');
        }),
        4,
      ).add(b);
      close(y, ref, 1e-4);
    }
  });

  it('max pooling (k3, s2, no padding) and ×2 bilinear upsampling with aligned corners', () => {
    const x = tf.range(0, 25).reshape([1, 1, 5, 5, 1]);
    close(maxPool(x, [1, 3, 3], [1, 2, 2], [0, 0, 0]), [12, 14, 22, 24]);
    const y = upsampleBilinear(tf.tensor([0, 1, 2, 3], [1, 1, 2, 2, 1]), 2, true);
    // align_corners: the corners stay, the rest interpolates on (n − 1) / (2n − 1) steps.
    close(y.reshape([4, 4]).slice([0, 0], [1, 4]), [0, 1 / 3, 2 / 3, 1]);
  });

  it('weight standardisation per output channel (biased variance)', () => {
    const w = tf.tensor([1, 3, 5, 7], [1, 1, 1, 2, 2]); // [k, k, k, Cin, Cout]: channel 0 = (1, 5), channel 1 = (3, 7)
    close(standardizeFilter(w, 0, 'last'), [-1, -1, 1, 1]);
    close(standardizeFilter(tf.tensor([1, 5, 3, 7], [2, 2]), 0, 'first'), [-1, 1, -1, 1]);
  });
});
