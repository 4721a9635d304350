/**
 * The native addon's register-blocked kernels against the paths they replace: the depthwise 3-D
 * convolution (forward, stride-1 input gradient as a convolution with the reversed filter, the
 * strided input gradient = the transposed convolution, the filter gradient) at channel counts and
 * widths where the blocked loops run (≥ one SIMD vector of channels, rows wider than a block),
 * with a channel tail and edges that take the one-output loop; values against the float64
 * definition, gradients against the TF.js-ops implementation on the cpu backend. The products with
 * GELU inside against the separate passes and float64, and the strided copies against the plane selections.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { useBackend } from '../backend.js';
import { depthwiseConv3dSlabs } from '../ops/depthwise-conv3d.js';
import { depthwiseConvTranspose3d } from '../ops/depthwise-conv-transpose3d.js';
import { subsample, zeroInsert } from '../ops/spatial.js';
import { erf64, maxAbs, maxAbsDiff, randArr, refConv3d, refConvTranspose3d, toTf } from '../ops/test-helpers.js';
import { loadNativeBackend, nativeDepthwiseConv3d, nativeDepthwiseConvTranspose3d } from './native.js';

const why = await loadNativeBackend();
if (why) throw new Error(`the native backend is needed here: ${why}`);

type Conv = (x: tf.Tensor, w: tf.Tensor, s: number[], p: number[], b?: tf.Tensor) => tf.Tensor;

/** The value and the gradients of Σ conv·r with respect to x, w and b, as plain arrays. */
async function valueAndGrads(backend: 'native' | 'cpu', conv: Conv, x: number[], w: number[], b: number[], shapes: number[][], s: number[], p: number[]) {
  await useBackend(backend);
  return tf.tidy(() => {
    const [xt, wt, bt] = [tf.tensor(x, shapes[0]), tf.tensor(w, shapes[1]), tf.tensor(b, shapes[2])];
    const y = conv(xt, wt, s, p, bt);
    const r = toTf(randArr(y.shape, 77));
    const g = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(conv(a, c, s, p, d), r)))([xt, wt, bt]);
    return [y, ...g].map((t) => ({ shape: t.shape, data: Array.from(t.dataSync()) }));
  });
}

async function compareWithCpu(conv: Conv, ref: Conv, xShape: number[], k: number[], s: number[], p: number[]) {
  const c = xShape[4]!;
  const shapes = [xShape, [...k, c, 1], [c]];
  const [x, w, b] = shapes.map((sh, i) => Array.from(randArr(sh, 10 + i).data));
  const fast = await valueAndGrads('native', conv, x!, w!, b!, shapes, s, p);
  const slow = await valueAndGrads('cpu', ref, x!, w!, b!, shapes, s, p);
  fast.forEach((f, i) => {
    expect(f.shape).toEqual(slow[i]!.shape);
    expect(maxAbsDiff(f.data, slow[i]!.data) / Math.max(1, maxAbs(slow[i]!.data)), `output ${i}`).toBeLessThan(2e-6);
  });
  await useBackend('native');
}

describe('native depthwise 3-D kernels, register-blocked paths', () => {
  beforeAll(async () => {
    await useBackend('native');
  });

  // 20 channels: one full vector of 16 (AVX-512) or two of 8, and a tail; widths give full
  // blocks of 8, a block of 4 and single outputs at the edges.
  const cases = [
    { k: [3, 3, 3], s: [1, 1, 1], p: [1, 1, 1], shape: [1, 4, 5, 23, 20] },
    { k: [5, 5, 5], s: [1, 1, 1], p: [2, 2, 2], shape: [1, 5, 4, 22, 20] },
    { k: [7, 7, 7], s: [1, 1, 1], p: [3, 3, 3], shape: [1, 3, 3, 26, 16] },
    { k: [3, 5, 5], s: [1, 1, 1], p: [0, 2, 1], shape: [2, 4, 4, 19, 33] },
    { k: [3, 3, 3], s: [2, 2, 2], p: [1, 1, 1], shape: [1, 6, 5, 20, 20] },
    { k: [5, 5, 5], s: [2, 2, 2], p: [2, 2, 2], shape: [1, 5, 6, 21, 17] },
  ];

  it.each(cases)('depthwiseConv3d = the float64 definition: kernel $k stride $s padding $p, input $shape', ({ k, s, p, shape }) => {
    const x = randArr(shape, 1);
    const w = randArr([...k, shape[4]!, 1], 2);
    const ref = refConv3d(x, w, s, p, true);
    const y = tf.tidy(() => nativeDepthwiseConv3d(toTf(x), toTf(w), s, p));
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });

  it.each(cases)('depthwiseConvTranspose3d = the float64 definition: kernel $k stride $s padding $p, input $shape', ({ k, s, p, shape }) => {
    const x = randArr(shape, 3);
    const w = randArr([...k, shape[4]!, 1], 4);
    const ref = refConvTranspose3d(x, w, s, p, true);
    const y = tf.tidy(() => nativeDepthwiseConvTranspose3d(toTf(x), toTf(w), s, p));
    expect(y.shape).toEqual(ref.shape);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-5);
    y.dispose();
  });

  it.each(cases)('gradients (input, filter, bias) = the TF.js ops on cpu: kernel $k stride $s padding $p', async ({ k, s, p, shape }) => {
    await compareWithCpu(nativeDepthwiseConv3d, depthwiseConv3dSlabs, shape, k, s, p);
  });

  it.each(cases.filter((c) => c.s[0] === 2))('transposed: gradients = the TF.js ops on cpu: kernel $k stride $s padding $p', async ({ k, s, p, shape }) => {
    await compareWithCpu(nativeDepthwiseConvTranspose3d, depthwiseConvTranspose3d, shape, k, s, p);
  });
});

