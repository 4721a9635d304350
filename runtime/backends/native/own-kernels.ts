import { GROUP_NORM_STATS } from '../../kernels/group-norm.js';
import { MATMUL_CENTRED } from '../../kernels/pointwise.js';
import { STRIDED_GATHER_3D, STRIDED_SCATTER_3D } from '../../ops/spatial.js';
import type { NativeAddon } from './addon.js';
import { output, size, values, type Args, type Info } from './cpu-data.js';
import { nativeMatMul, type Geometry } from './cpu-kernels.js';

/**
 * mnxc's own kernels, registered for the `native` backend only: the 3-D depthwise convolution
 * and its two gradients, GELU and its gradient, the product with a bias, and GroupNorm's
 * statistics, affine step and gradient. The ops in ops.ts run them.
 */

/** Kernels of the 3-D ops (registered for `native` only; attrs.geometry is the addon's). */
export const DW3D = 'MnxcDepthwiseConv3d';
export const DW3D_INPUT = 'MnxcDepthwiseConv3dBackpropInput';
export const DW3D_FILTER = 'MnxcDepthwiseConv3dBackpropFilter';
export const GELU = 'MnxcGelu';
export const GELU_GRAD = 'MnxcGeluGrad';
export const MATMUL_BIAS = 'MnxcMatMulBias';
export const GN_STATS = GROUP_NORM_STATS;
export const CHANNEL_AFFINE = 'MnxcChannelAffine';
export const GN_GRAD = 'MnxcGroupNormGrad';
/** epilogue(prologue(op(a))·op(b) + bias): registered only when the addon has `matmulFused`. */
export const MATMUL_FUSED = 'MnxcMatMulFused';
/** MATMUL_FUSED's prologue and epilogue codes (native/src/kernels.h). */
export const PROLOGUE_GELU2 = 1;
export const PROLOGUE_CENTRE = 2;
export const EPILOGUE_GELU_GRAD = 3;

/** attrs of the GroupNorm kernels: x is [n, v, c] (any shape of that size), groups of c/groups channels. */
interface GnAttrs {
  n: number;
  v: number;
  c: number;
  groups: number;
  eps?: number;
}

