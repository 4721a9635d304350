/**
 * Test support for the ops: float64 reference implementations written straight from the
 * PyTorch definitions (channels-last, plain loops), central finite differences, and the
 * MedNeXt reference fixtures as channels-last tensors. Used only by tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors, type TensorMap } from '../io/safetensors.js';
import { channelsFirstToLast } from '../weights/layout.js';
import { FIXTURES } from '../../tests/fixtures.js';

export interface Arr {
  shape: number[];
  data: Float64Array;
}

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-1, 1), rounded to float32 so both sides see the same numbers. */
export function randArr(shape: number[], seed: number, lo = -1, hi = 1): Arr {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.fround(lo + (hi - lo) * r());
  return { shape, data };
}

export function toTf(a: Arr): tf.Tensor {
  return tf.tensor(Float32Array.from(a.data), a.shape, 'float32');
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

// ---- float64 references (NDHWC activations; filters in the runtime layouts) ----

const idx5 = (s: number[], a: number, b: number, c: number, d: number, e: number) => (((a * s[1]! + b) * s[2]! + c) * s[3]! + d) * s[4]! + e;

/** PyTorch Conv3d (groups 1 or depthwise) by definition: out[o] = Σ x[o·s − p + t]·w[t]. */
export function refConv3d(x: Arr, w: Arr, stride: number[], pad: number[], depthwise: boolean): Arr {
  const [n, d, h, wd, ci] = x.shape as [number, number, number, number, number];
  const [kd, kh, kw] = w.shape as [number, number, number];
  const co = depthwise ? ci : w.shape[4]!;
  const o = [d, h, wd].map((len, i) => Math.floor((len + 2 * pad[i]! - w.shape[i]!) / stride[i]!) + 1) as [number, number, number];
  const out = new Float64Array(n * o[0] * o[1] * o[2] * co);
  const os = [n, ...o, co];
  for (let b = 0; b < n; b++)
    for (let z = 0; z < o[0]; z++)
      for (let y = 0; y < o[1]; y++)
        for (let q = 0; q < o[2]; q++)
          for (let a = 0; a < kd; a++)
            for (let e = 0; e < kh; e++)
              for (let f = 0; f < kw; f++) {
                const zz = z * stride[0]! - pad[0]! + a, yy = y * stride[1]! - pad[1]! + e, xx = q * stride[2]! - pad[2]! + f;
                if (zz < 0 || zz >= d || yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                for (let c = 0; c < co; c++) {
                  if (depthwise) out[idx5(os, b, z, y, q, c)] += x.data[idx5(x.shape, b, zz, yy, xx, c)]! * w.data[idx5(w.shape, a, e, f, c, 0)]!;
                  else for (let k = 0; k < ci; k++) out[idx5(os, b, z, y, q, c)] += x.data[idx5(x.shape, b, zz, yy, xx, k)]! * w.data[idx5(w.shape, a, e, f, k, c)]!;
                }
              }
  return { shape: os, data: out };
}

/** PyTorch ConvTranspose3d by definition: x[i] scatters w[t] into out[i·s − p + t]. */
export function refConvTranspose3d(x: Arr, w: Arr, stride: number[], pad: number[], depthwise: boolean): Arr {
  const [n, d, h, wd, ci] = x.shape as [number, number, number, number, number];
  const [kd, kh, kw] = w.shape as [number, number, number];
  // Dense runtime layout [k, Cout, Cin]; depthwise [k, C, 1].
  const co = depthwise ? ci : w.shape[3]!;
  const o = [d, h, wd].map((len, i) => (len - 1) * stride[i]! - 2 * pad[i]! + w.shape[i]!) as [number, number, number];
  const os = [n, ...o, co];
  const out = new Float64Array(os.reduce((a, b) => a * b, 1));
  for (let b = 0; b < n; b++)
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++)
        for (let q = 0; q < wd; q++)
          for (let a = 0; a < kd; a++)
            for (let e = 0; e < kh; e++)
              for (let f = 0; f < kw; f++) {
                const zz = z * stride[0]! - pad[0]! + a, yy = y * stride[1]! - pad[1]! + e, xx = q * stride[2]! - pad[2]! + f;
                if (zz < 0 || zz >= o[0] || yy < 0 || yy >= o[1] || xx < 0 || xx >= o[2]) continue;
                for (let c = 0; c < co; c++) {
                  if (depthwise) out[idx5(os, b, zz, yy, xx, c)] += x.data[idx5(x.shape, b, z, y, q, c)]! * w.data[idx5(w.shape, a, e, f, c, 0)]!;
                  else for (let k = 0; k < ci; k++) out[idx5(os, b, zz, yy, xx, c)] += x.data[idx5(x.shape, b, z, y, q, k)]! * w.data[idx5(w.shape, a, e, f, c, k)]!;
                }
              }
  return { shape: os, data: out };
}

/** GroupNorm over [N, S..., C] with `groups` groups (biased variance). */
export function refGroupNorm(x: Arr, groups: number, eps: number, gamma?: Arr, beta?: Arr): Arr {
  const n = x.shape[0]!, c = x.shape[x.shape.length - 1]!;
  const s = x.data.length / (n * c), cg = c / groups;
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let g = 0; g < groups; g++) {
      let sum = 0, sq = 0;
      for (let v = 0; v < s; v++) for (let k = g * cg; k < (g + 1) * cg; k++) sum += x.data[(b * s + v) * c + k]!;
      const mean = sum / (s * cg);
      for (let v = 0; v < s; v++) for (let k = g * cg; k < (g + 1) * cg; k++) sq += (x.data[(b * s + v) * c + k]! - mean) ** 2;
      const inv = 1 / Math.sqrt(sq / (s * cg) + eps);
      for (let v = 0; v < s; v++)
        for (let k = g * cg; k < (g + 1) * cg; k++) {
          const i = (b * s + v) * c + k;
          out[i] = (x.data[i]! - mean) * inv * (gamma ? gamma.data[k]! : 1) + (beta ? beta.data[k]! : 0);
        }
    }
  return { shape: x.shape, data: out };
}

