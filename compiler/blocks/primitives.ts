import type { IRNode } from '../../ir/types.js';
import type { GraphBuilder, ParamSpec, TensorRef } from '../graph.js';
import { convOut, convTransposeOut, formatShape } from '../shapes.js';
import { T, type Value } from '../types.js';
import { registerBlock, type ArgSpec } from './registry.js';

/** Helpers every block module uses to emit primitive nodes with PyTorch parameter layouts. */

export function nd(g: GraphBuilder, v: number): number[] {
  return new Array<number>(g.spatialDims).fill(v);
}

/** A per-axis value: an int applies to every spatial axis; a list gives one per axis. */
export type PerAxis = number | number[];

export function axes(g: GraphBuilder, v: PerAxis, what: string): number[] {
  if (typeof v === 'number') return nd(g, v);
  if (v.length !== g.spatialDims) {
    g.error('WrongInputRank', [`${what} [${v.join(', ')}] has ${v.length} entries but the network is ${g.spatialDims}-D`]);
    return nd(g, v[0] ?? 1);
  }
  return v;
}

export interface ConvOptions {
  out: number;
  k: PerAxis;
  stride?: PerAxis;
  padding?: PerAxis;
  groups?: number;
  bias?: boolean;
  /**
   * 'pytorch' (default): PyTorch's own init of the module. 'he': nnU-Net's `InitWeights_He(a)`,
   * weight `kaiming_normal_(a=initA)` (fan_in as PyTorch computes it), bias zero.
   */
  init?: 'pytorch' | 'he';
  initA?: number;
  /** Weight standardisation before every use (TransUNet's StdConv2d): its epsilon. */
  standardize?: number;
}

/** The weight and bias ParamSpecs of a (transposed) convolution under the chosen init. */
function convParams(name: string, shape: number[], role: 'conv_weight' | 'conv_transpose_weight', o: ConvOptions, fanIn: number): ParamSpec[] {
  const suffix = (leaf: string) => (name ? `${name}.${leaf}` : leaf);
  const he = o.init === 'he';
  const params: ParamSpec[] = [
    he ? { key: 'weight', suffix: suffix('weight'), shape, role, init: 'kaiming_normal', fanIn, initA: o.initA ?? 0.01 } : { key: 'weight', suffix: suffix('weight'), shape, role, init: 'fan_in_uniform', fanIn },
  ];
  if (o.bias !== false) params.push(he ? { key: 'bias', suffix: suffix('bias'), shape: [o.out], role: 'bias', init: 'zeros' } : { key: 'bias', suffix: suffix('bias'), shape: [o.out], role: 'bias', init: 'fan_in_uniform', fanIn });
  return params;
}

/** A convolution (`Conv3d`/`Conv2d`): weight `[out, in/groups, *k]`, PyTorch padding. */
export function emitConv(g: GraphBuilder, scope: string, name: string, x: TensorRef, o: ConvOptions): TensorRef {
  requireMap(g, x, 'conv');
  const k = axes(g, o.k, 'kernel size');
  const stride = axes(g, o.stride ?? 1, 'stride');
  if (o.padding === undefined && k.some((kk) => kk % 2 === 0)) g.error('EvenKernelPadding', [k.length > 1 && k.some((kk) => kk !== k[0]) ? `[${k.join(', ')}]` : String(k.find((kk) => kk % 2 === 0))]);
  // PyTorch-style symmetric padding; (k - 1) // 2 equals k // 2 for the odd kernels that may omit it.
  const pad = o.padding === undefined ? k.map((kk) => Math.floor(kk / 2)) : axes(g, o.padding, 'padding');
  checkPatches(g, x.shape.spatial, k, stride, pad);
  const groups = o.groups ?? 1;
  const cin = x.shape.channels;
  if (o.out < 1 || cin % groups !== 0 || o.out % groups !== 0) {
    g.error('BadChannels', [`convolution ${scope ? scope + '.' : ''}${name}: ${cin} → ${o.out} channels cannot be split into ${groups} groups`]);
  }
  const spatial = x.shape.spatial?.map((n, a) => convOut(n, k[a]!, stride[a]!, pad[a]!)) ?? null;
  checkSpatial(g, spatial, `${scope}.${name}`);
  const fanIn = (cin / groups) * k.reduce((a, b) => a * b, 1);
  const params = convParams(name, [o.out, cin / groups, ...k], 'conv_weight', o, fanIn);
  const attrs: IRNode['attrs'] = { kernel: k, stride, padding: pad, groups, bias: o.bias !== false };
  if (o.standardize !== undefined) attrs.standardize = o.standardize;
  return g.node('conv', scope, name || 'conv', [x], attrs, { channels: o.out, spatial }, params);
}

