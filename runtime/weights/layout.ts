import type { IRModel, IRNode, IRParam } from '../../ir/types.js';

/**
 * The one place where PyTorch layouts and the runtime's are converted.
 *
 *   PyTorch (files, the IR)                     runtime (TF.js, channels last)
 *   activations  [N, C, D, H, W]                [N, D, H, W, C]
 *   Conv3d dense [Cout, Cin, kD, kH, kW]        [kD, kH, kW, Cin, Cout]     (tf.conv3d filter)
 *   Conv3d depthwise [C, 1, kD, kH, kW]         [kD, kH, kW, C, 1]
 *   ConvTranspose3d dense [Cin, Cout, k…]       [kD, kH, kW, Cout, Cin]     (tf.conv3dTranspose order)
 *   ConvTranspose3d depthwise [C, 1, k…]        [kD, kH, kW, C, 1]
 *   Conv3d grouped [Cout, Cin/g, k…]             unchanged (ops/grouped-conv3d.ts)
 *   Linear [out, in], free parameters, buffers   unchanged
 *   GRN gamma/beta [1, C, 1, 1, 1]              [C]
 *   biases, norm weights, dummy                 unchanged
 *
 * 2-D models run as 3-D ones with depth 1: a 2-D kernel [.., kH, kW] becomes [1, kH, kW, ..].
 */
export type ParamLayout =
  | { kind: 'conv'; depthwise: boolean; spatialDims: 2 | 3 }
  | { kind: 'conv_transpose'; depthwise: boolean; spatialDims: 2 | 3 }
  | { kind: 'grn' }
  | { kind: 'plain' };

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Permutes the axes of a C-ordered array: out axis i is input axis perm[i]. */
export function permute(data: Float32Array, shape: readonly number[], perm: readonly number[]): HostTensor {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1]! * shape[i + 1]!;
  const stride = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src]!;
    // Advance the output multi-index (last axis fastest), tracking the input offset.
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      src += stride[a]!;
      if (idx[a]! < outShape[a]!) break;
      src -= stride[a]! * outShape[a]!;
      idx[a] = 0;
    }
  }
  return { shape: outShape, data: out };
}

/** NCDHW (or NCHW) → NDHWC (or NHWC). */
export function channelsFirstToLast(t: HostTensor): HostTensor {
  const r = t.shape.length;
  return permute(t.data, t.shape, [0, ...range(2, r), 1]);
}

/** NDHWC (or NHWC) → NCDHW (or NCHW). */
export function channelsLastToFirst(t: HostTensor): HostTensor {
  const r = t.shape.length;
  return permute(t.data, t.shape, [0, r - 1, ...range(1, r - 1)]);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** Shape a PyTorch-layout parameter has in the runtime. */
export function runtimeShape(layout: ParamLayout, shape: readonly number[]): number[] {
  switch (layout.kind) {
    case 'plain':
      return [...shape];
    case 'grn':
      return [shape.reduce((a, b) => a * b, 1)];
    case 'conv':
    case 'conv_transpose': {
      const [a, b, ...k] = shape as number[];
      const k3 = layout.spatialDims === 2 ? [1, ...k] : k;
      if (layout.depthwise) return [...k3, a!, 1];
      // Conv: [out, in, k] -> [k, in, out]; ConvTranspose: [in, out, k] -> [k, out, in].
      return [...k3, b!, a!];
    }
  }
}

/** PyTorch layout → runtime layout. */
export function toRuntime(layout: ParamLayout, t: HostTensor): HostTensor {
  const shape = runtimeShape(layout, t.shape);
  if (layout.kind === 'plain' || layout.kind === 'grn') return { shape, data: t.data.slice() };
  const r = t.shape.length;
  // [a, b, k...] -> [k..., b, a]; depthwise has b = 1, so [k..., a, b] holds the same bytes order as [k..., a, 1].
  const perm = layout.depthwise ? [...range(2, r), 0, 1] : [...range(2, r), 1, 0];
  return { shape, data: permute(t.data, t.shape, perm).data };
}

/** Runtime layout → PyTorch layout (`shape` is the PyTorch shape wanted). */
export function toPytorch(layout: ParamLayout, t: HostTensor, shape: readonly number[]): HostTensor {
  if (layout.kind === 'plain' || layout.kind === 'grn') return { shape: [...shape], data: t.data.slice() };
  const r = shape.length;
  // Work in the PyTorch rank: drop the lifted depth axis of 2-D kernels.
  const k = shape.slice(2);
  const lastTwo = t.shape.slice(-2);
  const src = [...k, ...lastTwo];
  const perm = layout.depthwise ? [r - 2, r - 1, ...range(0, r - 2)] : [r - 1, r - 2, ...range(0, r - 2)];
  return { shape: [...shape], data: permute(t.data, src, perm).data };
}

function attrNumber(node: IRNode, key: string, fallback: number): number {
  const v = node.attrs[key];
  return typeof v === 'number' ? v : fallback;
}

/** How each parameter of `ir` is laid out in the runtime, from the node that uses it. */
export function paramLayouts(ir: IRModel): Map<string, ParamLayout> {
  const byName = new Map<string, IRParam>(ir.parameters.map((p) => [p.name, p]));
  const channels = new Map<string, number>(ir.nodes.map((n) => [n.id, n.out.channels]));
  const out = new Map<string, ParamLayout>();
  for (const p of ir.parameters) out.set(p.name, p.role === 'grn_gamma' || p.role === 'grn_beta' ? { kind: 'grn' } : { kind: 'plain' });
  for (const node of ir.nodes) {
    if (node.op !== 'conv' && node.op !== 'conv_transpose') continue;
    for (const name of Object.values(node.params)) {
      const p = byName.get(name);
      if (!p || (p.role !== 'conv_weight' && p.role !== 'conv_transpose_weight')) continue;
      const cin = channels.get(node.inputs[0] ?? '') ?? -1;
      const groups = attrNumber(node, 'groups', 1);
      const depthwise = groups > 1 && groups === cin && node.out.channels === cin;
      if (groups !== 1 && !depthwise) {
        // Grouped (neither dense nor depthwise): the weight stays in PyTorch's layout (ops/grouped-conv3d.ts).
        if (node.op === 'conv') continue;
        throw new Error(`${node.id}: grouped ${node.op} with ${groups} groups, ${cin} → ${node.out.channels} channels is not supported (only groups = 1 or depthwise)`);
      }
      out.set(name, { kind: node.op, depthwise, spatialDims: ir.spatialDims });
    }
  }
  return out;
}