export function refLayerNorm(x: Arr, eps: number, gamma: Arr, beta: Arr): Arr {
  const c = x.shape[x.shape.length - 1]!;
  const out = new Float64Array(x.data.length);
  for (let v = 0; v < x.data.length / c; v++) {
    let mean = 0, sq = 0;
    for (let k = 0; k < c; k++) mean += x.data[v * c + k]! / c;
    for (let k = 0; k < c; k++) sq += (x.data[v * c + k]! - mean) ** 2 / c;
    for (let k = 0; k < c; k++) out[v * c + k] = ((x.data[v * c + k]! - mean) / Math.sqrt(sq + eps)) * gamma.data[k]! + beta.data[k]!;
  }
  return { shape: x.shape, data: out };
}

/** erf to ~1e-15: Maclaurin series for |x| < 3, else the asymptotic continued fraction. */
export function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x, sum = x;
    for (let k = 1; k < 100; k++) {
      term *= (-x * x) / k;
      const add = term / (2 * k + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …))))
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export function refGelu(x: Arr): Arr {
  return { shape: x.shape, data: x.data.map((v) => 0.5 * v * (1 + erf64(v / Math.SQRT2))) };
}

export function refGrn(x: Arr, gamma: Arr, beta: Arr, eps: number): Arr {
  const n = x.shape[0]!, c = x.shape[x.shape.length - 1]!;
  const s = x.data.length / (n * c);
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++) {
    const gx = new Float64Array(c);
    for (let v = 0; v < s; v++) for (let k = 0; k < c; k++) gx[k] += x.data[(b * s + v) * c + k]! ** 2;
    for (let k = 0; k < c; k++) gx[k] = Math.sqrt(gx[k]!);
    const mean = gx.reduce((a, v) => a + v, 0) / c;
    for (let v = 0; v < s; v++)
      for (let k = 0; k < c; k++) {
        const i = (b * s + v) * c + k;
        out[i] = gamma.data[k]! * (x.data[i]! * (gx[k]! / (mean + eps))) + beta.data[k]! + x.data[i]!;
      }
  }
  return { shape: x.shape, data: out };
}

/**
 * Gradient of L = Σ f(args)·r with respect to args[which], by central differences of a
 * float64 function (step h), for comparison with TF.js autodiff.
 */
export function numericGrad(f: (args: Arr[]) => Arr, args: Arr[], which: number, r: Arr, h = 1e-4): Float64Array {
  const loss = () => f(args).data.reduce((acc, v, i) => acc + v * r.data[i]!, 0);
  const a = args[which]!;
  const g = new Float64Array(a.data.length);
  for (let i = 0; i < a.data.length; i++) {
    const keep = a.data[i]!;
    a.data[i] = keep + h;
    const up = loss();
    a.data[i] = keep - h;
    const down = loss();
    a.data[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** TF.js autodiff gradients of L = Σ f(args)·r with respect to every arg. */
export function autodiffGrads(f: (args: tf.Tensor[]) => tf.Tensor, args: Arr[], r: Arr): Float32Array[] {
  return tf.tidy(() => {
    const rt = toTf(r);
    const g = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(xs), rt)));
    return g(args.map(toTf)).map((t) => t.dataSync() as Float32Array);
  });
}

// ---- MedNeXt reference fixtures ----

export const REFERENCE = join(FIXTURES, 'mednext-reference');

export interface ReferenceCase {
  meta: { constructor_args: Record<string, unknown>; outputs: Array<{ name: string; tolerance_max_abs_err: number }> };
  weights: TensorMap;
  io: TensorMap;
}

export function loadCase(name: string): ReferenceCase {
  return {
    meta: JSON.parse(readFileSync(join(REFERENCE, `${name}.json`), 'utf8')),
    weights: readSafetensors(join(REFERENCE, `${name}.weights.safetensors`)),
    io: readSafetensors(join(REFERENCE, `${name}.io.safetensors`)),
  };
}

/** An NCDHW fixture activation as a channels-last tensor. */
export function activation(io: TensorMap, name: string): tf.Tensor {
  const t = io.get(name)!;
  const last = channelsFirstToLast({ shape: t.shape, data: t.data as Float32Array });
  return tf.tensor(last.data, last.shape, 'float32');
}
