import * as tf from '@tensorflow/tfjs-core';
import { assertDepthwiseFilter, assertRank5, triple, validOut } from '../../ops/spatial.js';
import { groupNormPlan } from '../../kernels/group-norm.js';
import type { Geometry } from './cpu-kernels.js';
import { CHANNEL_AFFINE, DW3D, DW3D_FILTER, DW3D_INPUT, EPILOGUE_GELU_GRAD, GELU, GELU_GRAD, GN_GRAD, GN_STATS, MATMUL_BIAS, MATMUL_FUSED, PROLOGUE_GELU2 } from './own-kernels.js';

/**
 * Ops with their gradients over the native kernels: the 3-D depthwise convolutions (plain and
 * transposed) and GELU as one native kernel each way; GroupNorm and the fused pointwise ops as
 * native passes around the native product.
 */

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];

const f32 = (t: tf.Tensor) => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));

/** Geometry of a PyTorch-style depthwise conv (`padding` zeros both sides) from x [N, D, H, W, C] and its kernel. */
function convGeometry(xShape: number[], k: number[], s: number[], p: number[], what: string): Geometry {
  const [nb, d, h, w, c] = xShape as [number, number, number, number, number];
  const out = [d, h, w].map((len, i) => validOut(len + 2 * p[i]!, k[i]!, s[i]!));
  if (out.some((o) => o < 1)) {
    throw new Error(`${what}: input [${xShape.join(', ')}] is smaller than the kernel ${k.join('×')} after padding`);
  }
  return [nb, c, d, h, w, ...out, ...k, ...s, ...p, 1, 1, 1];
}

/** Gradient of a depthwise conv with geometry g: [dx, dfilter, dbias]. */
function convGrads(g: Geometry, x: tf.Tensor, filter: tf.Tensor, dy: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const dx = run(DW3D_INPUT, { dy, filter }, { geometry: g }) as tf.Tensor;
  const [dw, db] = run(DW3D_FILTER, { x, dy }, { geometry: g }) as tf.Tensor[];
  return [dx, tf.reshape(dw!, filter.shape), db!];
}

/** `depthwiseConv3d` (runtime/ops/depthwise-conv3d.ts) as native kernels. */
export function nativeDepthwiseConv3d(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  assertRank5(x, 'depthwiseConv3d');
  assertDepthwiseFilter(x, filter, 'depthwiseConv3d');
  const g = convGeometry(x.shape, filter.shape.slice(0, 3), triple(stride, 'depthwiseConv3d stride'), triple(padding, 'depthwiseConv3d padding'), 'depthwiseConv3d');
  const forward = (xs: tf.Tensor, fs: tf.Tensor, bs?: tf.Tensor) =>
    run(DW3D, bs ? { x: f32(xs), filter: f32(fs), bias: f32(bs) } : { x: f32(xs), filter: f32(fs) }, { geometry: g }) as tf.Tensor;
  if (bias) {
    if (bias.size !== x.shape[4]) throw new Error(`depthwiseConv3d: bias of ${bias.size} values for ${x.shape[4]} channels`);
    return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [xs, fs, bs] = args as tf.Tensor[];
      (args[3] as tf.GradSaveFunc)([xs!, fs!]);
      return {
        value: forward(xs!, fs!, bs!),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [dx, dw, db] = convGrads(g, saved[0]!, saved[1]!, dy);
          return [dx, dw, tf.reshape(db, bs!.shape)];
        },
      };
    })(x, filter, bias) as tf.Tensor5D;
  }
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, fs] = args as tf.Tensor[];
    (args[2] as tf.GradSaveFunc)([xs!, fs!]);
    return {
      value: forward(xs!, fs!),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [dx, dw, db] = convGrads(g, saved[0]!, saved[1]!, dy);
        db.dispose();
        return [dx, dw];
      },
    };
  })(x, filter) as tf.Tensor5D;
}

/**
 * `depthwiseConvTranspose3d` (runtime/ops/depthwise-conv-transpose3d.ts) as native kernels: the
 * transposed convolution is the input-gradient of the plain one whose input has the transposed
 * output's size, so forward = backprop-input, its input gradient = the plain forward, and its
 * filter gradient = the plain filter gradient with the roles of x and dy exchanged.
 */
