import * as tf from '@tensorflow/tfjs-core';

/**
 * TF.js's GPU backends (4.22) get three kernels wrong on rank-5 tensors, which every 3-D network
 * has ([N, D, H, W, C]):
 *
 *   PadV2         webgl: the shader does not compile; webgpu: wrong values
 *   StridedSlice  webgl: the shader does not compile; webgpu: wrong values
 *   Reverse       webgl: "Reverse of rank-5 tensor is not yet supported" (a transposed
 *                 convolution's flipped filter)
 *   Add, Mul, …   webgpu: wrong values when a rank-5 operand meets one of lower rank
 *                 ([N, D, H, W, C] + bias [C]); right when both have rank 5
 *   Transpose     webgl, webgpu: refused above rank 6 (the window partitions of Swin
 *                 transformers permute rank-8 tensors)
 *
 * Each is replaced, for those backends only, by the same kernel on a lower-rank view of the same
 * buffer (a reshape: no copy, no arithmetic, so the values are exact):
 *
 *   PadV2         an axis without padding folds into the axis outside it (its padding scales by
 *                 the folded size); unpadded size-1 axes drop: [1, D, H, W, C] padded on D, H, W
 *                 is [D, H, W·C]
 *   StridedSlice  one rank-3 strided slice [outer, axis, inner] per axis that is cut or strided
 *   Reverse       neighbouring axes that are both reversed, or both kept, fold into one
 *   binary ops    the lower-rank operand gets leading axes of size 1 (as broadcasting reads it)
 *   Transpose     size-1 axes drop; input axes that stay neighbours, in order, fold into one
 *
 * Anything else (other ranks, masks, negative strides) goes to TF.js's own kernel.
 */

type Info = tf.TensorInfo;
type Backend = tf.KernelBackend;
type Run = (inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => Info;

/** Runs another kernel of the same backend on TensorInfos (kernels may call kernels, not ops). */
function kernel(name: string, backendName: string, backend: Backend): Run {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`no ${name} kernel on ${backendName}`);
  return (inputs, attrs) => k.kernelFunc({ inputs, attrs, backend }) as Info;
}

/** `f` on `x` reshaped to `shape`, its result reshaped to `outShape`; the intermediates are freed. */
function throughView(backendName: string, backend: Backend, x: Info, shape: number[], outShape: number[], f: (v: Info) => Info): Info {
  const reshape = kernel('Reshape', backendName, backend);
  const view = reshape({ x }, { shape });
  const y = f(view);
  backend.disposeData(view.dataId);
  const out = reshape({ x: y }, { shape: outShape });
  backend.disposeData(y.dataId);
  return out;
}

/** Folded axes of a padding: sizes and per-axis [before, after]. */
export function foldPadding(shape: readonly number[], paddings: readonly (readonly [number, number])[]): { shape: number[]; paddings: [number, number][] } {
  const sizes: number[] = [];
  const pads: [number, number][] = [];
  shape.forEach((n, i) => {
    const [b, a] = paddings[i]!;
    const last = sizes.length - 1;
    if (b === 0 && a === 0 && last >= 0) {
      sizes[last] = sizes[last]! * n;
      pads[last] = [pads[last]![0] * n, pads[last]![1] * n];
    } else {
      sizes.push(n);
      pads.push([b, a]);
    }
  });
  // An unpadded axis of size 1 holds nothing to lay out.
  const keep = sizes.map((n, i) => !(n === 1 && pads[i]![0] === 0 && pads[i]![1] === 0));
  if (keep.every((k) => !k)) return { shape: [sizes.reduce((a, b) => a * b, 1)], paddings: [[0, 0]] };
  return { shape: sizes.filter((_, i) => keep[i]), paddings: pads.filter((_, i) => keep[i]) };
}

/** Folded axes of a reversal: neighbouring axes with the same answer to "reversed?" merge. */
export function foldReverse(shape: readonly number[], dims: readonly number[]): { shape: number[]; dims: number[] } {
  const sizes: number[] = [];
  const rev: boolean[] = [];
  shape.forEach((n, i) => {
    const r = dims.includes(i) || dims.includes(i - shape.length);
    if (n === 1) return;
    if (rev.length > 0 && rev[rev.length - 1] === r) sizes[sizes.length - 1]! *= n;
    else {
      sizes.push(n);
      rev.push(r);
    }
  });
  if (sizes.length === 0) return { shape: [1], dims: [] };
  return { shape: sizes, dims: rev.flatMap((r, i) => (r ? [i] : [])) };
}

