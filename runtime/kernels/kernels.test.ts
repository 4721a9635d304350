/**
 * The faster kernels against the implementations they replace, on the same inputs: values and
 * gradients (of Σ y·r for a random r) must agree whichever path runs. Finite-difference and
 * fixture checks of the ops themselves are in runtime/ops (they run these kernels now).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { depthwiseConvTranspose3d } from '../ops/depthwise-conv-transpose3d.js';
import { depthwiseConv3d, depthwiseConv3dSlabs } from '../ops/depthwise-conv3d.js';
import { gelu, geluReference } from '../ops/gelu.js';
import { groupNorm, groupNormReference } from '../ops/group-norm.js';
import { conv3d } from '../ops/conv3d.js';
import { zeroInsert } from '../ops/spatial.js';
import { geluPointwise, normGeluPointwise, normPointwise } from './fused-pointwise.js';
import { maxAbs, maxAbsDiff, randArr, refConvTranspose3d, toTf } from '../ops/test-helpers.js';

type Fn = (...xs: tf.Tensor[]) => tf.Tensor;

/** Values and gradients of `fast` and `reference` at `inputs`; returns the worst relative difference. */
function compare(fast: Fn, reference: Fn, inputs: tf.Tensor[]): number {
  return tf.tidy(() => {
    const r = tf.randomNormal(reference(...inputs).shape, 0, 1, 'float32', 99);
    const run = (f: Fn) => [f(...inputs), ...tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)))(inputs)];
    const a = run(fast);
    const b = run(reference);
    let worst = 0;
    a.forEach((t, i) => {
      expect(t.shape).toEqual(b[i]!.shape);
      const ref = b[i]!.dataSync();
      worst = Math.max(worst, maxAbsDiff(t.dataSync(), ref) / Math.max(1, maxAbs(ref)));
    });
    return worst;
  });
}

const rand = (shape: number[], seed: number, lo = -1, hi = 1) => toTf(randArr(shape, seed, lo, hi));