export function ownKernels(n: NativeAddon): Record<string, (args: Args) => Info | Info[]> {
  const geom = (attrs: Args['attrs']) => (attrs as { geometry: Geometry }).geometry;
  const shapes = (g: Geometry) => ({ x: [g[0]!, g[2]!, g[3]!, g[4]!, g[1]!], y: [g[0]!, g[5]!, g[6]!, g[7]!, g[1]!] });
  const fused = n.matmulFused?.bind(n);
  const fusedKernels: Record<string, (args: Args) => Info> = {};
  if (fused) {
    // inputs a, b[, bias [N]][, addend [M, N]] (2-D) → epilogue(prologue(op(a))·op(b) + bias); attrs transposeA, transposeB, prologue, epilogue
    fusedKernels[MATMUL_FUSED] = ({ inputs, backend, attrs }) => {
      const { transposeA, transposeB, prologue, epilogue } = attrs as { transposeA: boolean; transposeB: boolean; prologue: 0 | 1; epilogue: 0 | 1 | 2 | 3 };
      if (prologue !== 0 && prologue !== 1) throw new Error(`${MATMUL_FUSED}: prologue ${prologue} (the centring runs as ${MATMUL_CENTRED})`);
      const { a, b, bias, addend } = inputs as { a: Info; b: Info; bias?: Info; addend?: Info };
      const m = transposeA ? a.shape[1]! : a.shape[0]!, k = transposeA ? a.shape[0]! : a.shape[1]!;
      const kb = transposeB ? b.shape[1]! : b.shape[0]!, nn = transposeB ? b.shape[0]! : b.shape[1]!;
      const fits = a.shape.length === 2 && b.shape.length === 2 && k === kb && (!bias || size(bias.shape) === nn) && (!addend || size(addend.shape) === m * nn);
      if (!fits || ((epilogue === 2 || epilogue === 3) && !addend)) {
        throw new Error(`${MATMUL_FUSED}: shapes [${a.shape}] × [${b.shape}]${bias ? ` + [${bias.shape}]` : ''}${addend ? `, addend [${addend.shape}]` : ''} do not fit`);
      }
      const out = output(backend, m * nn, k === 0); // see nativeMatMul
      const f = (t: Info | undefined) => (t ? values(backend, t) : null);
      fused(values(backend, a), values(backend, b), out, m, k, nn, transposeA, transposeB, f(bias), prologue, epilogue, f(addend));
      return backend.makeTensorInfo([m, nn], 'float32', out);
    };
  }
  if (fused && (n.matmulPrologues ?? 0) >= 3) {
    // inputs a [M, K], b [K, N], bias [N], mean [K][, addend [M, N]] → epilogue((a − mean)·b + bias); attrs epilogue 0 | 1 | 2
    fusedKernels[MATMUL_CENTRED] = ({ inputs, backend, attrs }) => {
      const { epilogue } = attrs as { epilogue: 0 | 1 | 2 };
      const { a, b, bias, mean, addend } = inputs as { a: Info; b: Info; bias: Info; mean: Info; addend?: Info };
      const [m, k] = a.shape as [number, number];
      const nn = b.shape[1]!;
      const fits = a.shape.length === 2 && b.shape.length === 2 && b.shape[0] === k && size(bias.shape) === nn && size(mean.shape) === k &&
        (epilogue === 2 ? !!addend && size(addend.shape) === m * nn : epilogue === 0 || epilogue === 1);
      if (!fits) throw new Error(`${MATMUL_CENTRED}: shapes [${a.shape}] − [${mean.shape}] × [${b.shape}] + [${bias.shape}]${addend ? `, addend [${addend.shape}]` : ''} (epilogue ${epilogue}) do not fit`);
      const out = output(backend, m * nn, k === 0); // see nativeMatMul
      const addendValues = epilogue === 2 ? values(backend, addend!) : null;
      fused(values(backend, a), values(backend, b), out, m, k, nn, false, false, values(backend, bias), PROLOGUE_CENTRE, epilogue, addendValues, values(backend, mean));
      return backend.makeTensorInfo([m, nn], 'float32', out);
    };
  }
  /** Element strides of a contiguous [N, D, H, W, C]. */
  const strides5 = (s: readonly number[]) => [s[1]! * s[2]! * s[3]! * s[4]!, s[2]! * s[3]! * s[4]!, s[3]! * s[4]!, s[4]!, 1];
  const scaled = (st: number[], stride: number[]) => [st[0]!, st[1]! * stride[0]!, st[2]! * stride[1]!, st[3]! * stride[2]!, 1];
  const strided = (gather: boolean) => ({ inputs, backend, attrs }: Args): Info => {
    const { stride, outShape } = attrs as { stride: number[]; outShape: number[] };
    const x = inputs.x!;
    // gather: every output voxel from x at i·s; scatter: every input voxel to out at i·s (the rest stays 0)
    const shape = gather ? outShape : x.shape;
    const big = gather ? x.shape : outShape;
    const fits = x.shape.length === 5 && outShape.length === 5 && x.shape[0] === outShape[0] && x.shape[4] === outShape[4] &&
      [1, 2, 3].every((i) => (shape[i]! - 1) * stride[i - 1]! < big[i]!);
    if (!fits || x.dtype !== 'float32') throw new Error(`${gather ? STRIDED_GATHER_3D : STRIDED_SCATTER_3D}: [${x.shape}] → [${outShape}] at stride [${stride}] does not fit`);
    // gather writes every output voxel; scatter only every stride-th (the rest must be 0)
    const out = output(backend, size(outShape), !gather || size(x.shape) === 0);
    if (out.length > 0 && size(x.shape) > 0) {
      const src = gather ? scaled(strides5(x.shape), stride) : strides5(x.shape);
      const dst = gather ? strides5(outShape) : scaled(strides5(outShape), stride);
      n.copy(values(backend, x), 0, out, 0, [...shape], src, dst);
    }
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
  return {
    ...fusedKernels,
    [STRIDED_GATHER_3D]: strided(true),
    [STRIDED_SCATTER_3D]: strided(false),
    // inputs x, filter[, bias] → y
    [DW3D]: ({ inputs, backend, attrs }) => {
      const g = geom(attrs);
      const out = output(backend, size(shapes(g).y), false); // stores every output (each row, column, channel), bias or 0 where no tap reaches
      n.dwconv3d(0, g, values(backend, inputs.x!), values(backend, inputs.filter!), inputs.bias ? values(backend, inputs.bias) : null, out);
      return backend.makeTensorInfo(shapes(g).y, 'float32', out);
    },
    // inputs dy, filter → dx
    [DW3D_INPUT]: ({ inputs, backend, attrs }) => {
      const g = geom(attrs);
      const out = output(backend, size(shapes(g).x), false); // the forward kernel on dy, or per input voxel the sum of its taps (stored, 0 if none)
      n.dwconv3d(1, g, values(backend, inputs.dy!), values(backend, inputs.filter!), out, null);
      return backend.makeTensorInfo(shapes(g).x, 'float32', out);
    },
    // inputs x, dy → [dfilter [kD, kH, kW, C, 1], dbias [C]]
    [DW3D_FILTER]: ({ inputs, backend, attrs }) => {
      const g = geom(attrs);
      // summed from partials, then stored whole
      const dw = output(backend, g[8]! * g[9]! * g[10]! * g[1]!, false);
      const db = output(backend, g[1]!, false);
      n.dwconv3d(2, g, values(backend, inputs.x!), values(backend, inputs.dy!), dw, db);
      return [backend.makeTensorInfo([g[8]!, g[9]!, g[10]!, g[1]!, 1], 'float32', dw), backend.makeTensorInfo([g[1]!], 'float32', db)];
    },
    // attrs.scale (default 1): scale·GELU(x); 2 gives x·(1 + erf(x/√2)).
    [GELU]: ({ inputs, backend, attrs }) => {
      const x = inputs.x!;
      const out = output(backend, size(x.shape), false); // every element
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
      // every element of each (mean and rstd per sample and channel, centred per row)
      const centred = a.centred ? output(backend, a.n * a.v * a.c, false) : null;
      const mean = output(backend, a.n * a.c, false), rstd = output(backend, a.n * a.c, false);
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
      const y = output(backend, a.n * a.v * a.c, false); // every row
      n.channelAffine(values(backend, inputs.x!), perSample(inputs.scale!), perSample(inputs.shift!), y, a.n, a.v, a.c);
      return backend.makeTensorInfo([a.n, a.v, a.c], 'float32', y);
    },
    // inputs dy, centred [n, v, c], rstd [n, 1, c], gamma [c] → [dx [n, v, c], dgamma [c], dbeta [c]]
    [GN_GRAD]: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as GnAttrs;
      // every element of each (dx per row, dgamma and dbeta per channel)
      const dx = output(backend, a.n * a.v * a.c, false), dg = output(backend, a.c, false), db = output(backend, a.c, false);
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
      const out = output(backend, size(x.shape), false); // every element
      n.geluGrad(values(backend, x), values(backend, inputs.dy!), out);
      return backend.makeTensorInfo(x.shape, 'float32', out);
    },
  };
}