/** A transposed convolution (`ConvTranspose3d`): weight `[in, out/groups, *k]`. */
export function emitConvTranspose(g: GraphBuilder, scope: string, name: string, x: TensorRef, o: ConvOptions): TensorRef {
  requireMap(g, x, 'conv_transpose');
  const k = axes(g, o.k, 'kernel size');
  const stride = axes(g, o.stride ?? 1, 'stride');
  const pad = axes(g, o.padding ?? 0, 'padding');
  const groups = o.groups ?? 1;
  const cin = x.shape.channels;
  if (o.out < 1 || cin % groups !== 0 || o.out % groups !== 0) {
    g.error('BadChannels', [`transposed convolution ${scope}.${name}: ${cin} → ${o.out} channels cannot be split into ${groups} groups`]);
  }
  const spatial = x.shape.spatial?.map((n, a) => convTransposeOut(n, k[a]!, stride[a]!, pad[a]!)) ?? null;
  checkSpatial(g, spatial, `${scope}.${name}`);
  // PyTorch computes fan_in of a transposed conv weight from its dim 1 (out/groups).
  const fanIn = (o.out / groups) * k.reduce((a, b) => a * b, 1);
  const params = convParams(name, [cin, o.out / groups, ...k], 'conv_transpose_weight', o, fanIn);
  return g.node('conv_transpose', scope, name || 'conv_transpose', [x], { kernel: k, stride, padding: pad, groups, bias: o.bias !== false }, { channels: o.out, spatial }, params);
}

/**
 * A normalisation with affine parameters. `weightInit` 'zeros' starts its scale (and bias) at 0, as
 * nnU-Net's `init_last_bn_before_add_to_0` does for the last norm of a residual block.
 */
export function emitNorm(g: GraphBuilder, scope: string, name: string, x: TensorRef, type: string, eps: number, weightInit: 'ones' | 'zeros' = 'ones'): TensorRef {
  const c = x.shape.channels;
  const params: ParamSpec[] = [
    { key: 'weight', suffix: `${name}.weight`, shape: [c], role: 'norm_weight', init: weightInit },
    { key: 'bias', suffix: `${name}.bias`, shape: [c], role: 'norm_bias', init: 'zeros' },
  ];
  if (type === 'layer') return g.node('layer_norm', scope, name, [x], { eps }, x.shape, params);
  // 'group' with one group per channel and 'instance' are the same computation.
  return g.node('group_norm', scope, name, [x], { groups: c, eps }, x.shape, params);
}

/**
 * Average pooling with window = stride and no padding (PyTorch `AvgPool3d(kernel_size=s, stride=s)`,
 * `ceil_mode=False`): the mean of each non-overlapping window; a remainder along an axis is dropped.
 */
export function emitAvgPool(g: GraphBuilder, scope: string, name: string, x: TensorRef, stride: PerAxis): TensorRef {
  const s = axes(g, stride, 'pooling stride');
  const spatial = x.shape.spatial?.map((n, a) => Math.floor(n / s[a]!)) ?? null;
  checkSpatial(g, spatial, scope ? `${scope}.${name}` : name);
  return g.node('avg_pool', scope, name, [x], { stride: s }, { channels: x.shape.channels, spatial });
}

export function emitAdd(g: GraphBuilder, scope: string, name: string, a: TensorRef, b: TensorRef): TensorRef {
  checkSameShape(g, a, b);
  return g.node('add', scope, name, [a, b], {}, a.shape);
}

export function checkSameShape(g: GraphBuilder, a: TensorRef, b: TensorRef): boolean {
  const sa = a.shape;
  const sb = b.shape;
  let why = '';
  if (sa.channels !== sb.channels) why = `channels differ (${sa.channels} vs ${sb.channels})`;
  else if (sa.spatial && sb.spatial && sa.spatial.join() !== sb.spatial.join()) why = `spatial sizes differ (${sa.spatial.join('×')} vs ${sb.spatial.join('×')})`;
  if (why) g.error('SkipShapeMismatch', [formatShape(sa.channels, sa.spatial), formatShape(sb.channels, sb.spatial), why]);
  return !why;
}

/** A patch embedding (kernel = stride > 1, no padding) must tile the input exactly: PyTorch would silently drop the rest. */
function checkPatches(g: GraphBuilder, spatial: number[] | null, k: number[], stride: number[], pad: number[]): void {
  if (!spatial) return;
  spatial.forEach((n, a) => {
    const p = k[a]!;
    if (p > 1 && stride[a] === p && pad[a] === 0 && n % p !== 0) {
      const lo = Math.floor(n / p) * p;
      g.error('PatchNotDivisible', [spatial.join('×'), p, a, lo > 0 ? `${lo} or ${lo + p}` : String(lo + p)]);
    }
  });
}