describe('faster kernels agree with the reference implementations (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it.each([
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [1, 4, 3, 5, 3] },
    { k: [5, 5, 5], s: [2, 2, 2], p: [2, 2, 2], shape: [2, 3, 4, 3, 2] },
    { k: [3, 1, 3], s: [1, 2, 1], p: [0, 0, 1], shape: [1, 3, 3, 3, 2] },
    { k: [2, 3, 4], s: [2, 3, 2], p: [0, 1, 1], shape: [1, 3, 2, 4, 2] },
    { k: [1, 1, 1], s: [2, 2, 2], p: [0, 0, 0], shape: [1, 2, 3, 2, 2] },
  ])('transposed depthwise with the recomputed gradient = definition, gradients = plain autodiff: kernel $k stride $s padding $p', ({ k, s, p, shape }) => {
    const x = randArr(shape, 1);
    const w = randArr([...k, shape[4]!, 1], 2);
    const b = rand([shape[4]!], 3);
    const ref = refConvTranspose3d(x, w, s, p, true);
    const y = tf.tidy(() => tf.sub(depthwiseConvTranspose3d(toTf(x), toTf(w), s, p, b), b));
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
    const fast: Fn = (a, f, bb) => depthwiseConvTranspose3d(a!, f!, s, p, bb);
    const inner = k.map((kk, i) => kk - 1 - p[i]!);
    const slow: Fn = (a, f, bb) => depthwiseConv3dSlabs(zeroInsert(a as tf.Tensor5D, s as [number, number, number]), tf.reverse(f!, [0, 1, 2]), 1, inner, bb);
    expect(compare(fast, slow, [toTf(x), toTf(w), b])).toBeLessThan(1e-5);
  });

  it.each([
    { k: 3, s: 1, p: 1 },
    { k: 5, s: 2, p: 2 },
  ])('depthwise conv with the recomputed gradient = plain autodiff: kernel $k stride $s', ({ k, s, p }) => {
    const inputs = [rand([1, 6, 5, 7, 3], 4), rand([k, k, k, 3, 1], 5), rand([3], 6)];
    const fast: Fn = (a, f, b) => depthwiseConv3d(a!, f!, s, p, b);
    const slow: Fn = (a, f, b) => depthwiseConv3dSlabs(a!, f!, s, p, b);
    expect(compare(fast, slow, inputs)).toBeLessThan(1e-6);
  });

  it('pointwise conv with bias (one custom-gradient product) = matMul then add', () => {
    const inputs = [rand([2, 3, 4, 5, 6], 7), rand([1, 1, 1, 6, 8], 8), rand([8], 9)];
    const fast: Fn = (a, w, b) => conv3d(a!, w!, 1, 0, b);
    const slow: Fn = (a, w, b) => tf.add(tf.reshape(tf.matMul(tf.reshape(a!, [-1, 6]), tf.reshape(w!, [6, 8])), [2, 3, 4, 5, 8]), b!);
    expect(compare(fast, slow, inputs)).toBeLessThan(1e-5);
  });

  it.each([
    { groups: 6, shape: [2, 4, 3, 5, 6] },
    { groups: 2, shape: [1, 3, 3, 3, 6] },
    { groups: 1, shape: [2, 5, 4, 3] },
  ])('fused GroupNorm = the op chain: $groups groups, shape $shape', ({ groups, shape }) => {
    const c = shape[shape.length - 1]!;
    const inputs = [rand(shape, 10, 2, 5), rand([c], 11, 0.5, 1.5), rand([c], 12)];
    expect(compare((a, g, b) => groupNorm(a!, groups, 1e-5, g, b), (a, g, b) => groupNormReference(a!, groups, 1e-5, g, b), inputs)).toBeLessThan(2e-5);
    // Without affine parameters only x's gradient exists.
    expect(compare((a) => groupNorm(a!, groups, 1e-5), (a) => groupNormReference(a!, groups, 1e-5), [inputs[0]!])).toBeLessThan(2e-5);
  });

  it('GELU with the written-out derivative = autodiff of the erf form', () => {
    expect(compare((a) => gelu(a!), (a) => geluReference(a!), [rand([3, 4, 5, 6], 13, -6, 6)])).toBeLessThan(1e-6);
  });

  it.each([4, 30])('GELU fused into the 1×1×1 conv that reads it = GELU then the conv: inputs in ±%d', (range) => {
    // ±30 reaches where e^(x²/2) overflows float32 (|x| > 13): the density term must be 0 there.
    const inputs = [rand([2, 3, 4, 2, 6], 16, -range, range), rand([6, 5], 17), rand([5], 18)];
    const slow: Fn = (a, w, b) => conv3d(geluReference(a!), tf.reshape(w!, [1, 1, 1, 6, 5]), 1, 0, b);
    expect(compare((a, w, b) => geluPointwise(a!, w as tf.Tensor2D, b!), slow, inputs)).toBeLessThan(1e-5);
  });

  it.each([
    { groups: 6, shape: [2, 4, 3, 5, 6] },
    { groups: 3, shape: [1, 3, 2, 3, 6] },
  ])('GroupNorm fused into the 1×1×1 conv that reads it = GroupNorm then the conv: $groups groups', ({ groups, shape }) => {
    const c = shape[4]!;
    const inputs = [rand(shape, 19, 2, 5), rand([c], 20, 0.5, 1.5), rand([c], 21), rand([c, 7], 22), rand([7], 23)];
    const slow: Fn = (a, g, bt, w, b) => conv3d(groupNormReference(a!, groups, 1e-5, g, bt), tf.reshape(w!, [1, 1, 1, c, 7]), 1, 0, b);
    const fast: Fn = (a, g, bt, w, b) => normPointwise(a!, groups, 1e-5, g, bt, w as tf.Tensor2D, b!);
    expect(compare(fast, slow, inputs)).toBeLessThan(2e-5);
  });

  it.each([
    { groups: 6, shape: [2, 4, 3, 5, 6] },
    { groups: 2, shape: [1, 3, 2, 3, 6] },
  ])('a block tail as one op = GroupNorm, conv, GELU, conv: $groups groups, N = $shape.0', ({ groups, shape }) => {
    const c = shape[4]!;
    const inputs = [rand(shape, 24, 2, 5), rand([c], 25, 0.5, 1.5), rand([c], 26), rand([c, 12], 27), rand([12], 28), rand([12, 5], 29), rand([5], 30)];
    const conv = (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => conv3d(a, tf.reshape(w, [1, 1, 1, ...w.shape]), 1, 0, b);
    const slow: Fn = (a, g, bt, w2, b2, w3, b3) => conv(geluReference(conv(groupNormReference(a!, groups, 1e-5, g, bt), w2!, b2!)), w3!, b3!);
    const fast: Fn = (a, g, bt, w2, b2, w3, b3) => normGeluPointwise(a!, groups, 1e-5, g, bt, w2 as tf.Tensor2D, b2!, w3 as tf.Tensor2D, b3!);
    expect(compare(fast, slow, inputs)).toBeLessThan(2e-5);
  });

  it('the recomputed gradient leaks no tensors and works inside tf.variableGrads', () => {
    const x = tf.variable(rand([1, 5, 5, 5, 2], 14));
    const w = tf.variable(rand([3, 3, 3, 2, 1], 15));
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(depthwiseConvTranspose3d(depthwiseConv3d(x, w, 1, 1), w, 2, 1)) as tf.Scalar, [x, w]);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });
});
