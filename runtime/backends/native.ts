import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { ops, setOp, type Ops } from '../ops/index.js';
import { assertRank5, triple } from '../ops/spatial.js';

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
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
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
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, batchA: number, batchB: number, m: number, k: number, n: number, transA: boolean, transB: boolean): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: number[], sa: number[], sb: number[]): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  addN(inputs: Float32Array[], out: Float32Array): void;
  sum(x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number): void;
  copy(src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number, shape: number[], srcStrides: number[], dstStrides: number[]): void;
  fill(dst: Float32Array, value: number): void;
  gather(x: Float32Array, indices: Int32Array, out: Float32Array, outer: number, axisLen: number, inner: number): void;
  dwconv3d(mode: 0 | 1 | 2, geometry: number[], a: Float32Array, b: Float32Array, c: Float32Array | null, d: Float32Array | null): void;
  gelu(x: Float32Array, y: Float32Array): void;
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
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

function batchMatMul(n: NativeAddon): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: Info; b: Info };
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (!isF32(backend, a, b) || a.shape.length < 2 || b.shape.length < 2) return null;
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
    const out = new Float32Array(batch * m * nn);
    n.matmul(values(backend, a), values(backend, b), out, batch, batchA, batchB, m, k, nn, transposeA, transposeB);
    return backend.makeTensorInfo([...outer, m, nn], 'float32', out);
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
    [GELU]: ({ inputs, backend }) => {
      const x = inputs.x!;
      const out = new Float32Array(size(x.shape));
      n.gelu(values(backend, x), out);
      return backend.makeTensorInfo(x.shape, 'float32', out);
    },
    [GELU_GRAD]: ({ inputs, backend }) => {
      const x = inputs.x!;
      const out = new Float32Array(size(x.shape));
      n.geluGrad(values(backend, x), values(backend, inputs.dy!), out);
      return backend.makeTensorInfo(x.shape, 'float32', out);
    },
  };
}

function nativeKernels(n: NativeAddon): Map<string, NativeKernel> {
  const k = new Map<string, NativeKernel>();
  for (const [name, op] of Object.entries(BINARY)) k.set(name, binaryKernel(n, op));
  for (const [name, op] of Object.entries(UNARY)) k.set(name, unaryKernel(n, op));
  k.set('AddN', addNKernel(n));
  k.set('BatchMatMul', batchMatMul(n));
  k.set('Sum', sumKernel(n));
  k.set('Slice', sliceKernel(n));
  k.set('PadV2', padKernel(n));
  k.set('Transpose', transposeKernel(n));
  k.set('GatherV2', gatherKernel(n));
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
}

// ---------------------------------------------------------------------------------------------
// Ops: the 3-D depthwise convolutions and GELU as one native kernel each way.

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];

/** Geometry of a PyTorch-style depthwise conv (`padding` zeros both sides) from x [N, D, H, W, C] and its kernel. */
function convGeometry(xShape: number[], k: number[], s: number[], p: number[], what: string): Geometry {
  const [nb, d, h, w, c] = xShape as [number, number, number, number, number];
  const out = [d, h, w].map((len, i) => Math.floor((len + 2 * p[i]! - k[i]!) / s[i]!) + 1);
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

function checkFilter(x: tf.Tensor, filter: tf.Tensor, what: string): void {
  if (filter.rank !== 5 || filter.shape[3] !== x.shape[4] || filter.shape[4] !== 1) {
    throw new Error(`${what}: filter [${filter.shape.join(', ')}] does not fit input channels ${x.shape[4]} (expected [kD, kH, kW, ${x.shape[4]}, 1])`);
  }
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
  checkFilter(x, filter, 'depthwiseConv3d');
  const g = convGeometry(x.shape, filter.shape.slice(0, 3), triple(stride, 'depthwiseConv3d stride'), triple(padding, 'depthwiseConv3d padding'), 'depthwiseConv3d');
  const f32 = (t: tf.Tensor) => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));
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
  checkFilter(x, filter, 'depthwiseConvTranspose3d');
  const [nb, d, h, w, c] = x.shape;
  const big = [d, h, w].map((len, i) => (len - 1) * s[i]! - 2 * p[i]! + k[i]!);
  if (big.some((v) => v < 1)) throw new Error(`depthwiseConvTranspose3d: input [${x.shape.join(', ')}] gives an empty output`);
  const g = convGeometry([nb, ...big, c], k, s, p, 'depthwiseConvTranspose3d');
  const f32 = (t: tf.Tensor) => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));
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

const NATIVE_OPS = new Set<unknown>();

/** Wraps `impl` to run while `native` is the active backend, else the op it replaces. */
function whenNative<K extends 'depthwiseConv3d' | 'depthwiseConvTranspose3d' | 'gelu'>(name: K, impl: Ops[K]): void {
  if (NATIVE_OPS.has(ops[name])) return;
  const fallback = ops[name];
  const wrapped = ((...a: unknown[]) =>
    tf.getBackend() === 'native' ? (impl as (...b: unknown[]) => tf.Tensor)(...a) : (fallback as (...b: unknown[]) => tf.Tensor)(...a)) as Ops[K];
  NATIVE_OPS.add(wrapped);
  setOp(name, wrapped);
}

/** Puts the native depthwise convolutions and GELU into `ops` (idempotent; other backends keep the previous ops). */
export function installNativeOps(): void {
  whenNative('depthwiseConv3d', nativeDepthwiseConv3d);
  whenNative('depthwiseConvTranspose3d', nativeDepthwiseConvTranspose3d);
  whenNative('gelu', nativeGelu);
}