/** Ops of feature maps refuse general tensors (tokens): the user converts with feature_map(). */
export function requireMap(g: GraphBuilder, x: TensorRef, what: string): boolean {
  if (!x.shape.dims) return true;
  g.error('TensorKind', [what, 'a feature map [channels, *spatial]', `a general tensor [${x.shape.dims.join(', ')}] (convert it with feature_map())`]);
  return false;
}

export function checkSpatial(g: GraphBuilder, spatial: number[] | null, where: string): void {
  if (spatial && spatial.some((n) => n < 1)) g.error('SpatialTooSmall', [spatial.join('×'), where]);
}

export function checkKernel(g: GraphBuilder, k: number): boolean {
  if (!Number.isInteger(k) || k < 1 || k % 2 === 0) {
    g.error('BadKernelSize', [String(k)]);
    return false;
  }
  return true;
}

const num = (v: Value) => v as number;

/** The `init` / `init_a` arguments of every convolution block (see ConvOptions.init). */
export const INIT_ARGS: ArgSpec[] = [
  { name: 'init', type: T.oneOf('pytorch', 'he'), default: 'pytorch', doc: "initialisation of a new model: PyTorch's default, or nnU-Net's He init (kaiming_normal_(a=init_a), zero bias)" },
  { name: 'init_a', type: T.float, default: 0.01, doc: "negative slope a of the He init (nnU-Net: 1e-2)" },
];

export function initOf(a: Record<string, Value>): Pick<ConvOptions, 'init' | 'initA'> {
  return { init: a.init as 'pytorch' | 'he', initA: num(a.init_a) };
}

registerBlock({
  name: 'conv',
  doc: 'Convolution (Conv3d / Conv2d) with PyTorch padding; parameters `<name>.weight` `[out, in/groups, *k]` and `<name>.bias`.',
  inputs: 1,
  args: [
    { name: 'out', type: T.posint, doc: 'output channels' },
    { name: 'k', type: T.union(T.posint, T.list(T.posint)), default: 1, doc: 'kernel size, or one per axis (an even one needs an explicit padding)' },
    { name: 'stride', type: T.union(T.posint, T.list(T.posint)), default: 1, doc: 'stride, or one per axis' },
    { name: 'padding', type: T.union(T.int, T.list(T.int), T.none), default: null, doc: 'zero padding per side (default k // 2)' },
    { name: 'groups', type: T.posint, default: 1, doc: 'channel groups' },
    { name: 'bias', type: T.bool, default: true, doc: 'learn a bias' },
    { name: 'standardize', type: T.union(T.float, T.none), default: null, doc: 'weight standardisation epsilon (StdConv2d: 1e-5): the weight, per output channel, minus its mean over the biased standard deviation' },
    ...INIT_ARGS,
  ],
  expand: (g, scope, [x], a) =>
    emitConv(g, scope, '', x!, {
      out: num(a.out),
      k: a.k as PerAxis,
      stride: a.stride as PerAxis,
      padding: a.padding === null ? undefined : (a.padding as PerAxis),
      groups: num(a.groups),
      bias: a.bias as boolean,
      ...(a.standardize === null ? {} : { standardize: num(a.standardize) }),
      ...initOf(a),
    }),
});

registerBlock({
  name: 'conv_transpose',
  doc: 'Transposed convolution (ConvTranspose3d / 2d); weight `[in, out/groups, *k]`.',
  inputs: 1,
  args: [
    { name: 'out', type: T.posint, doc: 'output channels' },
    { name: 'k', type: T.union(T.posint, T.list(T.posint)), default: 2, doc: 'kernel size, or one per axis' },
    { name: 'stride', type: T.union(T.posint, T.list(T.posint)), default: 2, doc: 'stride, or one per axis' },
    { name: 'padding', type: T.union(T.int, T.list(T.int)), default: 0, doc: 'padding' },
    { name: 'groups', type: T.posint, default: 1, doc: 'channel groups' },
    { name: 'bias', type: T.bool, default: true, doc: 'learn a bias' },
    ...INIT_ARGS,
  ],
  expand: (g, scope, [x], a) => emitConvTranspose(g, scope, '', x!, { out: num(a.out), k: a.k as PerAxis, stride: a.stride as PerAxis, padding: a.padding as PerAxis, groups: num(a.groups), bias: a.bias as boolean, ...initOf(a) }),
});

