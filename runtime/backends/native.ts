import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../io/package-root.js';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { ops, setOp, type Ops } from '../ops/index.js';
import { assertDepthwiseFilter, assertRank5, triple, validOut } from '../ops/spatial.js';
import { GROUP_NORM_STATS, groupNormPlan } from '../kernels/group-norm.js';
import { MATMUL_BIAS_ADD, MATMUL_BIAS_GELU } from '../kernels/pointwise.js';

/**
 * The `native` backend: TF.js's `cpu` backend (a `MathBackendCPU` instance under another name,
 * with every cpu kernel) whose hot kernels run in our C++ addon (native/, built by
 * `mnxc setup native` into `.mnxc/native/`). The addon works on the cpu backend's own
 * Float32Arrays, so nothing is copied in or out; a kernel pattern it does not handle (another
 * dtype, an unusual broadcast) falls back to the cpu kernel.
 *
 * While `native` is the active backend, the depthwise 3-D convolutions (plain and transposed)
 * and GELU run as single native kernels with their gradients (ops `depthwiseConv3d`,
 * `depthwiseConvTranspose3d`, `gelu`): no padded copies, depth slabs or zero-inserted inputs.
 * GroupNorm and the fused ops `geluPointwise` / `normPointwise` run their element-wise work as
 * native passes (statistics, normalisation, the gradient's sums and combination) around the
 * native matrix product, which adds the bias while the rows are in cache.
 */

const ROOT = packageRoot(import.meta.url);
export const NATIVE_HOME = join(ROOT, '.mnxc', 'native');
export const NATIVE_HOME_LABEL = '.mnxc/native';
export const NATIVE_ADDON = join(NATIVE_HOME, 'mnxc_native.node');
/** Written last by `mnxc setup native`. */
export const NATIVE_STAMP = join(NATIVE_HOME, 'setup.json');

export interface NativeStamp {
  /** Hash of native/ sources and build flags the addon was built from. */
  sourceHash: string;
  cpu: string;
  node: string;
  builtAt: string;
}

/** The addon's functions (native/src/addon.cc). */
export interface NativeAddon {
  info(): { threads: number; simd: string };
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, batchA: number, batchB: number, m: number, k: number, n: number, transA: boolean, transB: boolean, bias?: Float32Array | null): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: number[], sa: number[], sb: number[]): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  addN(inputs: Float32Array[], out: Float32Array): void;
  sum(x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number): void;
  copy(src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number, shape: number[], srcStrides: number[], dstStrides: number[]): void;
  fill(dst: Float32Array, value: number): void;
  gather(x: Float32Array, indices: Int32Array, out: Float32Array, outer: number, axisLen: number, inner: number): void;
  dwconv3d(mode: 0 | 1 | 2, geometry: number[], a: Float32Array, b: Float32Array, c: Float32Array | null, d: Float32Array | null): void;
  /** y = scale·GELU(x) (scale defaults to 1). */
  gelu(x: Float32Array, y: Float32Array, scale?: number): void;
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  groupNormStats(x: Float32Array, centred: Float32Array | null, mean: Float32Array, rstd: Float32Array, n: number, v: number, c: number, groups: number, eps: number): void;
  channelAffine(x: Float32Array, scale: Float32Array, shift: Float32Array, y: Float32Array, n: number, v: number, c: number): void;
  softmax(x: Float32Array, y: Float32Array, rows: number, k: number): void;
  /** out = epilogue(a·b + bias) for one [m, k]·[k, n] product: 1 exact GELU, 2 + addend [m, n]. Absent before it was added. */
  matmulEpilogue?(a: Float32Array, b: Float32Array, out: Float32Array, m: number, k: number, n: number, bias: Float32Array, epilogue: 1 | 2, addend: Float32Array | null): void;
  groupNormBackward(dy: Float32Array, centred: Float32Array, rstd: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null, n: number, v: number, c: number, groups: number): void;
}

export function readNativeStamp(): NativeStamp | null {
  try {
    return JSON.parse(readFileSync(NATIVE_STAMP, 'utf8')) as NativeStamp;
  } catch {
    return null;
  }
}

let addon: NativeAddon | null = null;
let loaded: Promise<string | null> | undefined;

/** The loaded addon, or null before a successful `loadNativeBackend()`. */
export function nativeAddon(): NativeAddon | null {
  return addon;
}