describe('native products with a GELU prologue or a GELU′ epilogue', () => {
  const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) =>
    tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  const plain = { transposeA: false, transposeB: false, prologue: 0, epilogue: 0 };

  // [voxels, cin, cout]: row blocks of the ordinary product (and a ragged last one), and a long
  // voxel axis that the transposed product splits into parts.
  it.each([
    [517, 20, 37],
    [70000, 16, 32],
  ])('= the separate GELU passes around the product, value for value: %i voxels, %i → %i channels', async (v, ci, co) => {
    await useBackend('native');
    tf.tidy(() => {
      const x = toTf(randArr([v, ci], 31, -4, 4)) as tf.Tensor2D;
      const w = toTf(randArr([ci, co], 32)) as tf.Tensor2D;
      const b = toTf(randArr([co], 33));
      const dy = toTf(randArr([v, co], 34)) as tf.Tensor2D;
      const u = run('MnxcGelu', { x }, { scale: 2 });
      const same = (a: tf.Tensor, e: tf.Tensor) => {
        expect(a.shape).toEqual(e.shape);
        expect(maxAbsDiff(a.dataSync(), e.dataSync())).toBe(0);
      };
      // forward: 2·GELU(x)·W + b
      same(run('MnxcMatMulFused', { a: x, b: w, bias: b }, { ...plain, prologue: 1 }), run('MnxcMatMulBias', { a: u, b: w, bias: b }, { transposeA: false, transposeB: false }));
      // weight gradient: (2·GELU(x))ᵀ·dy
      same(run('MnxcMatMulFused', { a: x, b: dy }, { ...plain, transposeA: true, prologue: 1 }), tf.matMul(u, dy, true, false));
      // input gradient: (dy·Wᵀ) × GELU′(x)
      same(run('MnxcMatMulFused', { a: dy, b: w, addend: x }, { ...plain, transposeB: true, epilogue: 3 }), run('MnxcGeluGrad', { x, dy: tf.matMul(dy, w, false, true) }, {}));
      // against GELU's float64 definition too (its derivative through a central difference of erf)
      const xs = x.dataSync(), got = run('MnxcMatMulFused', { a: dy, b: w, addend: x }, { ...plain, transposeB: true, epilogue: 3 }).dataSync();
      const dh = tf.matMul(dy, w, false, true).dataSync();
      let worst = 0;
      for (let i = 0; i < xs.length; i += 7) {
        const t = xs[i]!, pdf = Math.exp(-t * t / 2) / Math.sqrt(2 * Math.PI);
        const cdf = 0.5 * (1 + erf64(t / Math.SQRT2));
        worst = Math.max(worst, Math.abs(got[i]! - dh[i]! * (cdf + t * pdf)) / Math.max(1, Math.abs(dh[i]!)));
      }
      expect(worst).toBeLessThan(1e-5);
    });
  });

  // Against float64: the bias and epilogue applied to the register tile (ragged row and column tiles: 517 and 133 rows, 37 and 45
  // columns), an expansion wider than a column panel (K = 40 → N = 300), and the split-K parts of a long transposed product
  // (K = 3001 over 21 rows: 6 parts of 501, each in K chunks of 256 and a ragged one), with and without the GELU prologue.
  it.each([
    { m: 517, k: 40, n: 37, transA: false, transB: false },
    { m: 133, k: 40, n: 300, transA: false, transB: true },
    { m: 21, k: 3001, n: 45, transA: true, transB: false },
  ])('= float64 for every prologue and epilogue: $m × $k × $n (transA $transA, transB $transB)', async ({ m, k, n, transA, transB }) => {
    await useBackend('native');
    const a = randArr(transA ? [k, m] : [m, k], 51, -2, 2), b = randArr(transB ? [n, k] : [k, n], 52), bias = randArr([n], 53);
    const addend = randArr([m, n], 54, -3, 3);
    const A = (i: number, kk: number) => a.data[transA ? kk * m + i : i * k + kk]!;
    const B = (kk: number, j: number) => b.data[transB ? j * k + kk : kk * n + j]!;
    const gelu2 = (x: number) => x * (1 + erf64(x / Math.SQRT2));
    const pdf = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
    for (const prologue of [0, 1] as const) {
      for (const epilogue of [0, 1, 2, 3] as const) {
        const got = tf.tidy(() => {
          const inputs: Record<string, tf.Tensor> = { a: toTf(a), b: toTf(b), bias: toTf(bias) };
          if (epilogue >= 2) inputs.addend = toTf(addend);
          return run('MnxcMatMulFused', inputs, { transposeA: transA, transposeB: transB, prologue, epilogue }).dataSync();
        });
        let worst = 0;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let acc = 0, scale = 0;
            for (let kk = 0; kk < k; kk++) {
              const t = (prologue ? gelu2(A(i, kk)) : A(i, kk)) * B(kk, j);
              acc += t;
              scale += Math.abs(t);
            }
            acc += bias.data[j]!;
            const x = addend.data[i * n + j]!;
            const ref = epilogue === 1 ? 0.5 * acc * (1 + erf64(acc / Math.SQRT2)) : epilogue === 2 ? acc + x : epilogue === 3 ? acc * (0.5 * (1 + erf64(x / Math.SQRT2)) + x * pdf(x)) : acc;
            worst = Math.max(worst, Math.abs(got[i * n + j]! - ref) / (scale + Math.abs(bias.data[j]!) + Math.abs(x) + 1));
          }
        }
        expect(worst, `prologue ${prologue} epilogue ${epilogue}`).toBeLessThan(1e-6);
      }
    }
  });

  it('refuses shapes that do not fit and an epilogue without its addend', async () => {
    await useBackend('native');
    const a = tf.zeros([4, 3]), b = tf.zeros([2, 5]);
    expect(() => run('MnxcMatMulFused', { a, b }, plain)).toThrow(/do not fit/);
    expect(() => run('MnxcMatMulFused', { a, b: tf.zeros([3, 5]) }, { ...plain, epilogue: 3 })).toThrow(/do not fit/);
    tf.dispose([a, b]);
  });
});

