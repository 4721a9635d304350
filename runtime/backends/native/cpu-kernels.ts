import * as tf from '@tensorflow/tfjs-core';
import { cpuValues } from '../../tfjs-internals.js';
import type { NativeAddon } from './addon.js';
import { isF32, output, size, values, type Backend, type Info, type NativeKernel } from './cpu-data.js';

/**
 * Native versions of the cpu backend's own kernels (element-wise ops, products, reductions,
 * copies, gathers, softmax, casts, 2-D depthwise convolutions). Each returns null for a pattern
 * it does not handle, and the cpu kernel runs instead.
 */

const stridesOf = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
};

/**
 * Drops size-1 axes and merges neighbouring axes that every strided view walks contiguously,
 * so the addon's loops run over as few, as long rows as possible. Never returns rank 0.
 */
function collapse(shape: readonly number[], ...strides: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, i) => outStrides[i]![last] === s[d]! * shape[d]!)) {
      outShape[last] *= shape[d]!;
      strides.forEach((s, i) => (outStrides[i]![last] = s[d]!));
    } else {
      outShape.push(shape[d]!);
      strides.forEach((s, i) => outStrides[i]!.push(s[d]!));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [1]) };
  return { shape: outShape, strides: outStrides };
}


const BINARY: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6, Pow: 7 };
const UNARY: Record<string, number> = {
  Exp: 0, Erf: 1, Neg: 2, Sqrt: 3, Rsqrt: 4, Square: 5, Abs: 6, Relu: 7, Log: 8, Reciprocal: 9, Sigmoid: 10, Tanh: 11, Step: 12, Elu: 13, Softplus: 14, Sign: 15,
};
const MAX_RANK = 8;

function binaryKernel(n: NativeAddon, op: number): NativeKernel {
  return ({ inputs, backend }) => {
    const { a, b } = inputs as { a: Info; b: Info };
    if (!isF32(backend, a, b)) return null;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const rank = outShape.length;
    const broadcastStrides = (t: Info) => {
      const own = stridesOf(t.shape);
      const off = rank - t.shape.length;
      return outShape.map((d, i) => (i < off || t.shape[i - off] === 1 ? 0 : own[i - off]!));
    };
    const c = collapse(outShape, broadcastStrides(a), broadcastStrides(b));
    if (c.shape.length > MAX_RANK) return null;
    const out = output(backend, size(outShape), false); // binary: every element
    if (out.length > 0) n.binary(op, values(backend, a), values(backend, b), out, c.shape, c.strides[0]!, c.strides[1]!);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

function addNKernel(n: NativeAddon): NativeKernel {
  return ({ inputs, backend }) => {
    const xs = Object.values(inputs);
    if (xs.length === 0 || !isF32(backend, ...xs) || xs.some((t) => !tf.util.arraysEqual(t.shape, xs[0]!.shape))) return null;
    const out = output(backend, size(xs[0]!.shape), false); // addN: copies the first, adds the rest
    n.addN(xs.map((t) => values(backend, t)), out);
    return backend.makeTensorInfo(xs[0]!.shape, 'float32', out);
  };
}

function unaryKernel(n: NativeAddon, op: number): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    if (!isF32(backend, x)) return null;
    const out = output(backend, size(x.shape), false); // unary: every element
    n.unary(op, values(backend, x), out, Number((attrs as { alpha?: number } | undefined)?.alpha ?? 0));
    return backend.makeTensorInfo(x.shape, 'float32', out);
  };
}

/** op(a)·op(b) (+ bias on every row) as the native product, or null for a pattern it does not handle. */
export function nativeMatMul(n: NativeAddon, backend: Backend, a: Info, b: Info, transposeA: boolean, transposeB: boolean, bias?: Float32Array): Info | null {
  if (a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const nn = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) return null; // the cpu kernel reports the mismatch
  const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batchA = size(a.shape.slice(0, -2)), batchB = size(b.shape.slice(0, -2)), batch = size(outer);
  // The cpu kernel pairs batch i with A[i % batchA], B[i % batchB]: right when one side is 1 or both match.
  if (!(batchA === batch || batchA === 1) || !(batchB === batch || batchB === 1)) return null;
  if (bias && bias.length !== nn) return null;
  // Every element is stored by the first K chunk (or the split-K sum); with K = 0 nothing is, and C stays 0.
  const out = output(backend, batch * m * nn, k === 0);
  n.matmul(values(backend, a), values(backend, b), out, batch, batchA, batchB, m, k, nn, transposeA, transposeB, bias ?? null);
  return backend.makeTensorInfo([...outer, m, nn], 'float32', out);
}

function batchMatMul(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: Info; b: Info };
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (!isF32(backend, a, b)) return null;
    return nativeMatMul(n, backend, a, b, transposeA, transposeB);
  };
}