registerBlock({
  name: 'gelu',
  doc: 'Exact (erf) GELU.',
  inputs: 1,
  args: [],
  expand: (g, scope, [x]) => g.node('gelu', scope, 'gelu', [x!], {}, x!.shape),
});

registerBlock({
  name: 'relu',
  doc: 'ReLU.',
  inputs: 1,
  args: [],
  expand: (g, scope, [x]) => g.node('relu', scope, 'relu', [x!], {}, x!.shape),
});

registerBlock({
  name: 'leaky_relu',
  doc: 'Leaky ReLU (PyTorch default slope 0.01).',
  inputs: 1,
  args: [{ name: 'slope', type: T.float, default: 0.01, doc: 'negative slope' }],
  expand: (g, scope, [x], a) => g.node('leaky_relu', scope, 'leaky_relu', [x!], { slope: num(a.slope) }, x!.shape),
});

registerBlock({
  name: 'norm',
  doc: "Normalisation with affine parameters `<name>.weight`, `<name>.bias`: 'group' (one group per channel), 'instance' (the same computation), or 'layer' (over channels at each voxel).",
  inputs: 1,
  args: [
    { name: 'type', type: T.oneOf('group', 'instance', 'layer'), default: 'group', doc: 'normalisation' },
    { name: 'eps', type: T.float, default: 1e-5, doc: 'epsilon' },
    { name: 'init', type: T.oneOf('ones', 'zeros'), default: 'ones', doc: "initial scale of a new model ('zeros' also for the bias, which always starts at 0)" },
  ],
  expand: (g, scope, [x], a) => {
    const y = emitNorm(g, scope, 'norm', x!, a.type as string, num(a.eps), a.init as 'ones' | 'zeros');
    return y;
  },
});

registerBlock({
  name: 'avg_pool',
  doc: 'Average pooling, window = stride, no padding (AvgPool3d(kernel_size=s, stride=s)); no parameters.',
  inputs: 1,
  args: [{ name: 'stride', type: T.union(T.posint, T.list(T.posint)), default: 2, doc: 'window and stride, or one per axis' }],
  expand: (g, scope, [x], a) => emitAvgPool(g, scope, 'pool', x!, a.stride as PerAxis),
});

registerBlock({
  name: 'concat',
  doc: 'Channel concatenation of feature maps, inputs in order (nnU-Net skips: `concat(up, skip)`); general tensors along `axis` (torch.cat).',
  inputs: 'many',
  args: [{ name: 'axis', type: T.union(T.int, T.none), default: null, doc: 'per-sample axis of general tensors (feature maps: channels)' }],
  expand: (g, scope, xs, a) => {
    if (xs.some((x) => x.shape.dims)) return concatGeneral(g, scope, xs, a.axis as number | null);
    if (a.axis !== null && a.axis !== 0) {
      g.error('TensorKind', ['concat along an axis other than the channels', 'general tensors', 'feature maps (convert them with channels_last())']);
      return null;
    }
    const spatial = xs[0]!.shape.spatial;
    for (const x of xs.slice(1)) {
      if (spatial && x.shape.spatial && x.shape.spatial.join() !== spatial.join()) {
        g.error('SkipShapeMismatch', [formatShape(xs[0]!.shape.channels, spatial), formatShape(x.shape.channels, x.shape.spatial), 'spatial sizes differ']);
      }
    }
    return g.node('concat', scope, 'concat', xs, {}, { channels: xs.reduce((a, x) => a + x.shape.channels, 0), spatial });
  },
});

function concatGeneral(g: GraphBuilder, scope: string, xs: TensorRef[], axis: number | null): TensorRef | null {
  const shapes = xs.map((x) => x.shape.dims);
  if (shapes.some((d) => !d) || axis === null) {
    g.error('TensorKind', ['concat', axis === null ? "an 'axis' for general tensors" : 'only general tensors', 'a feature map or no axis']);
    return null;
  }
  const first = shapes[0]!;
  const ax = axis < 0 ? first.length + axis : axis;
  if (ax < 0 || ax >= first.length || shapes.some((d) => d!.length !== first.length || d!.some((n, i) => i !== ax && n !== first[i]))) {
    g.error('TensorShapeMismatch', [`concat along axis ${axis}: shapes ${shapes.map((d) => `[${d!.join(', ')}]`).join(', ')} differ on another axis`]);
    return null;
  }
  const out = first.map((n, i) => (i === ax ? shapes.reduce((s, d) => s + d![i]!, 0) : n));
  return g.node('concat', scope, 'concat', xs, { axis: ax }, { channels: out[out.length - 1]!, spatial: out.slice(0, -1), dims: out });
}
