/**
 * The `native` backend's C++ kernels against the cpu backend's JavaScript kernels on the same
 * random inputs (odd shapes, broadcasting, transposes, sizes that split across threads), its
 * depthwise 3-D ops against float64 definitions and finite differences, and the tiny MedNeXt
 * fixture forward. Skipped when the addon is not built (`mnxc setup native`).
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { compileFile } from '../../compiler/compile.js';
import { ROOT } from '../../tests/fixtures.js';
import { useBackend, type BackendName } from '../backend.js';
import { buildModel } from '../model/model.js';
import { depthwiseConv3dSlabs } from '../ops/depthwise-conv3d.js';
import { depthwiseConvTranspose3d } from '../ops/depthwise-conv-transpose3d.js';
import { ops, resetOps } from '../ops/index.js';
import { activation, autodiffGrads, erf64, loadCase, maxAbs, maxAbsDiff, numericGrad, randArr, refConv3d, refConvTranspose3d, rng, toTf } from '../ops/test-helpers.js';
import { diceCeLoss } from '../train/loss.js';
import { loadWeights } from '../weights/state-dict.js';
import { geluPointwise, normGeluPointwise, normPointwise, pointwiseInference } from '../kernels/fused-pointwise.js';
import { hasEpilogueKernels, MATMUL_CENTRED, matMulBiasAdd, matMulBiasGelu } from '../kernels/pointwise.js';
import { groupNormFused } from '../kernels/group-norm.js';
import { loadNativeBackend, nativeDepthwiseConv3d, nativeDepthwiseConvTranspose3d, nativeGelu, nativeGeluPointwise, nativeGroupNorm, nativeNormPointwise } from './native.js';

const why = await loadNativeBackend();
if (why) console.warn(`native backend tests skipped: ${why}`);

function random(shape: number[], seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

type Input = { shape: number[]; data: Float32Array | Int32Array; dtype?: 'float32' | 'int32' };
const input = (shape: number[], seed: number, lo = -1, hi = 1): Input => ({ shape, data: random(shape, seed, lo, hi) });

/** Runs `f` on fresh tensors on `backend`; returns every output's shape and values. */
async function runOn(backend: string, f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], inputs: Input[]) {
  await useBackend(backend as BackendName);
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype ?? 'float32'));
    const out = f(...xs);
    return (Array.isArray(out) ? out : [out]).map((t) => ({ shape: t.shape, dtype: t.dtype, data: t.dataSync() as Float32Array }));
  });
}

/** Worst |native − cpu| over all outputs, relative to max(1, max |cpu|); shapes and dtypes must match. */
async function versusCpu(f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], inputs: Input[]): Promise<number> {
  const cpu = await runOn('cpu', f, inputs);
  const native = await runOn('native', f, inputs);
  expect(native.length).toBe(cpu.length);
  let worst = 0;
  cpu.forEach((c, i) => {
    expect(native[i]!.shape).toEqual(c.shape);
    expect(native[i]!.dtype).toBe(c.dtype);
    worst = Math.max(worst, maxAbsDiff(native[i]!.data, c.data) / Math.max(1, maxAbs(c.data)));
  });
  return worst;
}

/** f's value and the gradients of Σ f·r with respect to every input. */
const withGrads = (f: (...xs: tf.Tensor[]) => tf.Tensor) => (...xs: tf.Tensor[]) => {
  const y = f(...xs);
  const r = tf.tensor(random(y.shape, 99), y.shape);
  return [y, ...tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)))(xs)];
};