/** tf.fused.matMul with a bias over the output columns and no activation: the product adds it. */
function fusedMatMul(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { a, b, bias, preluActivationWeights } = inputs as { a: Info; b: Info; bias?: Info; preluActivationWeights?: Info };
    const { transposeA, transposeB, activation } = attrs as { transposeA: boolean; transposeB: boolean; activation?: string };
    if (!bias || preluActivationWeights || (activation !== undefined && activation !== 'linear')) return null;
    if (!isF32(backend, a, b, bias) || bias.shape.length !== 1) return null;
    return nativeMatMul(n, backend, a, b, transposeA, transposeB, values(backend, bias));
  };
}

function sumKernel(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    const { axis, keepDims } = attrs as { axis: number | number[]; keepDims: boolean };
    if (!isF32(backend, x)) return null;
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
    // The reduced axes (ignoring size-1 axes) must be one contiguous run: x is [outer, reduce, inner].
    const dims = x.shape.map((d, i) => ({ d, reduced: axes.includes(i) })).filter((e) => e.d !== 1);
    const first = dims.findIndex((e) => e.reduced);
    let last = first;
    while (first >= 0 && last + 1 < dims.length && dims[last + 1]!.reduced) last++;
    if (first >= 0 && dims.slice(last + 1).some((e) => e.reduced)) return null;
    const [outer, reduce, inner] =
      first < 0
        ? [size(dims.map((e) => e.d)), 1, 1]
        : [size(dims.slice(0, first).map((e) => e.d)), size(dims.slice(first, last + 1).map((e) => e.d)), size(dims.slice(last + 1).map((e) => e.d))];
    let [outShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    if (keepDims) outShape = tf.backend_util.expandShapeToKeepDim(outShape, axes);
    const out = output(backend, outer * inner, reduce === 0); // every element, unless there is nothing to sum
    n.sum(values(backend, x), out, outer, reduce, inner);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

function sliceKernel(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    const { begin, size: sz } = attrs as { begin: number | number[]; size: number | number[] };
    if (!isF32(backend, x)) return null;
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, sz);
    tf.slice_util.assertParamsValid(x as tf.Tensor, b, s);
    // A contiguous slice is a view in the cpu kernel (no copy): leave it to that.
    if (tf.slice_util.isSliceContinous(x.shape, b, s)) return null;
    const xs = stridesOf(x.shape);
    const c = collapse(s, xs, stridesOf(s));
    if (c.shape.length > MAX_RANK) return null;
    const out = output(backend, size(s), false); // the copy covers all of s
    const offset = b.reduce((acc, v, i) => acc + v * xs[i]!, 0);
    if (out.length > 0) n.copy(values(backend, x), offset, out, 0, c.shape, c.strides[0]!, c.strides[1]!);
    return backend.makeTensorInfo(s, 'float32', out);
  };
}