/**
 * Loads the addon once and registers the `native` backend. Returns null when it did, else the
 * reason it did not (never throws, prints nothing: `mnxc doctor` shows the reason).
 */
export function loadNativeBackend(): Promise<string | null> {
  loaded ??= Promise.resolve().then(() => {
    const why = loadAddon();
    if (why) return why;
    registerNativeBackend(addon!);
    return null;
  });
  return loaded;
}

function loadAddon(): string | null {
  if (!existsSync(NATIVE_ADDON)) {
    return `not built: run \`mnxc setup native\` (needs a C++ compiler, make and Python 3; \`npm ci\` tries it too)`;
  }
  if (!readNativeStamp()) return `the build in ${NATIVE_HOME_LABEL} is incomplete (run \`mnxc setup native\` again)`;
  try {
    addon = createRequire(import.meta.url)(NATIVE_ADDON) as NativeAddon;
    addon.info();
    return null;
  } catch (e) {
    addon = null;
    return `${NATIVE_HOME_LABEL}/mnxc_native.node failed to load: ${((e as Error).message ?? String(e)).split('\n')[0]}`;
  }
}

/** One line saying what the loaded addon is, for `mnxc doctor`. */
export function describeNativeBackend(): string {
  if (!addon) return 'not loaded';
  const { threads, simd } = addon.info();
  return `C++ kernels (${simd}, ${threads} thread${threads === 1 ? '' : 's'}) over the cpu backend, from ${NATIVE_HOME_LABEL}`;
}

// ---------------------------------------------------------------------------------------------
// Kernels.

type Backend = MathBackendCPU;
type Info = tf.TensorInfo;
interface Args {
  inputs: Record<string, Info>;
  backend: Backend;
  attrs?: Record<string, unknown>;
}
/** A native kernel: its result, or null to let the cpu kernel handle this call. */
type NativeKernel = (args: Args) => Info | Info[] | null;

/** A tensor's Float32Array (the cpu backend's own, not a copy); a float32 tensor held in another array is converted. */
const values = (b: Backend, t: Info): Float32Array => {
  const v = b.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
};
const size = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);
/**
 * Whether every input is float32 and stored as a Float32Array (the cpu backend keeps some
 * float32 tensors in other arrays, e.g. a Cast's output; those go to the cpu kernel).
 */
const isF32 = (b: Backend, ...ts: Info[]) => ts.every((t) => t.dtype === 'float32' && b.data.get(t.dataId)?.values instanceof Float32Array);
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
    const out = new Float32Array(size(outShape));
    if (out.length > 0) n.binary(op, values(backend, a), values(backend, b), out, c.shape, c.strides[0]!, c.strides[1]!);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

function addNKernel(n: NativeAddon): NativeKernel {
  return ({ inputs, backend }) => {
    const xs = Object.values(inputs);
    if (xs.length === 0 || !isF32(backend, ...xs) || xs.some((t) => !tf.util.arraysEqual(t.shape, xs[0]!.shape))) return null;
    const out = new Float32Array(size(xs[0]!.shape));
    n.addN(xs.map((t) => values(backend, t)), out);
    return backend.makeTensorInfo(xs[0]!.shape, 'float32', out);
  };
}

function unaryKernel(n: NativeAddon, op: number): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: Info };
    if (!isF32(backend, x)) return null;
    const out = new Float32Array(size(x.shape));
    n.unary(op, values(backend, x), out, Number((attrs as { alpha?: number } | undefined)?.alpha ?? 0));
    return backend.makeTensorInfo(x.shape, 'float32', out);
  };
}