describe.skipIf(why !== null)('native kernels = cpu kernels', () => {
  beforeAll(async () => {
    await useBackend('native');
  });

  const pairs: Array<[number[], number[]]> = [
    [[2, 3, 4], [2, 3, 4]],
    [[2, 3, 4], [4]],
    [[2, 3, 4], [3, 1]],
    [[5, 1, 7], [1, 6, 1]],
    [[1], [3, 5]],
    [[], [4, 5]],
    [[4, 5], []],
    [[2, 1, 3, 1, 2], [1, 4, 1, 5, 1]],
    [[1, 300, 33], [1, 1, 33]],
    [[2, 70000], [2, 70000]],
    [[3, 20000, 3], [3, 1, 3]],
    [[70001], [1]],
  ];
  it.each(['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'squaredDifference'] as const)('%s with broadcasting', async (op) => {
    for (const [i, [sa, sb]] of pairs.entries()) {
      const lo = op === 'div' ? 0.5 : -1;
      const err = await versusCpu((a, b) => tf[op](a!, b!), [input(sa, 2 * i + 1), input(sb, 2 * i + 2, lo, 2)]);
      expect(err, `${op} [${sa}] [${sb}]`).toBeLessThan(1e-6);
    }
  });

  it('addN', async () => {
    const xs = [input([3, 50001], 40), input([3, 50001], 41), input([3, 50001], 42)];
    expect(await versusCpu((a, b, c) => [tf.addN([a!, b!, c!]), tf.addN([a!, b!]), tf.addN([c!])], xs)).toBeLessThan(1e-7);
  });

  it('pow', async () => {
    expect(await versusCpu((a, b) => tf.pow(a!, b!), [input([3, 40], 3, 0.1, 2), input([40], 4, -2, 2)])).toBeLessThan(1e-6);
  });

  it('binary gradients (reductions over the broadcast axes)', async () => {
    const f = withGrads((a, b, c) => tf.div(tf.add(tf.mul(a!, b!), c!), tf.add(tf.square(b!), 1)));
    expect(await versusCpu(f, [input([2, 5, 3, 7], 1), input([7], 2), input([2, 1, 3, 1], 3)])).toBeLessThan(1e-5);
  });

  it('integer inputs fall back to the cpu kernels', async () => {
    const ints: Input[] = [
      { shape: [2, 3], data: Int32Array.from([1, 2, 3, 4, 5, 6]), dtype: 'int32' },
      { shape: [3], data: Int32Array.from([7, 8, 9]), dtype: 'int32' },
    ];
    expect(await versusCpu((a, b) => [tf.add(a!, b!), tf.mul(a!, b!), tf.sum(a!, 1)], ints)).toBe(0);
    // The cpu backend keeps a cast's integers as they are: float32 tensors over an Int32Array.
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const [fa, fb] = [tf.cast(a, 'float32'), tf.cast(b, 'float32')];
      const x = tf.reshape(tf.tile(fa, [1, 1]), [1, 1, 2, 3, 1]);
      return [tf.add(fa, fb), tf.matMul(fa, tf.reshape(fb, [3, 1])), tf.sum(fa, 0), tf.exp(tf.mul(fb, 0.1)), tf.transpose(fa), ops.depthwiseConv3d(tf.tile(x, [1, 1, 1, 1, 1]), tf.cast(tf.ones([1, 1, 1, 1, 1], 'int32'), 'float32'), 1, 0)];
    };
    expect(await versusCpu((a, b) => f(a!, b!), ints)).toBeLessThan(1e-6);
  });

  it.each([
    ['exp', -3, 3],
    ['erf', -4, 4],
    ['neg', -1, 1],
    ['sqrt', 0, 4],
    ['rsqrt', 0.1, 4],
    ['square', -2, 2],
    ['abs', -1, 1],
    ['relu', -1, 1],
    ['log', 0.01, 4],
    ['reciprocal', 0.5, 4],
    ['sigmoid', -6, 6],
    ['tanh', -4, 4],
    ['elu', -3, 3],
    ['softplus', -5, 5],
    ['sign', -1, 1],
  ] as const)('%s', async (op, lo, hi) => {
    for (const shape of [[7], [3, 5, 11], [100003]]) {
      const err = await versusCpu((x) => (tf[op] as (x: tf.Tensor) => tf.Tensor)(x!), [input(shape, 5, lo, hi)]);
      // The cpu kernel's erf is itself an approximation (|error| < 1.5e-7); see the float64 check below.
      expect(err, `${op} [${shape}]`).toBeLessThan(op === 'erf' ? 4e-7 : 2e-6);
    }
  });

  it('erf and exp against float64', async () => {
    const x = random([20001], 17, -5, 5);
    await tf.setBackend('native');
    const [e, x2] = tf.tidy(() => [tf.erf(tf.tensor(x)).dataSync(), tf.exp(tf.tensor(x)).dataSync()]);
    expect(maxAbsDiff(e!, Array.from(x, erf64))).toBeLessThan(4e-7); // ~5 float32 ulp near ±1
    expect(maxAbsDiff(x2!, Array.from(x, (v) => Math.exp(v))) / Math.exp(5)).toBeLessThan(3e-7);
  });

  it('step and leaky relu', async () => {
    expect(await versusCpu((x) => [tf.step(x!, 0.3), tf.leakyRelu(x!, 0.2)], [input([9, 13], 6)])).toBeLessThan(1e-7);
  });

  it.each([
    { a: [1, 1], b: [1, 1], ta: false, tb: false },
    { a: [5, 7], b: [7, 3], ta: false, tb: false },
    { a: [130, 33], b: [33, 70], ta: false, tb: false },
    { a: [33, 130], b: [33, 70], ta: true, tb: false },
    { a: [130, 33], b: [70, 33], ta: false, tb: true },
    { a: [33, 130], b: [70, 33], ta: true, tb: true },
    { a: [3, 5000], b: [5000, 17], ta: false, tb: false },
    { a: [5000, 3], b: [5000, 17], ta: true, tb: false },
    { a: [1, 20000], b: [20000, 32], ta: false, tb: false },
    { a: [2, 5, 7], b: [7, 3], ta: false, tb: false },
    { a: [1, 5, 7], b: [3, 4, 7], ta: false, tb: true },
    { a: [6, 1, 4096], b: [6, 4096, 8], ta: false, tb: false },
    { a: [2, 3, 9, 4], b: [2, 3, 9, 6], ta: true, tb: false },
  ])('matMul $a × $b (transposeA $ta, transposeB $tb)', async ({ a, b, ta, tb }) => {
    const err = await versusCpu((x, y) => tf.matMul(x!, y!, ta, tb), [input(a, 7), input(b, 8)]);
    expect(err).toBeLessThan(1e-5);
  });

  it('fused matMul with a bias (the product adds it), batched and transposed; other forms fall back', async () => {
    const err = await versusCpu(
      (a, b, c, bias, rowBias) => [
        tf.fused.matMul({ a: a!, b: b!, bias: bias! }),
        tf.fused.matMul({ a: b!, b: a!, bias: rowBias!, transposeA: true, transposeB: true }),
        tf.fused.matMul({ a: c!, b: b!, bias: bias! }),
        tf.fused.matMul({ a: a!, b: b!, bias: tf.reshape(bias!, [1, 40]), activation: 'relu' }),
      ],
      [input([300, 17], 12), input([17, 40], 13), input([2, 5, 17], 14), input([40], 15), input([300], 16)],
    );
    expect(err).toBeLessThan(1e-5);
  });

  it('products with a GELU or residual epilogue (the inference plan runs here) = the op chains on cpu', async () => {
    // 37·5 outputs: a vector tail in every row block; 70 000 rows: several row blocks per thread.
    for (const [m, k, n] of [[37, 6, 5], [70000, 32, 16]]) {
      const err = await versusCpu(
        (a, b, bias, addend) => [matMulBiasGelu(a as tf.Tensor2D, b as tf.Tensor2D, bias!), matMulBiasAdd(a as tf.Tensor2D, b as tf.Tensor2D, bias!, addend as tf.Tensor2D)],
        [input([m!, k!], 17, -3, 3), input([k!, n!], 18), input([n!], 19), input([m!, n!], 20)],
      );
      expect(err).toBeLessThan(1e-5);
    }
    await useBackend('native');
    expect(hasEpilogueKernels()).toBe(true);
    const p = await tf.profile(() => tf.tidy(() => [matMulBiasGelu(tf.ones([3, 2]), tf.ones([2, 2]), tf.zeros([2])), matMulBiasAdd(tf.ones([3, 2]), tf.ones([2, 2]), tf.zeros([2]), tf.ones([3, 2]))]));
    expect(p.kernelNames).toEqual(expect.arrayContaining(['MnxcMatMulBiasGelu', 'MnxcMatMulBiasAdd']));
    tf.dispose(p.result as tf.Tensor[]);
  });

  it('matMul gradients', async () => {
    expect(await versusCpu(withGrads((x, y) => tf.matMul(x!, y!)), [input([300, 17], 9), input([17, 40], 10)])).toBeLessThan(1e-5);
  });

  it.each([
    { shape: [4, 5, 6], axis: 1, keep: false },
    { shape: [4, 5, 6], axis: [0, 1], keep: true },
    { shape: [4, 5, 6], axis: [1, 2], keep: false },
    { shape: [4, 5, 6], axis: [0, 1, 2], keep: false },
    { shape: [4, 5, 6], axis: -1, keep: true },
    { shape: [2, 1, 3], axis: [0, 2], keep: false },
    { shape: [3, 4, 5], axis: [0, 2], keep: false },
    { shape: [3, 70000], axis: 1, keep: false },
    { shape: [70000, 3], axis: 0, keep: false },
    { shape: [1, 300000], axis: 1, keep: true },
    { shape: [7, 9000, 5], axis: 1, keep: false },
  ])('sum of $shape over $axis', async ({ shape, axis, keep }) => {
    expect(await versusCpu((x) => [tf.sum(x!, axis, keep), tf.mean(x!, axis, keep)], [input(shape, 11, 1, 3)])).toBeLessThan(1e-6);
  });

  it('slice, pad, transpose, gather, concat', async () => {
    const f = (x: tf.Tensor) => [
      tf.slice(x, [1, 0, 1, 2], [2, 3, 3, 3]),
      tf.slice(x, [1, 0, 0, 0], [1, 4, 5, 6]),
      tf.pad(x, [[0, 1], [2, 0], [1, 1], [0, 3]]),
      tf.pad(x, [[1, 1], [0, 0], [0, 0], [2, 2]], 1.5),
      tf.transpose(x, [0, 3, 1, 2]),
      tf.transpose(x, [3, 2, 1, 0]),
      tf.gather(x, tf.tensor1d([4, 0, 0, 2], 'int32'), 2),
      tf.gather(x, tf.tensor1d([3, 1], 'int32'), 0),
      tf.concat([x, x], 3),
    ];
    expect(await versusCpu((x) => f(x!), [input([4, 4, 5, 6], 12)])).toBe(0);
    expect(await versusCpu(withGrads((x) => tf.slice(tf.pad(x!, [[0, 0], [1, 1], [2, 1]]), [0, 1, 1], [3, 5, 6])), [input([3, 6, 5], 13)])).toBeLessThan(1e-6);
  });

  it('softmax over the last axis, with its gradient', async () => {
    for (const shape of [[5], [7, 3], [2, 5, 4, 3, 3], [3, 40000, 3], [4, 33]]) {
      expect(await versusCpu(withGrads((x) => tf.softmax(x!)), [input(shape, 70, -8, 8)]), `[${shape}]`).toBeLessThan(1e-6);
    }
    // A row with -Infinity entries (masked logits) and a NaN stay as the cpu kernel has them.
    const odd = { shape: [2, 3], data: Float32Array.from([-Infinity, 0, 1, NaN, 2, 3]) };
    const [a, b] = [await runOn('native', (x) => tf.softmax(x!), [odd]), await runOn('cpu', (x) => tf.softmax(x!), [odd])];
    await tf.setBackend('native');
    expect(Array.from(a[0]!.data)).toEqual(Array.from(b[0]!.data));
  });

  it('casts of integers and booleans to float32 (then native element-wise kernels)', async () => {
    const ints: Input = { shape: [3, 5000], data: Int32Array.from({ length: 15000 }, (_, i) => (i * 7919) % 13 - 6), dtype: 'int32' };
    const f = (x: tf.Tensor) => {
      const fx = tf.cast(x, 'float32');
      const mask = tf.cast(tf.greaterEqual(x, 0), 'float32');
      return [fx, mask, tf.mul(fx, mask), tf.mul(tf.oneHot(tf.maximum(x, tf.scalar(0, 'int32')), 7), tf.expandDims(mask, -1)), tf.cast(tf.cast(x, 'bool'), 'float32')];
    };
    expect(await versusCpu((x) => f(x!), [ints])).toBe(0);
  });

  it('Dice + CE loss and its gradient (softmax, one-hot, masks, reductions)', async () => {
    const target: Input = { shape: [2, 6, 5, 7], data: Int32Array.from({ length: 420 }, (_, i) => ((i * 2654435761) % 5) - 1), dtype: 'int32' };
    const cfg = { name: 'dice_ce' as const, batch_dice: false, smooth: 1e-5, do_background: false, weight_ce: 1, weight_dice: 1 };
    const f = (logits: tf.Tensor, t: tf.Tensor) => {
      const [g] = tf.grads((l: tf.Tensor) => diceCeLoss(l, t, cfg))([logits]);
      return [diceCeLoss(logits, t, cfg), g!];
    };
    expect(await versusCpu((l, t) => f(l!, t!), [input([2, 6, 5, 7, 4], 71, -3, 3), target])).toBeLessThan(1e-5);
  });

  it.each([
    { shape: [2, 7, 8, 3], k: [3, 3], s: 1, pad: 'same' as const },
    { shape: [1, 9, 6, 4], k: [5, 3], s: 2, pad: 'same' as const },
    { shape: [2, 7, 8, 3], k: [3, 3], s: [2, 1] as [number, number], pad: 'valid' as const },
    { shape: [1, 6, 6, 2], k: [2, 2], s: 2, pad: 1 },
  ])('depthwiseConv2d $k stride $s pad $pad, with gradients', async ({ shape, k, s, pad }) => {
    const f = withGrads((x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad));
    expect(await versusCpu(f, [input(shape, 14), input([...k, shape[3]!, 1], 15)])).toBeLessThan(1e-5);
  });
});