export function nativeDepthwiseConvTranspose3d(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  assertRank5(x, 'depthwiseConvTranspose3d');
  const k = triple(filter.shape.slice(0, 3), 'depthwiseConvTranspose3d kernel');
  const s = triple(stride, 'depthwiseConvTranspose3d stride');
  const p = triple(padding, 'depthwiseConvTranspose3d padding');
  if (k.some((kk, i) => kk - 1 - p[i]! < 0)) {
    throw new Error(`depthwiseConvTranspose3d: padding [${p.join(', ')}] exceeds kernel − 1 for kernel [${k.join(', ')}]`);
  }
  assertDepthwiseFilter(x, filter, 'depthwiseConvTranspose3d');
  const [nb, d, h, w, c] = x.shape;
  const big = [d, h, w].map((len, i) => (len - 1) * s[i]! - 2 * p[i]! + k[i]!);
  if (big.some((v) => v < 1)) throw new Error(`depthwiseConvTranspose3d: input [${x.shape.join(', ')}] gives an empty output`);
  const g = convGeometry([nb, ...big, c], k, s, p, 'depthwiseConvTranspose3d');
  const value = (xs: tf.Tensor, fs: tf.Tensor) => run(DW3D_INPUT, { dy: f32(xs), filter: f32(fs) }, { geometry: g }) as tf.Tensor;
  const grads = (xs: tf.Tensor, fs: tf.Tensor, dz: tf.Tensor) => {
    const dx = run(DW3D, { x: dz, filter: fs }, { geometry: g }) as tf.Tensor;
    const [dw, unused] = run(DW3D_FILTER, { x: dz, dy: xs }, { geometry: g }) as tf.Tensor[];
    unused!.dispose();
    return [dx, tf.reshape(dw!, fs.shape)];
  };
  if (bias) {
    if (bias.size !== c) throw new Error(`depthwiseConvTranspose3d: bias of ${bias.size} values for ${c} channels`);
    return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [xs, fs, bs] = args as tf.Tensor[];
      (args[3] as tf.GradSaveFunc)([xs!, fs!]);
      return {
        value: tf.add(value(xs!, fs!), tf.reshape(bs!, [c])),
        gradFunc: (dz: tf.Tensor, saved: tf.Tensor[]) => [
          ...grads(saved[0]!, saved[1]!, dz),
          tf.reshape(tf.sum(tf.reshape(dz, [-1, c]), 0), bs!.shape),
        ],
      };
    })(x, filter, bias) as tf.Tensor5D;
  }
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, fs] = args as tf.Tensor[];
    (args[2] as tf.GradSaveFunc)([xs!, fs!]);
    return { value: value(xs!, fs!), gradFunc: (dz: tf.Tensor, saved: tf.Tensor[]) => grads(saved[0]!, saved[1]!, dz) };
  })(x, filter) as tf.Tensor5D;
}

/** Exact GELU with its derivative, one native kernel each way (keeps only x). */
export function nativeGelu(x: tf.Tensor): tf.Tensor {
  if (x.dtype !== 'float32') return tf.tidy(() => nativeGelu(tf.cast(x, 'float32')));
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xs = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([xs]);
    return {
      value: run(GELU, { x: xs }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run(GELU_GRAD, { x: saved[0]!, dy }) as tf.Tensor,
    };
  })(x);
}

/**
 * GroupNorm (runtime/ops/group-norm.ts) with native passes: statistics (one pass over x for
 * Σx and Σx², one writing x − μ), the normalisation (one), and the gradient (the per-channel sums, then the
 * combination). Saves x − μ, σ⁻¹ and γ, as the JS op does.
 */
export function nativeGroupNorm(x: tf.Tensor, groups: number, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  const gn = groupNormPlan(x.shape, groups, eps);
  const attrs = { n: gn.n, v: gn.voxels, c: gn.channels, groups };
  const c = gn.channels;
  const core = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, gs, bs] = args as tf.Tensor[];
    const [centred, mean, rstd] = run(GN_STATS, { x: xs! }, { ...attrs, eps, centred: true }) as tf.Tensor[];
    mean!.dispose();
    (args[3] as tf.GradSaveFunc)([centred!, rstd!, gs!]);
    return {
      value: run(CHANNEL_AFFINE, { x: centred!, scale: tf.mul(rstd!, gs!), shift: bs! }, attrs) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [cen, rs, gm] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return run(GN_GRAD, { dy, centred: cen, rstd: rs, gamma: gm }, attrs) as tf.Tensor[];
      },
    };
  });
  return tf.tidy(() => {
    const g = gamma ? tf.reshape(f32(gamma), [c]) : tf.ones([c]);
    const b = beta ? tf.reshape(f32(beta), [c]) : tf.zeros([c]);
    return tf.reshape(core(tf.reshape(f32(x), [gn.n, gn.voxels, c]), g, b), x.shape);
  });
}