function padKernel(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    const { paddings, constantValue } = attrs as { paddings: Array<[number, number]>; constantValue: number };
    if (!isF32(backend, x) || paddings.some(([p, q]) => p < 0 || q < 0)) return null;
    const outShape = x.shape.map((d, i) => paddings[i]![0] + d + paddings[i]![1]);
    const out = output(backend, size(outShape), constantValue === 0); // the copy leaves the padding as filled
    if (constantValue !== 0) n.fill(out, constantValue);
    if (size(x.shape) > 0) {
      const os = stridesOf(outShape);
      const c = collapse(x.shape, stridesOf(x.shape), os);
      if (c.shape.length > MAX_RANK) return null;
      const offset = paddings.reduce((acc, [p], i) => acc + p * os[i]!, 0);
      n.copy(values(backend, x), 0, out, offset, c.shape, c.strides[0]!, c.strides[1]!);
    }
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

function transposeKernel(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    const { perm } = attrs as { perm: number[] };
    if (!isF32(backend, x)) return null;
    const xs = stridesOf(x.shape);
    const outShape = perm.map((p) => x.shape[p]!);
    const c = collapse(outShape, perm.map((p) => xs[p]!), stridesOf(outShape));
    if (c.shape.length > MAX_RANK) return null;
    const out = output(backend, size(outShape), false); // a permutation: every element
    if (out.length > 0) n.copy(values(backend, x), 0, out, 0, c.shape, c.strides[0]!, c.strides[1]!);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

function gatherKernel(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { x, indices } = inputs as { x: Info; indices: Info };
    const { axis, batchDims } = attrs as { axis: number; batchDims: number };
    if (!isF32(backend, x) || indices.dtype !== 'int32' || batchDims !== 0) return null;
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const idx = cpuValues(backend, indices)!;
    if (!(idx instanceof Int32Array)) return null;
    const axisLen = x.shape[ax]!;
    for (let i = 0; i < idx.length; i++) if (idx[i]! < 0 || idx[i]! >= axisLen) return null; // the cpu kernel reports it
    const outer = size(x.shape.slice(0, ax)), inner = size(x.shape.slice(ax + 1));
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    const out = output(backend, size(outShape), false); // every output row is copied
    if (out.length > 0) n.gather(values(backend, x), idx, out, outer, axisLen, inner);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

// ---- depthwise convolutions ----

/** [n, c, in×3, out×3, k×3, stride×3, padBefore×3, dilation×3], the addon's geometry. */
export type Geometry = number[];

/** A 2-D depthwise convolution (NHWC, multiplier 1) as the 3-D kernel with depth 1, or null. */
function geometry2d(info: tf.backend_util.Conv2DInfo): Geometry | null {
  if (info.dataFormat !== 'channelsLast' || info.outChannels !== info.inChannels) return null;
  return [
    info.batchSize, info.inChannels,
    1, info.inHeight, info.inWidth,
    1, info.outHeight, info.outWidth,
    1, info.filterHeight, info.filterWidth,
    1, info.strideHeight, info.strideWidth,
    0, info.padInfo.top, info.padInfo.left,
    1, info.dilationHeight, info.dilationWidth,
  ];
}

interface Conv2dAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape?: [number, number, number, number];
  filterShape?: [number, number, number, number];
}

function conv2dInfo(xShape: number[], filterShape: number[], a: Conv2dAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    true,
  );
}

function depthwise2dKernels(n: NativeAddon): Record<string, NativeKernel> {
  return {
    DepthwiseConv2dNative: ({ inputs, backend, attrs }) => {
      const { x, filter } = inputs as { x: Info; filter: Info };
      if (!isF32(backend, x, filter)) return null;
      const info = conv2dInfo(x.shape, filter.shape, attrs as unknown as Conv2dAttrs);
      const g = geometry2d(info);
      if (!g) return null;
      const out = output(backend, size(info.outShape), false); // stores every output (each row, column, channel), bias or 0 where no tap reaches
      n.dwconv3d(0, g, values(backend, x), values(backend, filter), null, out);
      return backend.makeTensorInfo(info.outShape, 'float32', out);
    },
    DepthwiseConv2dNativeBackpropInput: ({ inputs, backend, attrs }) => {
      const { dy, filter } = inputs as { dy: Info; filter: Info };
      const a = attrs as unknown as Conv2dAttrs;
      if (!isF32(backend, dy, filter)) return null;
      const info = conv2dInfo(a.inputShape!, filter.shape, a);
      const g = geometry2d(info);
      if (!g) return null;
      const out = output(backend, size(a.inputShape!), false); // the forward kernel on dy, or per input voxel the sum of its taps (stored, 0 if none)
      n.dwconv3d(1, g, values(backend, dy), values(backend, filter), out, null);
      return backend.makeTensorInfo(a.inputShape!, 'float32', out);
    },
    DepthwiseConv2dNativeBackpropFilter: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: Info; dy: Info };
      const a = attrs as unknown as Conv2dAttrs;
      if (!isF32(backend, x, dy)) return null;
      const info = conv2dInfo(x.shape, a.filterShape!, a);
      const g = geometry2d(info);
      if (!g) return null;
      const out = output(backend, size(a.filterShape!), false); // dw summed from partials, stored whole
      n.dwconv3d(2, g, values(backend, x), values(backend, dy), out, null);
      return backend.makeTensorInfo(a.filterShape!, 'float32', out);
    },
  };
}


function softmaxKernel(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { logits } = inputs as { logits: Info };
    const { dim } = attrs as { dim: number };
    const rank = logits.shape.length;
    if (!isF32(backend, logits) || rank === 0 || (dim !== -1 && dim !== rank - 1)) return null;
    const k = logits.shape[rank - 1]!;
    const out = output(backend, size(logits.shape), false); // every row
    if (out.length > 0) n.softmax(values(backend, logits), out, out.length / k, k);
    return backend.makeTensorInfo(logits.shape, 'float32', out);
  };
}

/**
 * Cast of integers or booleans to float32 into a Float32Array. The cpu kernel shares the input's
 * Int32Array / Uint8Array instead, and every later kernel on such a tensor (e.g. the loss's
 * one-hot and mask products) then falls back to the cpu's JavaScript loops.
 */
const castKernel: NativeKernel = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: Info };
  const { dtype } = attrs as { dtype: string };
  if (dtype !== 'float32' || (x.dtype !== 'int32' && x.dtype !== 'bool')) return null;
  const v = cpuValues(backend, x)!;
  if (!(v instanceof Int32Array || v instanceof Uint8Array)) return null;
  return backend.makeTensorInfo(x.shape, 'float32', Float32Array.from(v));
};

export function nativeKernels(n: NativeAddon): Map<string, NativeKernel> {
  const k = new Map<string, NativeKernel>();
  for (const [name, op] of Object.entries(BINARY)) k.set(name, binaryKernel(n, op));
  for (const [name, op] of Object.entries(UNARY)) k.set(name, unaryKernel(n, op));
  k.set('AddN', addNKernel(n));
  k.set('BatchMatMul', batchMatMul(n));
  k.set('_FusedMatMul', fusedMatMul(n));
  k.set('Sum', sumKernel(n));
  k.set('Slice', sliceKernel(n));
  k.set('PadV2', padKernel(n));
  k.set('Transpose', transposeKernel(n));
  k.set('GatherV2', gatherKernel(n));
  if (typeof n.softmax === 'function') k.set('Softmax', softmaxKernel(n)); // absent from an addon built before it
  k.set('Cast', castKernel);
  for (const [name, f] of Object.entries(depthwise2dKernels(n))) k.set(name, f);
  return k;
}