/** op(a)·op(b) (+ bias on every row) as the native product, or null for a pattern it does not handle. */
function nativeMatMul(n: NativeAddon, backend: Backend, a: Info, b: Info, transposeA: boolean, transposeB: boolean, bias?: Float32Array): Info | null {
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
  const out = new Float32Array(batch * m * nn);
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
    const out = new Float32Array(outer * inner);
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
    const out = new Float32Array(size(s));
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
    const out = new Float32Array(size(outShape));
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
    const out = new Float32Array(size(outShape));
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
    const idx = backend.data.get(indices.dataId).values;
    if (!(idx instanceof Int32Array)) return null;
    const axisLen = x.shape[ax]!;
    for (let i = 0; i < idx.length; i++) if (idx[i]! < 0 || idx[i]! >= axisLen) return null; // the cpu kernel reports it
    const outer = size(x.shape.slice(0, ax)), inner = size(x.shape.slice(ax + 1));
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    const out = new Float32Array(size(outShape));
    if (out.length > 0) n.gather(values(backend, x), idx, out, outer, axisLen, inner);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

// ---- depthwise convolutions ----

/** [n, c, in×3, out×3, k×3, stride×3, padBefore×3, dilation×3], the addon's geometry. */
type Geometry = number[];

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
      const out = new Float32Array(size(info.outShape));
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
      const out = new Float32Array(size(a.inputShape!));
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
      const out = new Float32Array(size(a.filterShape!));
      n.dwconv3d(2, g, values(backend, x), values(backend, dy), out, null);
      return backend.makeTensorInfo(a.filterShape!, 'float32', out);
    },
  };
}

/** Kernels of the 3-D ops (registered for `native` only; attrs.geometry is the addon's). */
const DW3D = 'MnxcDepthwiseConv3d';
const DW3D_INPUT = 'MnxcDepthwiseConv3dBackpropInput';
const DW3D_FILTER = 'MnxcDepthwiseConv3dBackpropFilter';
const GELU = 'MnxcGelu';
const GELU_GRAD = 'MnxcGeluGrad';
const MATMUL_BIAS = 'MnxcMatMulBias';
const GN_STATS = GROUP_NORM_STATS;
const CHANNEL_AFFINE = 'MnxcChannelAffine';
const GN_GRAD = 'MnxcGroupNormGrad';

/** attrs of the GroupNorm kernels: x is [n, v, c] (any shape of that size), groups of c/groups channels. */
interface GnAttrs {
  n: number;
  v: number;
  c: number;
  groups: number;
  eps?: number;
}