/**
 * `geluPointwise` (runtime/kernels/fused-pointwise.ts), conv1×1×1(GELU(x)) + b keeping x and w:
 * forward one native pass u = x·(1 + erf(x/√2)) and the product u·(½W) + b; backward u again
 * (for dW), dh = dy·Wᵀ and dx = dh·GELU′(x) in one native pass.
 */
export function nativeGeluPointwise(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const [ci, co] = w.shape;
  if (shape[shape.length - 1] !== ci) throw new Error(`geluPointwise: weight [${w.shape}] does not fit input [${shape}]`);
  const voxels = x.size / ci;
  const outShape = [...shape.slice(0, -1), co];
  if (tf.getKernel(MATMUL_FUSED, 'native')) return geluPointwiseFused(x, w, b, voxels, outShape);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, ws, bs] = args as [tf.Tensor, tf.Tensor2D, tf.Tensor];
    (args[3] as tf.GradSaveFunc)([xs, ws]);
    const u = run(GELU, { x: tf.reshape(xs, [voxels, ci]) }, { scale: 2 }) as tf.Tensor;
    const y = run(MATMUL_BIAS, { a: u, b: tf.mul(ws, 0.5), bias: tf.reshape(bs, [co]) }, { transposeA: false, transposeB: false }) as tf.Tensor;
    u.dispose();
    return {
      value: tf.reshape(y, outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor, tf.Tensor2D];
        const x2 = tf.reshape(sx, [voxels, ci]);
        const dy2 = tf.reshape(dy, [voxels, co]) as tf.Tensor2D;
        const u2 = run(GELU, { x: x2 }, { scale: 2 }) as tf.Tensor2D;
        const dwTwice = tf.matMul(u2, dy2, true, false);
        u2.dispose();
        const dw = tf.mul(dwTwice, 0.5);
        dwTwice.dispose();
        const db = tf.reshape(tf.sum(dy2, 0), bs.shape);
        const dh = tf.matMul(dy2, sw, false, true);
        const dx = run(GELU_GRAD, { x: x2, dy: dh }) as tf.Tensor;
        dh.dispose();
        return [tf.reshape(dx, shape), dw, db];
      },
    };
  });
  return tf.tidy(() => op(f32(x), f32(w) as tf.Tensor2D, f32(b)));
}

/**
 * nativeGeluPointwise with GELU inside the products, so the expanded activation 2·GELU(x) is never
 * written out: forward prologue(x)·(½W) + b; backward dW = ½·prologue(x)ᵀ·dy and dx = (dy·Wᵀ) ×
 * GELU′(x) as the product's epilogue. The same arithmetic as the separate passes, value for value.
 */
function geluPointwiseFused(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor, voxels: number, outShape: number[]): tf.Tensor {
  const shape = x.shape;
  const [ci, co] = w.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, ws, bs] = args as [tf.Tensor, tf.Tensor2D, tf.Tensor];
    (args[3] as tf.GradSaveFunc)([xs, ws]);
    const attrs = { transposeA: false, transposeB: false, prologue: PROLOGUE_GELU2, epilogue: 0 };
    const y = run(MATMUL_FUSED, { a: tf.reshape(xs, [voxels, ci]), b: tf.mul(ws, 0.5), bias: tf.reshape(bs, [co]) }, attrs) as tf.Tensor;
    return {
      value: tf.reshape(y, outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor, tf.Tensor2D];
        const x2 = tf.reshape(sx, [voxels, ci]);
        const dy2 = tf.reshape(dy, [voxels, co]) as tf.Tensor2D;
        const dwTwice = run(MATMUL_FUSED, { a: x2, b: dy2 }, { transposeA: true, transposeB: false, prologue: PROLOGUE_GELU2, epilogue: 0 }) as tf.Tensor;
        const dw = tf.mul(dwTwice, 0.5);
        dwTwice.dispose();
        const db = tf.reshape(tf.sum(dy2, 0), bs.shape);
        const dx = run(MATMUL_FUSED, { a: dy2, b: sw, addend: x2 }, { transposeA: false, transposeB: true, prologue: 0, epilogue: EPILOGUE_GELU_GRAD }) as tf.Tensor;
        return [tf.reshape(dx, shape), dw, db];
      },
    };
  });
  return tf.tidy(() => op(f32(x), f32(w) as tf.Tensor2D, f32(b)));
}