/** Folded axes of a transpose: the input shape and the permutation of the folded axes. */
export function foldTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = shape.map((n, i) => (n === 1 ? -1 : i)).filter((i) => i >= 0);
  const renumber = new Map(kept.map((axis, i) => [axis, i]));
  const p = perm.filter((a) => shape[a] !== 1).map((a) => renumber.get(a)!);
  const sizes = kept.map((a) => shape[a]!);
  if (p.length === 0) return { shape: [1], perm: [0] };
  // Runs of the output's axes that are consecutive input axes, in output order.
  const runs: number[][] = [];
  for (const a of p) {
    const last = runs[runs.length - 1];
    if (last && a === last[last.length - 1]! + 1) last.push(a);
    else runs.push([a]);
  }
  const byInput = [...runs].sort((x, y) => x[0]! - y[0]!);
  return {
    shape: byInput.map((r) => r.reduce((acc, a) => acc * sizes[a]!, 1)),
    perm: runs.map((r) => byInput.indexOf(r)),
  };
}

const MAX_RANK = 4;

function wrapPad(backendName: string): tf.KernelConfig {
  const original = tf.getKernel('PadV2', backendName)!;
  return {
    kernelName: 'PadV2',
    backendName,
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      const attrs = args.attrs as unknown as { paddings: [number, number][]; constantValue: number };
      if (x.shape.length <= MAX_RANK) return original.kernelFunc(args);
      const folded = foldPadding(x.shape, attrs.paddings);
      if (folded.shape.length > MAX_RANK) return original.kernelFunc(args);
      const outShape = x.shape.map((n, i) => n + attrs.paddings[i]![0] + attrs.paddings[i]![1]);
      const run = (v: Info) => original.kernelFunc({ ...args, inputs: { x: v }, attrs: { ...args.attrs, paddings: folded.paddings } as unknown as tf.NamedAttrMap }) as Info;
      return throughView(backendName, args.backend as Backend, x, folded.shape, outShape, run);
    },
  };
}

function wrapStridedSlice(backendName: string): tf.KernelConfig {
  const original = tf.getKernel('StridedSlice', backendName)!;
  return {
    kernelName: 'StridedSlice',
    backendName,
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      const a = args.attrs as unknown as { begin: number[]; end: number[]; strides: number[]; beginMask: number; endMask: number; ellipsisMask: number; newAxisMask: number; shrinkAxisMask: number };
      const rank = x.shape.length;
      const simple =
        rank > MAX_RANK &&
        !a.beginMask && !a.endMask && !a.ellipsisMask && !a.newAxisMask && !a.shrinkAxisMask &&
        a.begin.length === rank && a.end.length === rank && a.strides.length === rank &&
        a.strides.every((s) => s > 0) && a.begin.every((b, i) => b >= 0 && b <= x.shape[i]!) && a.end.every((e, i) => e >= 0);
      if (!simple) return original.kernelFunc(args);
      let cur: Info = x;
      for (let axis = 0; axis < rank; axis++) {
        const n = cur.shape[axis]!;
        const b = a.begin[axis]!;
        const e = Math.min(a.end[axis]!, n);
        const s = a.strides[axis]!;
        if (b === 0 && e === n && s === 1) continue;
        const outer = cur.shape.slice(0, axis).reduce((p, q) => p * q, 1);
        const inner = cur.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
        const count = Math.max(0, Math.ceil((e - b) / s));
        const outShape = [...cur.shape];
        outShape[axis] = count;
        const run = (v: Info) =>
          original.kernelFunc({ ...args, inputs: { x: v }, attrs: { begin: [0, b, 0], end: [outer, e, inner], strides: [1, s, 1], beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 } }) as Info;
        const next = throughView(backendName, args.backend as Backend, cur, [outer, n, inner], outShape, run);
        if (cur !== x) (args.backend as Backend).disposeData(cur.dataId);
        cur = next;
      }
      if (cur === x) return kernel('Identity', backendName, args.backend as Backend)({ x }, {});
      return cur;
    },
  };
}