function ownKernels(n: NativeAddon): Record<string, (args: Args) => Info | Info[]> {
  const geom = (attrs: Args['attrs']) => (attrs as { geometry: Geometry }).geometry;
  const shapes = (g: Geometry) => ({ x: [g[0]!, g[2]!, g[3]!, g[4]!, g[1]!], y: [g[0]!, g[5]!, g[6]!, g[7]!, g[1]!] });
  return {
    // inputs x, filter[, bias] → y
    [DW3D]: ({ inputs, backend, attrs }) => {
      const g = geom(attrs);
      const out = new Float32Array(size(shapes(g).y));
      n.dwconv3d(0, g, values(backend, inputs.x!), values(backend, inputs.filter!), inputs.bias ? values(backend, inputs.bias) : null, out);
      return backend.makeTensorInfo(shapes(g).y, 'float32', out);
    },
    // inputs dy, filter → dx
    [DW3D_INPUT]: ({ inputs, backend, attrs }) => {
      const g = geom(attrs);
      const out = new Float32Array(size(shapes(g).x));
      n.dwconv3d(1, g, values(backend, inputs.dy!), values(backend, inputs.filter!), out, null);
      return backend.makeTensorInfo(shapes(g).x, 'float32', out);
    },
    // inputs x, dy → [dfilter [kD, kH, kW, C, 1], dbias [C]]
    [DW3D_FILTER]: ({ inputs, backend, attrs }) => {
      const g = geom(attrs);
      const dw = new Float32Array(g[8]! * g[9]! * g[10]! * g[1]!);
      const db = new Float32Array(g[1]!);
      n.dwconv3d(2, g, values(backend, inputs.x!), values(backend, inputs.dy!), dw, db);
      return [backend.makeTensorInfo([g[8]!, g[9]!, g[10]!, g[1]!, 1], 'float32', dw), backend.makeTensorInfo([g[1]!], 'float32', db)];
    },
    // attrs.scale (default 1): scale·GELU(x); 2 gives x·(1 + erf(x/√2)).
    [GELU]: ({ inputs, backend, attrs }) => {
      const x = inputs.x!;
      const out = new Float32Array(size(x.shape));
      n.gelu(values(backend, x), out, Number((attrs as { scale?: number } | undefined)?.scale ?? 1));
      return backend.makeTensorInfo(x.shape, 'float32', out);
    },
    // inputs a, b, bias [N] → op(a)·op(b) + bias (attrs transposeA, transposeB)
    [MATMUL_BIAS]: ({ inputs, backend, attrs }) => {
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const r = nativeMatMul(n, backend, inputs.a!, inputs.b!, transposeA, transposeB, values(backend, inputs.bias!));
      if (!r) throw new Error(`${MATMUL_BIAS}: shapes [${inputs.a!.shape}] × [${inputs.b!.shape}] + [${inputs.bias!.shape}] do not fit`);
      return r;
    },
    // input x → [centred [n, v, c], mean [n, 1, c], rstd [n, 1, c]] (centred: false → [mean, rstd])
    [GN_STATS]: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as GnAttrs & { centred: boolean };
      const centred = a.centred ? new Float32Array(a.n * a.v * a.c) : null;
      const mean = new Float32Array(a.n * a.c), rstd = new Float32Array(a.n * a.c);
      n.groupNormStats(values(backend, inputs.x!), centred, mean, rstd, a.n, a.v, a.c, a.groups, a.eps ?? 1e-5);
      const stats = [backend.makeTensorInfo([a.n, 1, a.c], 'float32', mean), backend.makeTensorInfo([a.n, 1, a.c], 'float32', rstd)];
      return centred ? [backend.makeTensorInfo([a.n, a.v, a.c], 'float32', centred), ...stats] : stats;
    },
    // inputs x [n, v, c], scale [n, 1, c] or [c], shift [n, 1, c] or [c] → x·scale + shift
    [CHANNEL_AFFINE]: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as GnAttrs;
      const perSample = (t: Info) => {
        const v = values(backend, t);
        if (v.length === a.n * a.c) return v;
        if (v.length !== a.c) throw new Error(`${CHANNEL_AFFINE}: [${t.shape}] is neither [${a.c}] nor [${a.n}, 1, ${a.c}]`);
        const out = new Float32Array(a.n * a.c);
        for (let i = 0; i < a.n; i++) out.set(v, i * a.c);
        return out;
      };
      const y = new Float32Array(a.n * a.v * a.c);
      n.channelAffine(values(backend, inputs.x!), perSample(inputs.scale!), perSample(inputs.shift!), y, a.n, a.v, a.c);
      return backend.makeTensorInfo([a.n, a.v, a.c], 'float32', y);
    },
    // inputs dy, centred [n, v, c], rstd [n, 1, c], gamma [c] → [dx [n, v, c], dgamma [c], dbeta [c]]
    [GN_GRAD]: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as GnAttrs;
      const dx = new Float32Array(a.n * a.v * a.c), dg = new Float32Array(a.c), db = new Float32Array(a.c);
      const f = (t: string) => values(backend, inputs[t]!);
      n.groupNormBackward(f('dy'), f('centred'), f('rstd'), f('gamma'), dx, dg, db, a.n, a.v, a.c, a.groups);
      return [
        backend.makeTensorInfo([a.n, a.v, a.c], 'float32', dx),
        backend.makeTensorInfo([a.c], 'float32', dg),
        backend.makeTensorInfo([a.c], 'float32', db),
      ];
    },
    [GELU_GRAD]: ({ inputs, backend }) => {
      const x = inputs.x!;
      const out = new Float32Array(size(x.shape));
      n.geluGrad(values(backend, x), values(backend, inputs.dy!), out);
      return backend.makeTensorInfo(x.shape, 'float32', out);
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
    const out = new Float32Array(size(logits.shape));
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
  const v = backend.data.get(x.dataId).values;
  if (!(v instanceof Int32Array || v instanceof Uint8Array)) return null;
  return backend.makeTensorInfo(x.shape, 'float32', Float32Array.from(v));
};