describe('native strided copies (a strided 1×1×1 convolution and its transposed one)', () => {
  // Even and odd sizes, strides 2 and 3 and 1 mixed: subsample keeps ceil(n/s) planes, zero-insertion makes (n−1)·s + 1.
  it.each([
    { shape: [1, 6, 5, 7, 20], stride: [2, 2, 2] },
    { shape: [2, 5, 4, 9, 3], stride: [1, 3, 2] },
  ])('subsample and zeroInsert with their gradients = the plane selections on cpu: $shape at stride $stride', async ({ shape, stride }) => {
    const s = stride as [number, number, number];
    const x = randArr(shape, 41);
    const f = (t: tf.Tensor) => {
      const down = subsample(t as tf.Tensor5D, s);
      const up = zeroInsert(down, s);
      return [down, up, ...tf.grads((a: tf.Tensor) => tf.sum(tf.mul(zeroInsert(subsample(a as tf.Tensor5D, s), s), tf.sin(tf.range(0, up.size).reshape(up.shape)))))([t])];
    };
    const on = async (backend: 'native' | 'cpu') => {
      await useBackend(backend);
      return tf.tidy(() => f(toTf(x)).map((t) => ({ shape: t.shape, data: Array.from(t.dataSync()) })));
    };
    const fast = await on('native');
    const kernels = (await tf.profile(() => tf.tidy(() => subsample(toTf(x) as tf.Tensor5D, s)))).kernelNames;
    expect(kernels).toContain('MnxcStridedGather3d');
    const slow = await on('cpu');
    fast.forEach((t, i) => {
      expect(t.shape).toEqual(slow[i]!.shape);
      expect(maxAbsDiff(t.data, slow[i]!.data), `output ${i}`).toBe(0);
    });
  });
});