describe.skipIf(why !== null)('native depthwise 3-D ops and GELU', () => {
  beforeAll(async () => {
    await useBackend('native');
  });

  const cases = [
    { k: [3, 3, 3], s: [1, 1, 1], p: [1, 1, 1], shape: [2, 6, 5, 7, 3] },
    { k: [5, 5, 5], s: [1, 1, 1], p: [2, 2, 2], shape: [1, 6, 6, 6, 2] },
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [1, 7, 8, 5, 3] },
    { k: [5, 3, 1], s: [2, 1, 2], p: [2, 1, 0], shape: [1, 9, 6, 6, 2] },
    { k: [2, 3, 4], s: [2, 3, 2], p: [0, 1, 1], shape: [1, 5, 7, 6, 33] },
  ];

  it.each(cases)('depthwiseConv3d = the float64 definition: kernel $k stride $s padding $p', ({ k, s, p, shape }) => {
    const x = randArr(shape, 1);
    const w = randArr([...k, shape[4]!, 1], 2);
    const ref = refConv3d(x, w, s, p, true);
    const y = tf.tidy(() => nativeDepthwiseConv3d(toTf(x), toTf(w), s, p));
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });

  it.each([
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [1, 4, 3, 5, 3] },
    { k: [5, 5, 5], s: [2, 2, 2], p: [2, 2, 2], shape: [2, 3, 4, 3, 2] },
    { k: [2, 3, 4], s: [2, 3, 2], p: [0, 1, 1], shape: [1, 3, 2, 4, 2] },
    { k: [1, 1, 1], s: [2, 2, 2], p: [0, 0, 0], shape: [1, 2, 3, 2, 2] },
  ])('depthwiseConvTranspose3d = the float64 definition: kernel $k stride $s padding $p', ({ k, s, p, shape }) => {
    const x = randArr(shape, 3);
    const w = randArr([...k, shape[4]!, 1], 4);
    const ref = refConvTranspose3d(x, w, s, p, true);
    const y = tf.tidy(() => nativeDepthwiseConvTranspose3d(toTf(x), toTf(w), s, p));
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });

  it.each([
    { s: [1, 1, 1], p: [1, 1, 1], shape: [1, 4, 5, 3, 2] },
    { s: [2, 2, 2], p: [1, 1, 1], shape: [1, 5, 4, 5, 2] },
    { s: [2, 1, 2], p: [0, 1, 1], shape: [2, 4, 3, 4, 3] },
  ])('gradients match float64 finite differences at stride $s (plain and transposed)', ({ s, p, shape }) => {
    const x = randArr(shape, 5);
    const w = randArr([3, 3, 3, shape[4]!, 1], 6);
    const plain = refConv3d(x, w, s, p, true);
    const r = randArr(plain.shape, 7);
    const [gx, gw] = autodiffGrads(([a, b]) => nativeDepthwiseConv3d(a!, b!, s, p), [x, w], r);
    const f = ([a, b]: Arr[]) => refConv3d(a!, b!, s, p, true);
    expect(maxAbsDiff(gx!, numericGrad(f, [x, w], 0, r))).toBeLessThan(1e-4);
    expect(maxAbsDiff(gw!, numericGrad(f, [x, w], 1, r))).toBeLessThan(1e-4);

    const transposed = refConvTranspose3d(x, w, s, p, true);
    const rt = randArr(transposed.shape, 8);
    const [tx, tw] = autodiffGrads(([a, b]) => nativeDepthwiseConvTranspose3d(a!, b!, s, p), [x, w], rt);
    const ft = ([a, b]: Arr[]) => refConvTranspose3d(a!, b!, s, p, true);
    expect(maxAbsDiff(tx!, numericGrad(ft, [x, w], 0, rt))).toBeLessThan(1e-4);
    expect(maxAbsDiff(tw!, numericGrad(ft, [x, w], 1, rt))).toBeLessThan(1e-4);
  });

  it('with bias: values and all three gradients = the TF.js-ops implementation on cpu', async () => {
    const inputs = [input([2, 5, 6, 4, 3], 20), input([3, 3, 3, 3, 1], 21), input([3], 22)];
    const plain = withGrads((x, w, b) => nativeDepthwiseConv3d(x!, w!, [2, 1, 1], 1, b));
    const plainRef = withGrads((x, w, b) => depthwiseConv3dSlabs(x!, w!, [2, 1, 1], 1, b));
    const up = withGrads((x, w, b) => nativeDepthwiseConvTranspose3d(x!, w!, 2, 1, b));
    const upRef = withGrads((x, w, b) => depthwiseConvTranspose3d(x!, w!, 2, 1, b));
    const compare = async (fast: typeof plain, ref: typeof plain) => {
      const a = await runOn('native', fast, inputs);
      const b = await runOn('cpu', ref, inputs);
      a.forEach((t, i) => {
        expect(t.shape).toEqual(b[i]!.shape);
        expect(maxAbsDiff(t.data, b[i]!.data) / Math.max(1, maxAbs(b[i]!.data))).toBeLessThan(1e-5);
      });
    };
    await compare(plain, plainRef);
    await compare(up, upRef);
    await tf.setBackend('native');
  });

  it('GELU and its gradient = the cpu op chain', async () => {
    const err = await versusCpu(
      (x) => {
        const native = tf.getBackend() === 'native';
        return withGrads((a) => (native ? nativeGelu(a!) : tf.mul(tf.mul(a!, 0.5), tf.add(tf.erf(tf.mul(a!, Math.SQRT1_2)), 1))))(x!);
      },
      [input([3, 7, 50], 23, -6, 6)],
    );
    expect(err).toBeLessThan(1e-6);
  });

  it('the ops are installed for native and defer to the previous ones elsewhere', async () => {
    const x = randArr([1, 4, 4, 4, 2], 30);
    const w = randArr([3, 3, 3, 2, 1], 31);
    const y = async (backend: string) => {
      await useBackend(backend as 'cpu' | 'native');
      return tf.tidy(() => ops.depthwiseConv3d(toTf(x), toTf(w), 1, 1).dataSync());
    };
    const cpu = await y('cpu');
    const native = await y('native');
    expect(maxAbsDiff(cpu, native)).toBeLessThan(1e-6);
    const xv = tf.variable(toTf(x), false);
    const wv = tf.variable(toTf(w), true, 'w31');
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(ops.gelu(ops.depthwiseConv3d(xv, wv, 1, 1))) as tf.Scalar, [wv]);
      expect(Object.keys(grads)).toEqual(['w31']);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xv, wv]);
  });
});