function wrapReverse(backendName: string): tf.KernelConfig {
  const original = tf.getKernel('Reverse', backendName)!;
  return {
    kernelName: 'Reverse',
    backendName,
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      const dims = (args.attrs as unknown as { dims: number | number[] }).dims;
      if (x.shape.length <= MAX_RANK) return original.kernelFunc(args);
      const folded = foldReverse(x.shape, typeof dims === 'number' ? [dims] : dims);
      if (folded.shape.length > MAX_RANK) return original.kernelFunc(args);
      const run = (v: Info) => original.kernelFunc({ ...args, inputs: { x: v }, attrs: { dims: folded.dims } }) as Info;
      return throughView(backendName, args.backend as Backend, x, folded.shape, [...x.shape], run);
    },
  };
}

function wrapTranspose(backendName: string): tf.KernelConfig {
  const original = tf.getKernel('Transpose', backendName)!;
  return {
    kernelName: 'Transpose',
    backendName,
    kernelFunc: (args) => {
      const x = args.inputs.x as Info;
      const perm = (args.attrs as unknown as { perm: number[] }).perm;
      if (x.shape.length <= MAX_RANK) return original.kernelFunc(args);
      const folded = foldTranspose(x.shape, perm);
      if (folded.shape.length >= x.shape.length) return original.kernelFunc(args);
      const outShape = perm.map((a) => x.shape[a]!);
      // Only size-1 axes move: the layout is unchanged (and webgl cannot compile a rank-1 transpose).
      if (folded.perm.every((a, i) => a === i)) return kernel('Reshape', backendName, args.backend as Backend)({ x }, { shape: outShape });
      const run = (v: Info) => original.kernelFunc({ ...args, inputs: { x: v }, attrs: { perm: folded.perm } }) as Info;
      return throughView(backendName, args.backend as Backend, x, folded.shape, outShape, run);
    },
  };
}

/** Element-wise kernels of two broadcast inputs `a`, `b`. */
export const BINARY_KERNELS = ['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference', 'Pow', 'FloorDiv', 'Mod', 'Atan2', 'Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr'];

function wrapBinary(kernelName: string, backendName: string): tf.KernelConfig | null {
  const original = tf.getKernel(kernelName, backendName);
  if (!original) return null;
  return {
    kernelName,
    backendName,
    kernelFunc: (args) => {
      const a = args.inputs.a as Info;
      const b = args.inputs.b as Info;
      const rank = Math.max(a.shape.length, b.shape.length);
      if (rank <= MAX_RANK || a.shape.length === b.shape.length) return original.kernelFunc(args);
      const backend = args.backend as Backend;
      const reshape = kernel('Reshape', backendName, backend);
      const lift = (t: Info) => (t.shape.length === rank ? t : reshape({ x: t }, { shape: [...new Array<number>(rank - t.shape.length).fill(1), ...t.shape] }));
      const [la, lb] = [lift(a), lift(b)];
      const y = original.kernelFunc({ ...args, inputs: { a: la, b: lb } }) as Info;
      for (const [l, t] of [[la, a], [lb, b]] as const) if (l !== t) backend.disposeData(l.dataId);
      return y;
    },
  };
}

/** The replacement kernels for `backendName` (binary: also the element-wise ones), wrapping its current kernels. */
export function foldingKernels(backendName: string, options: { binary: boolean }): tf.KernelConfig[] {
  const configs = [wrapPad(backendName), wrapStridedSlice(backendName), wrapReverse(backendName), wrapTranspose(backendName)];
  if (options.binary) {
    for (const k of BINARY_KERNELS) {
      const c = wrapBinary(k, backendName);
      if (c) configs.push(c);
    }
  }
  return configs;
}

const installed = new Set<string>();

/**
 * Replaces, on `backendName` (once), the kernels listed above that it gets wrong: PadV2,
 * StridedSlice, Reverse and Transpose on both; the binary element-wise kernels on webgpu.
 */
export function installRank5Kernels(backendName: 'webgl' | 'webgpu'): void {
  if (installed.has(backendName)) return;
  for (const c of foldingKernels(backendName, { binary: backendName === 'webgpu' })) {
    tf.unregisterKernel(c.kernelName, backendName);
    tf.registerKernel(c);
  }
  installed.add(backendName);
}