/**
 * `normPointwise` (runtime/kernels/fused-pointwise.ts), conv1×1×1(GroupNorm(x)) + b with the
 * normalisation folded into the weights: native statistics (x − μ, σ⁻¹), the product
 * (x − μ)·(diag(γσ⁻¹)·W) + (β·W + b) with the bias added in the product, and in the backward
 * pass GroupNorm's native gradient of dh = dy·Wᵀ. Saves x − μ, σ⁻¹, γ, β, W as the JS op does.
 */
export function nativeNormPointwise(x: tf.Tensor, groups: number, eps: number, gamma: tf.Tensor | undefined, beta: tf.Tensor | undefined, w: tf.Tensor2D, b: tf.Tensor): tf.Tensor {
  const shape = x.shape;
  const gn = groupNormPlan(shape, groups, eps);
  const [ci, co] = w.shape;
  if (ci !== gn.channels) throw new Error(`normPointwise: weight [${w.shape}] does not fit ${gn.channels} channels`);
  const { n, voxels } = gn;
  const attrs = { n, v: voxels, c: ci, groups };
  const outShape = [...shape.slice(0, -1), co];
  /** a = γσ⁻¹ as a column per sample: [N, Cin, 1]. */
  const scaleColumn = (rstd: tf.Tensor, g: tf.Tensor) => tf.reshape(tf.mul(rstd, g), [n, ci, 1]);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, gs, bts, ws, bs] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor2D, tf.Tensor];
    const [centred, mean, rstd] = run(GN_STATS, { x: xs }, { ...attrs, eps, centred: true }) as tf.Tensor[];
    mean!.dispose();
    (args[5] as tf.GradSaveFunc)([centred!, rstd!, gs, bts, ws]);
    const wScaled = tf.mul(scaleColumn(rstd!, gs), ws); // [N, Cin, Cout]
    const bias = tf.reshape(tf.add(tf.matMul(tf.reshape(bts, [1, ci]), ws), tf.reshape(bs, [1, co])), [co]);
    return {
      value: tf.reshape(run(MATMUL_BIAS, { a: centred!, b: wScaled, bias }, { transposeA: false, transposeB: false }) as tf.Tensor, outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [cen, rs, gm, bt, sw] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor2D];
        const dy3 = tf.reshape(dy, [n, voxels, co]);
        const sumDy = tf.reshape(tf.sum(tf.reshape(dy, [n * voxels, co]), 0), [1, co]);
        const perSample = tf.matMul(cen, dy3, true, false); // (x − μ)ᵀ·dy: [N, Cin, Cout]
        const dw = tf.add(tf.sum(tf.mul(scaleColumn(rs, gm), perSample), 0), tf.matMul(tf.reshape(bt, [ci, 1]), sumDy));
        perSample.dispose();
        const dh = tf.matMul(tf.reshape(dy, [n * voxels, co]) as tf.Tensor2D, sw, false, true); // [N·V, Cin]
        const [dx, dgamma, dbeta] = run(GN_GRAD, { dy: dh, centred: cen, rstd: rs, gamma: gm }, attrs) as tf.Tensor[];
        dh.dispose();
        return [tf.reshape(dx!, shape), dgamma!, dbeta!, dw, tf.reshape(sumDy, bs.shape)];
      },
    };
  });
  return tf.tidy(() => {
    const g = gamma ? tf.reshape(f32(gamma), [ci]) : tf.ones([ci]);
    const bt = beta ? tf.reshape(f32(beta), [ci]) : tf.zeros([ci]);
    return op(f32(x), g, bt, f32(w) as tf.Tensor2D, f32(b));
  });
}