describe.skipIf(why !== null)('native GroupNorm and fused pointwise ops = the JS ops on cpu', () => {
  beforeAll(async () => {
    await useBackend('native');
  });

  /** Worst relative difference of values and all gradients: `fast` on native, `ref` on cpu. */
  const compare = async (fast: (...xs: tf.Tensor[]) => tf.Tensor, ref: (...xs: tf.Tensor[]) => tf.Tensor, inputs: Input[]) => {
    const a = await runOn('native', withGrads(fast), inputs);
    const b = await runOn('cpu', withGrads(ref), inputs);
    await tf.setBackend('native');
    expect(a.length).toBe(b.length);
    let worst = 0;
    a.forEach((t, i) => {
      expect(t.shape).toEqual(b[i]!.shape);
      worst = Math.max(worst, maxAbsDiff(t.data, b[i]!.data) / Math.max(1, maxAbs(b[i]!.data)));
    });
    return worst;
  };

  // Odd sizes, N = 1 and 2, groups = C and groups < C (one group, several), and sizes that
  // split each sample's sums into several parts (V·C ≥ 131072).
  const gnCases = [
    { shape: [1, 5, 4, 3, 6], groups: 6 },
    { shape: [1, 5, 4, 3, 6], groups: 2 },
    { shape: [2, 3, 5, 7, 4], groups: 4 },
    { shape: [2, 3, 5, 7, 4], groups: 1 },
    { shape: [2, 7, 9], groups: 3 },
    { shape: [1, 24, 24, 32, 12], groups: 12 },
    { shape: [2, 17, 16, 33, 8], groups: 4 },
  ];

  it.each(gnCases)('groupNorm $shape, $groups groups: values and gradients', async ({ shape, groups }) => {
    const c = shape[shape.length - 1]!;
    // An offset input (mean ≈ 3) checks the variance's cancellation (E[x²] − μ² in double).
    const inputs = [input(shape, 50, 2, 4), input([c], 51, 0.5, 1.5), input([c], 52)];
    const err = await compare((x, g, b) => nativeGroupNorm(x!, groups, 1e-5, g, b), (x, g, b) => groupNormFused(x!, groups, 1e-5, g, b), inputs);
    expect(err).toBeLessThan(1e-5);
    // Without the affine parameters.
    const plain = await compare((x) => nativeGroupNorm(x!, groups, 1e-5), (x) => groupNormFused(x!, groups, 1e-5), [inputs[0]!]);
    expect(plain).toBeLessThan(1e-5);
  });

  it('groupNorm at 64³ with offset means (one-pass E[x²] − μ² in double) against float64', async () => {
    const C = 4, G = 2, V = 64 ** 3;
    for (const offset of [3, 40]) {
      const data = random([V * C], 73 + offset, offset - 1, offset + 1);
      const ref = new Float64Array(V * C);
      for (let g = 0; g < G; g++) {
        const at = (v: number, j: number) => data[v * C + g * 2 + j]!;
        let m = 0;
        for (let v = 0; v < V; v++) m += at(v, 0) + at(v, 1);
        m /= 2 * V;
        let q = 0;
        for (let v = 0; v < V; v++) q += (at(v, 0) - m) ** 2 + (at(v, 1) - m) ** 2;
        const r = 1 / Math.sqrt(q / (2 * V) + 1e-5);
        for (let v = 0; v < V; v++) for (let j = 0; j < 2; j++) ref[v * C + g * 2 + j] = (at(v, j) - m) * r;
      }
      const got = tf.tidy(() => nativeGroupNorm(tf.tensor(data, [1, 64, 64, 64, C]), G, 1e-5).dataSync());
      // What is left is the float32 mean's rounding in x − μ (the two-pass kernel before gave the same 2.9e-7 and 2.4e-6).
      expect(maxAbsDiff(got, ref)).toBeLessThan(offset === 3 ? 1e-6 : 5e-6);
    }
  });

  it('pointwiseInference with GroupNorm: the centring inside the product = the centred tensor\'s product, bit for bit', async () => {
    await useBackend('native');
    const centredKernel = tf.getKernel(MATMUL_CENTRED, 'native');
    expect(centredKernel).toBeDefined();
    for (const [shape, co] of [[[1, 5, 4, 3, 6], 7], [[2, 9, 13, 11, 33], 17], [[1, 16, 16, 16, 32], 64]] as const) {
      const c = shape[shape.length - 1]!;
      const groups = c === 33 ? 3 : c / 2;
      const inputs = [input([...shape], 74, 2, 4), input([c], 75, 0.5, 1.5), input([c], 76), input([c, co], 77), input([co], 78), input([...shape.slice(0, -1), co], 79)];
      const f = (x: tf.Tensor, g: tf.Tensor, bt: tf.Tensor, w: tf.Tensor, b: tf.Tensor, res: tf.Tensor) => {
        const norm = { groups, eps: 1e-5, gamma: g, beta: bt };
        return [
          pointwiseInference(x, w as tf.Tensor2D, b, { norm }),
          pointwiseInference(x, w as tf.Tensor2D, b, { norm, gelu: true }),
          pointwiseInference(x, w as tf.Tensor2D, b, { norm, residual: res }),
        ];
      };
      const fast = await runOn('native', (...xs) => f(...(xs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])), inputs);
      tf.unregisterKernel(MATMUL_CENTRED, 'native');
      try {
        const plain = await runOn('native', (...xs) => f(...(xs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])), inputs);
        fast.forEach((t, i) => expect(Array.from(t.data)).toEqual(Array.from(plain[i]!.data)));
      } finally {
        tf.registerKernel(centredKernel!);
      }
      const cpu = await runOn('cpu', (...xs) => f(...(xs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])), inputs);
      fast.forEach((t, i) => expect(maxAbsDiff(t.data, cpu[i]!.data) / Math.max(1, maxAbs(cpu[i]!.data))).toBeLessThan(1e-5));
    }
    await useBackend('native');
    const p = await tf.profile(() =>
      tf.tidy(() => pointwiseInference(tf.ones([1, 2, 2, 2, 4]), tf.ones([4, 3]) as tf.Tensor2D, tf.zeros([3]), { norm: { groups: 2, eps: 1e-5 } })),
    );
    expect(p.kernelNames).toContain(MATMUL_CENTRED);
    (p.result as tf.Tensor).dispose();
  });

  it.each(gnCases)('normPointwise $shape, $groups groups: values and gradients', async ({ shape, groups }) => {
    const c = shape[shape.length - 1]!;
    const co = 2 * c + 1;
    const inputs = [input(shape, 53, -2, 1), input([c], 54, 0.5, 1.5), input([c], 55), input([c, co], 56), input([co], 57)];
    const err = await compare(
      (x, g, bt, w, b) => nativeNormPointwise(x!, groups, 1e-5, g, bt, w as tf.Tensor2D, b!),
      (x, g, bt, w, b) => normPointwise(x!, groups, 1e-5, g, bt, w as tf.Tensor2D, b!),
      inputs,
    );
    expect(err).toBeLessThan(1e-5);
  });

  it.each([
    { shape: [1, 3, 4, 5, 6], co: 10 },
    { shape: [2, 5, 3, 3, 7], co: 5 },
    { shape: [2, 9, 13, 11, 33], co: 17 },
  ])('geluPointwise $shape → $co channels: values and gradients', async ({ shape, co }) => {
    const c = shape[shape.length - 1]!;
    const inputs = [input(shape, 58, -4, 4), input([c, co], 59), input([co], 60)];
    const err = await compare(
      (x, w, b) => nativeGeluPointwise(x!, w as tf.Tensor2D, b!),
      (x, w, b) => geluPointwise(x!, w as tf.Tensor2D, b!),
      inputs,
    );
    expect(err).toBeLessThan(1e-5);
  });

  it('normGeluPointwise (a block tail) installed for native = the JS op on cpu: values and gradients', async () => {
    const shape = [2, 5, 3, 4, 6];
    const inputs = [input(shape, 66, 1, 3), input([6], 67, 0.5, 1.5), input([6], 68), input([6, 12], 69), input([12], 70), input([12, 5], 71), input([5], 72)];
    const err = await compare(
      (x, g, bt, w2, b2, w3, b3) => ops.normGeluPointwise(x!, 6, 1e-5, g, bt, w2 as tf.Tensor2D, b2!, w3 as tf.Tensor2D, b3!),
      (x, g, bt, w2, b2, w3, b3) => normGeluPointwise(x!, 6, 1e-5, g, bt, w2 as tf.Tensor2D, b2!, w3 as tf.Tensor2D, b3!),
      inputs,
    );
    expect(err).toBeLessThan(1e-5);
  });

  it('the ops are installed for native, free their temporaries, and defer to the JS ops elsewhere', async () => {
    const shape = [2, 4, 3, 5, 6];
    const xd = random(shape, 61, -1, 2);
    const run = async (backend: 'cpu' | 'native') => {
      await useBackend(backend);
      const x = tf.variable(tf.tensor(xd, shape), true, `x61${backend}`);
      const g = tf.variable(tf.tensor(random([6], 62, 0.5, 1.5)), true, `g62${backend}`);
      const w = tf.variable(tf.tensor(random([6, 8], 63), [6, 8]), true, `w63${backend}`);
      const w2 = tf.variable(tf.tensor(random([8, 6], 64), [8, 6]), true, `w64${backend}`);
      const b = tf.variable(tf.zeros([8]), true, `b65${backend}`);
      const b2 = tf.variable(tf.zeros([6]), true, `b66${backend}`);
      const vars = [x, g, w, w2, b, b2];
      const step = () => {
        const { value, grads } = tf.variableGrads(() => {
          const h = ops.normPointwise(ops.groupNorm(x, 3, 1e-5, g, b2), 6, 1e-5, g, undefined, w as tf.Tensor2D, b);
          return tf.sum(tf.square(ops.geluPointwise(h, w2 as tf.Tensor2D, b2))) as tf.Scalar;
        }, vars);
        const out = [value.dataSync()[0]!, ...vars.map((v) => Array.from(grads[v.name]!.dataSync()))];
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      const first = step();
      const before = tf.memory().numTensors;
      step();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(vars);
      return first;
    };
    const cpu = await run('cpu');
    const native = await run('native');
    const kernels = async (backend: 'cpu' | 'native') => {
      await useBackend(backend);
      const x = tf.tensor(xd, shape);
      const w = tf.ones([6, 4]) as tf.Tensor2D;
      const p = await tf.profile(() => tf.tidy(() => [ops.groupNorm(x, 2, 1e-5), ops.normPointwise(x, 2, 1e-5, undefined, undefined, w, tf.zeros([4])), ops.geluPointwise(x, w, tf.zeros([4]))]));
      tf.dispose([x, w]);
      return p.kernelNames;
    };
    expect(await kernels('native')).toEqual(expect.arrayContaining(['MnxcGroupNormStats', 'MnxcChannelAffine', 'MnxcMatMulBias', 'MnxcMatMulFused']));
    expect((await kernels('cpu')).filter((k) => k.startsWith('Mnxc'))).toEqual([]);
    expect(Math.abs((native[0] as number) - (cpu[0] as number)) / Math.abs(cpu[0] as number)).toBeLessThan(1e-5);
    for (let i = 1; i < cpu.length; i++) {
      const c = cpu[i] as number[];
      expect(maxAbsDiff(native[i] as number[], c) / Math.max(1, maxAbs(c))).toBeLessThan(1e-5);
    }
  });
});

type Arr = ReturnType<typeof randArr>;

describe.skipIf(why !== null)('MedNeXt fixture on native', () => {
  beforeAll(async () => {
    resetOps();
    await useBackend('native');
  });

  it('tiny_k3_ds reproduces every official output', () => {
    const name = 'tiny_k3_ds';
    const c = loadCase(name);
    const set = Object.entries(c.meta.constructor_args).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    const { ir } = compileFile(join(ROOT, 'examples', 'mednext.mnx'), { set, inputSize: [32, 32, 32] });
    const model = buildModel(ir!);
    loadWeights(model, c.weights, name);
    const x = activation(c.io, 'input');
    const ys = model.forward(x);
    const outs = ['out_0', 'out_1', 'out_2', 'out_3', 'out_4'];
    expect(ys.length).toBe(outs.length);
    ys.forEach((y, i) => {
      const ref = activation(c.io, outs[i]!);
      const refData = ref.dataSync();
      const err = maxAbsDiff(y.dataSync(), refData);
      expect(err, `${outs[i]}: ${err}`).toBeLessThanOrEqual(2e-5 + 2e-5 * maxAbs(refData));
      ref.dispose();
    });
    tf.dispose([x, ...ys]);
    model.dispose();
  });
});