function nativeKernels(n: NativeAddon): Map<string, NativeKernel> {
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

function registerNativeBackend(n: NativeAddon): void {
  if (tf.findBackendFactory('native')) return;
  // Priority 0: never the default by accident; `useBackend('native')` (or auto) chooses it.
  tf.registerBackend('native', () => new MathBackendCPU(), 0);
  const fast = nativeKernels(n);
  for (const config of tf.getKernelsForBackend('cpu')) {
    const f = fast.get(config.kernelName);
    const cpuFunc = config.kernelFunc as unknown as (args: Args) => Info | Info[];
    tf.registerKernel({
      ...config,
      backendName: 'native',
      kernelFunc: (f ? (args: Args) => f(args) ?? cpuFunc(args) : cpuFunc) as unknown as tf.KernelFunc,
    });
  }
  for (const [name, f] of Object.entries(ownKernels(n))) {
    tf.registerKernel({ kernelName: name, backendName: 'native', kernelFunc: f as unknown as tf.KernelFunc });
  }
  // The products with an epilogue (runtime/kernels/pointwise.ts): with them the model's
  // inference plan runs here too. An addon built before they were added has no entry point.
  const epilogue = n.matmulEpilogue?.bind(n);
  if (epilogue) {
    const product = (kind: 1 | 2) => ({ inputs, backend }: Args) => {
      const { a, b, bias, addend } = inputs as { a: Info; b: Info; bias: Info; addend?: Info };
      const [m, k] = a.shape as [number, number];
      const nn = b.shape[1]!;
      if (a.shape.length !== 2 || b.shape.length !== 2 || b.shape[0] !== k || bias.shape.length !== 1 || bias.shape[0] !== nn) {
        throw new Error(`matmul epilogue: shapes [${a.shape}] × [${b.shape}] + [${bias.shape}] do not fit`);
      }
      if (!isF32(backend, a, b, bias, ...(addend ? [addend] : []))) throw new Error('matmul epilogue: float32 inputs only');
      const out = new Float32Array(m * nn);
      epilogue(values(backend, a), values(backend, b), out, m, k, nn, values(backend, bias), kind, addend ? values(backend, addend) : null);
      return backend.makeTensorInfo([m, nn], 'float32', out);
    };
    tf.registerKernel({ kernelName: MATMUL_BIAS_GELU, backendName: 'native', kernelFunc: product(1) as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: MATMUL_BIAS_ADD, backendName: 'native', kernelFunc: product(2) as unknown as tf.KernelFunc });
  }
}

// ---------------------------------------------------------------------------------------------
// Ops: the 3-D depthwise convolutions and GELU as one native kernel each way.

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
 * GroupNorm (runtime/ops/group-norm.ts) with native passes: statistics (two passes over x,
 * writing x − μ), the normalisation (one), and the gradient (the per-channel sums, then the
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

const NATIVE_OPS = new Set<unknown>();

type NativeOpName = 'depthwiseConv3d' | 'depthwiseConvTranspose3d' | 'gelu' | 'groupNorm' | 'geluPointwise' | 'normPointwise' | 'normGeluPointwise';

/** Wraps `impl` to run while `native` is the active backend, else the op it replaces. */
function whenNative<K extends NativeOpName>(name: K, impl: Ops[K]): void {
  if (NATIVE_OPS.has(ops[name])) return;
  const fallback = ops[name];
  const wrapped = ((...a: unknown[]) =>
    tf.getBackend() === 'native' ? (impl as (...b: unknown[]) => tf.Tensor)(...a) : (fallback as (...b: unknown[]) => tf.Tensor)(...a)) as Ops[K];
  NATIVE_OPS.add(wrapped);
  setOp(name, wrapped);
}

/** Puts the native depthwise convolutions, GELU, GroupNorm and the fused pointwise ops into `ops` (idempotent; other backends keep the previous ops). */
export function installNativeOps(): void {
  whenNative('depthwiseConv3d', nativeDepthwiseConv3d);
  whenNative('depthwiseConvTranspose3d', nativeDepthwiseConvTranspose3d);
  whenNative('gelu', nativeGelu);
  // An addon built from older sources (before `mnxc setup native` reran) lacks these kernels,
  // and its matmul ignores the bias: keep the JS ops then.
  if (typeof addon?.groupNormStats !== 'function') return;
  whenNative('groupNorm', nativeGroupNorm);
  whenNative('geluPointwise', nativeGeluPointwise);
  whenNative('normPointwise', nativeNormPointwise);
  // The block's tail as the two native fused ops (native GroupNorm statistics and GELU passes).
  whenNative('normGeluPointwise', (x, groups, eps, gamma, beta, w2, b2, w3, b3) => tf.tidy(() => nativeGeluPointwise(nativeNormPointwise(x, groups, eps, gamma, beta, w2, b2), w3, b3)));
}
