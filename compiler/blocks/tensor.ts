import type { GraphBuilder, ParamSpec, TensorRef } from '../graph.js';
import type { ActShape } from '../../ir/types.js';
import { T, type Value } from '../types.js';
import { requireMap } from './primitives.js';
import { registerBlock } from './registry.js';

/**
 * Primitives of general tensors: token sequences `[tokens, features]`, per-head
 * `[heads, tokens, dim]`, window stacks. Shapes are per sample (the batch axis is never
 * written) and in PyTorch order; axes count from 0 = the first axis after the batch, and a
 * negative axis counts from the end. Feature maps `[channels, *spatial]` convert to and from
 * general tensors with `channels_last`, `tokens` and `feature_map` (in the runtime, whose
 * feature maps are channels-last, those are free reshapes).
 */

/** A general tensor's shape record (see ActShape). */
export function general(dims: number[]): ActShape {
  return { channels: dims[dims.length - 1] ?? 1, spatial: dims.slice(0, -1), dims };
}

/** The full per-sample shape of a tensor (a feature map's is [C, *spatial]); null where the input size is unknown. */
export function fullShape(t: TensorRef): number[] | null {
  if (t.shape.dims) return t.shape.dims;
  return t.shape.spatial ? [t.shape.channels, ...t.shape.spatial] : null;
}

export function fmt(dims: number[] | null): string {
  return dims ? `[${dims.join(', ')}]` : '[?]';
}

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** A general tensor's dims, or an error (feature map given, or sizes unknown). */
function requireGeneral(g: GraphBuilder, x: TensorRef, what: string): number[] | null {
  if (!x.shape.dims) {
    g.error('TensorKind', [what, 'a general tensor', `a feature map [${x.shape.channels}, ${x.shape.spatial?.join(', ') ?? '?'}] (convert it with channels_last() or tokens())`]);
    return null;
  }
  return x.shape.dims;
}

/** A per-sample axis (negative counts from the end), or an error. */
export function axisOf(g: GraphBuilder, a: number, rank: number, what: string): number | null {
  const ax = a < 0 ? rank + a : a;
  if (!Number.isInteger(a) || ax < 0 || ax >= rank) {
    g.error('TensorShapeMismatch', [`${what}: axis ${a} does not exist in a tensor of ${rank} axes (per sample; the batch axis is not counted)`]);
    return null;
  }
  return ax;
}

/** numpy broadcasting of two per-sample shapes (right-aligned), or null. */
export function broadcastShapes(a: number[], b: number[]): number[] | null {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(Math.max(x, y));
  }
  return out;
}

/** Element-wise op of two tensors with broadcasting; two equal feature maps stay a feature map. */
export function emitBinary(g: GraphBuilder, scope: string, name: string, fn: 'add' | 'sub' | 'mul' | 'div', a: TensorRef, b: TensorRef): TensorRef | null {
  const sa = fullShape(a);
  const sb = fullShape(b);
  if (!a.shape.dims && !b.shape.dims) {
    if (sa && sb && sa.join() !== sb.join()) {
      g.error('TensorShapeMismatch', [`'${opSymbol(fn)}' of feature maps ${fmt(sa)} and ${fmt(sb)}: their shapes differ`]);
      return null;
    }
    return g.node('binary', scope, name, [a, b], { fn }, a.shape);
  }
  if (!a.shape.dims || !b.shape.dims) {
    g.error('TensorKind', [opSymbol(fn), 'two general tensors or two feature maps', `a feature map and a general tensor (convert with channels_last() or feature_map())`]);
    return null;
  }
  const out = broadcastShapes(sa!, sb!);
  if (!out) {
    g.error('TensorShapeMismatch', [`'${opSymbol(fn)}' cannot broadcast ${fmt(sa)} with ${fmt(sb)} (numpy rules: right-aligned axes must be equal or 1)`]);
    return null;
  }
  return g.node('binary', scope, name, [a, b], { fn }, general(out));
}

function opSymbol(fn: string): string {
  return fn === 'add' ? '+' : fn === 'sub' ? '-' : fn === 'mul' ? '*' : '/';
}

export function emitScale(g: GraphBuilder, scope: string, name: string, x: TensorRef, factor: number): TensorRef {
  return g.node('scale', scope, name, [x], { factor }, x.shape);
}

export function emitReshape(g: GraphBuilder, scope: string, x: TensorRef, shape: number[]): TensorRef | null {
  const dims = requireGeneral(g, x, 'reshape');
  if (!dims) return null;
  const n = prod(dims);
  const free = shape.filter((s) => s === -1).length;
  const known = prod(shape.filter((s) => s !== -1));
  const bad = (why: string) => {
    g.error('ReshapeMismatch', [fmt(dims), n, `[${shape.join(', ')}]`, free ? `${known}·?` : known, why]);
    return null;
  };
  if (free > 1 || shape.some((s) => !Number.isInteger(s) || (s < 1 && s !== -1))) return bad(': sizes must be positive ints, with at most one -1');
  if (free ? known === 0 || n % known !== 0 : known !== n) {
    const hint = shape.length > dims.length ? ' — does every split divide its axis (heads into the width, windows into the size)?' : '';
    return bad(hint);
  }
  const out = shape.map((s) => (s === -1 ? n / known : s));
  return g.node('reshape', scope, 'reshape', [x], { shape: out }, general(out));
}

export function emitPermute(g: GraphBuilder, scope: string, x: TensorRef, perm: number[]): TensorRef | null {
  const dims = requireGeneral(g, x, 'permute');
  if (!dims) return null;
  const axes = perm.map((a) => (a < 0 ? dims.length + a : a));
  if (axes.length !== dims.length || [...axes].sort((p, q) => p - q).some((a, i) => a !== i)) {
    g.error('TensorShapeMismatch', [`permute of ${fmt(dims)}: [${perm.join(', ')}] is not an order of its ${dims.length} axes (per sample; the batch axis stays first)`]);
    return null;
  }
  return g.node('permute', scope, 'permute', [x], { axes }, general(axes.map((a) => dims[a]!)));
}

const num = (v: Value) => v as number;
const ints = (v: Value) => v as number[];

registerBlock({
  name: 'channels_last',
  doc: 'A feature map [C, *spatial] as the general tensor [*spatial, C] (PyTorch: x.permute(0, 2, 3, 4, 1)).',
  inputs: 1,
  args: [],
  expand(g, scope, [x]) {
    if (!requireMap(g, x!, 'channels_last')) return null;
    if (!x!.shape.spatial) {
      g.error('TensorShapeMismatch', ['channels_last needs the input size (give --input-size or input(size: …))']);
      return null;
    }
    return g.node('channels_last', scope, 'channels_last', [x!], {}, general([...x!.shape.spatial, x!.shape.channels]));
  },
});

registerBlock({
  name: 'tokens',
  doc: 'A feature map [C, *spatial] as a token sequence [prod(spatial), C], tokens in raster order (PyTorch: x.flatten(2).transpose(1, 2)).',
  inputs: 1,
  args: [],
  expand(g, scope, [x]) {
    if (!requireMap(g, x!, 'tokens')) return null;
    if (!x!.shape.spatial) {
      g.error('TensorShapeMismatch', ['tokens needs the input size (give --input-size or input(size: …))']);
      return null;
    }
    return g.node('channels_last', scope, 'tokens', [x!], {}, general([prod(x!.shape.spatial), x!.shape.channels]));
  },
});

registerBlock({
  name: 'feature_map',
  doc: 'A general tensor [*spatial, C] (or tokens [prod(size), C] with `size`) as the feature map [C, *spatial] (PyTorch: view(B, *size, C).permute(0, 4, 1, 2, 3)).',
  inputs: 1,
  args: [{ name: 'size', type: T.union(T.list(T.posint), T.none), default: null, doc: 'spatial size (default: the leading axes of the input)' }],
  expand(g, scope, [x], a) {
    const dims = requireGeneral(g, x!, 'feature_map');
    if (!dims) return null;
    const c = dims[dims.length - 1]!;
    const size = a.size === null ? dims.slice(0, -1) : ints(a.size);
    if (size.length !== g.spatialDims || prod(size) !== prod(dims.slice(0, -1))) {
      g.error('ReshapeMismatch', [fmt(dims), prod(dims), `a ${g.spatialDims}-D feature map [${c}, ${size.join(', ')}]`, c * prod(size), size.length !== g.spatialDims ? `: the network is ${g.spatialDims}-D` : ': the token count is not the product of the size']);
      return null;
    }
    return g.node('feature_map', scope, 'feature_map', [x!], {}, { channels: c, spatial: size });
  },
});

registerBlock({
  name: 'reshape',
  doc: 'Reshape (torch.reshape, C order) to the per-sample `shape`; one entry may be -1.',
  inputs: 1,
  args: [{ name: 'shape', type: T.list(T.int), doc: 'per-sample output shape' }],
  expand: (g, scope, [x], a) => emitReshape(g, scope, x!, ints(a.shape)),
});

registerBlock({
  name: 'permute',
  doc: 'Reorder the per-sample axes (torch.permute without the batch axis): output axis i is input axis `axes[i]`.',
  inputs: 1,
  args: [{ name: 'axes', type: T.list(T.int), doc: 'an order of the per-sample axes' }],
  expand: (g, scope, [x], a) => emitPermute(g, scope, x!, ints(a.axes)),
});

registerBlock({
  name: 'transpose',
  doc: 'Swap two per-sample axes (torch.transpose).',
  inputs: 1,
  args: [
    { name: 'a', type: T.int, default: -2, doc: 'first axis' },
    { name: 'b', type: T.int, default: -1, doc: 'second axis' },
  ],
  expand(g, scope, [x], a) {
    const dims = requireGeneral(g, x!, 'transpose');
    if (!dims) return null;
    const i = axisOf(g, num(a.a), dims.length, 'transpose');
    const j = axisOf(g, num(a.b), dims.length, 'transpose');
    if (i === null || j === null) return null;
    const perm = dims.map((_, k) => (k === i ? j : k === j ? i : k));
    return emitPermute(g, scope, x!, perm);
  },
});

registerBlock({
  name: 'slice',
  doc: 'x[start:end:step] along one per-sample axis (end none = to the end; negative start/end count from the end).',
  inputs: 1,
  args: [
    { name: 'axis', type: T.int, doc: 'per-sample axis' },
    { name: 'start', type: T.int, default: 0, doc: 'first index' },
    { name: 'end', type: T.union(T.int, T.none), default: null, doc: 'end (exclusive)' },
    { name: 'step', type: T.posint, default: 1, doc: 'step' },
  ],
  expand(g, scope, [x], a) {
    const dims = requireGeneral(g, x!, 'slice');
    if (!dims) return null;
    const ax = axisOf(g, num(a.axis), dims.length, 'slice');
    if (ax === null) return null;
    const n = dims[ax]!;
    const clamp = (v: number) => Math.min(n, Math.max(0, v < 0 ? n + v : v));
    const start = clamp(num(a.start));
    const end = a.end === null ? n : clamp(num(a.end));
    const step = num(a.step);
    const len = Math.max(0, Math.ceil((end - start) / step));
    if (len < 1) {
      g.error('TensorShapeMismatch', [`slice ${start}:${end}:${step} of axis ${ax} (size ${n}) of ${fmt(dims)} is empty`]);
      return null;
    }
    const out = dims.map((d, k) => (k === ax ? len : d));
    return g.node('slice', scope, 'slice', [x!], { axis: ax, start, end, step }, general(out));
  },
});

registerBlock({
  name: 'roll',
  doc: 'Cyclic shift (torch.roll) by `shifts` along `axes` (per-sample axes).',
  inputs: 1,
  args: [
    { name: 'shifts', type: T.list(T.int), doc: 'one shift per axis' },
    { name: 'axes', type: T.list(T.int), doc: 'the axes' },
  ],
  expand(g, scope, [x], a) {
    const dims = requireGeneral(g, x!, 'roll');
    if (!dims) return null;
    const shifts = ints(a.shifts);
    const axes = ints(a.axes).map((v) => axisOf(g, v, dims.length, 'roll'));
    if (axes.some((v) => v === null)) return null;
    if (shifts.length !== axes.length) {
      g.error('TensorShapeMismatch', [`roll: ${shifts.length} shifts for ${axes.length} axes`]);
      return null;
    }
    return g.node('roll', scope, 'roll', [x!], { shifts, axes: axes as number[] }, x!.shape);
  },
});

registerBlock({
  name: 'linear',
  doc: 'nn.Linear over the last axis, y = x·Wᵀ + b; parameters `weight` [out, in] and `bias` [out].',
  inputs: 1,
  args: [
    { name: 'out', type: T.posint, doc: 'output features' },
    { name: 'bias', type: T.bool, default: true, doc: 'learn a bias' },
  ],
  expand(g, scope, [x], a) {
    const dims = requireGeneral(g, x!, 'linear');
    if (!dims) return null;
    const cin = dims[dims.length - 1]!;
    const out = num(a.out);
    const params: ParamSpec[] = [{ key: 'weight', suffix: 'weight', shape: [out, cin], role: 'linear_weight', init: 'fan_in_uniform', fanIn: cin }];
    if (a.bias) params.push({ key: 'bias', suffix: 'bias', shape: [out], role: 'bias', init: 'fan_in_uniform', fanIn: cin });
    return g.node('linear', scope, 'linear', [x!], { bias: a.bias as boolean }, general([...dims.slice(0, -1), out]), params);
  },
});

registerBlock({
  name: 'matmul',
  doc: 'Matrix product of the last two axes (torch.matmul), leading axes broadcast; `transpose_b` multiplies by bᵀ.',
  inputs: 2,
  args: [{ name: 'transpose_b', type: T.bool, default: false, doc: 'use the transpose of the last two axes of b' }],
  expand(g, scope, [x, y], a) {
    const da = requireGeneral(g, x!, 'matmul');
    const db = requireGeneral(g, y!, 'matmul');
    if (!da || !db) return null;
    if (da.length < 2 || db.length < 2) {
      g.error('TensorShapeMismatch', [`matmul needs at least two axes per operand, got ${fmt(da)} and ${fmt(db)}`]);
      return null;
    }
    const tb = a.transpose_b as boolean;
    const [n, k] = da.slice(-2) as [number, number];
    const [kb, m] = (tb ? db.slice(-2).reverse() : db.slice(-2)) as [number, number];
    const lead = broadcastShapes(da.slice(0, -2), db.slice(0, -2));
    if (k !== kb || !lead) {
      g.error('TensorShapeMismatch', [`matmul of ${fmt(da)} and ${fmt(db)}${tb ? 'ᵀ' : ''}: ${k !== kb ? `inner sizes ${k} and ${kb} differ` : 'the leading axes do not broadcast'}`]);
      return null;
    }
    return g.node('matmul', scope, 'matmul', [x!, y!], { transpose_b: tb }, general([...lead, n, m]));
  },
});

registerBlock({
  name: 'softmax',
  doc: 'Softmax over one per-sample axis (default the last).',
  inputs: 1,
  args: [{ name: 'axis', type: T.int, default: -1, doc: 'axis' }],
  expand(g, scope, [x], a) {
    const dims = requireGeneral(g, x!, 'softmax');
    if (!dims) return null;
    const ax = axisOf(g, num(a.axis), dims.length, 'softmax');
    if (ax === null) return null;
    return g.node('softmax', scope, 'softmax', [x!], { axis: ax }, x!.shape);
  },
});

registerBlock({
  name: 'layer_norm',
  doc: 'nn.LayerNorm over the last axis (the channels of a feature map at each voxel); parameters `weight`, `bias` when affine.',
  inputs: 1,
  args: [
    { name: 'eps', type: T.float, default: 1e-5, doc: 'epsilon' },
    { name: 'affine', type: T.bool, default: true, doc: 'learn weight and bias' },
  ],
  expand(g, scope, [x], a) {
    const c = x!.shape.channels;
    const params: ParamSpec[] = a.affine
      ? [
          { key: 'weight', suffix: 'weight', shape: [c], role: 'norm_weight', init: 'ones' },
          { key: 'bias', suffix: 'bias', shape: [c], role: 'norm_bias', init: 'zeros' },
        ]
      : [];
    return g.node('layer_norm', scope, 'layer_norm', [x!], { eps: num(a.eps) }, x!.shape, params);
  },
});

registerBlock({
  name: 'instance_norm',
  doc: 'nn.InstanceNorm3d/2d of a feature map: each channel over its voxels, with the statistics of the current sample (MONAI: no affine); parameters `weight`, `bias` when affine.',
  inputs: 1,
  args: [
    { name: 'eps', type: T.float, default: 1e-5, doc: 'epsilon' },
    { name: 'affine', type: T.bool, default: false, doc: 'learn weight and bias' },
  ],
  expand(g, scope, [x], a) {
    if (!requireMap(g, x!, 'instance_norm')) return null;
    const c = x!.shape.channels;
    const params: ParamSpec[] = a.affine
      ? [
          { key: 'weight', suffix: 'weight', shape: [c], role: 'norm_weight', init: 'ones' },
          { key: 'bias', suffix: 'bias', shape: [c], role: 'norm_bias', init: 'zeros' },
        ]
      : [];
    return g.node('group_norm', scope, 'instance_norm', [x!], { groups: c, eps: num(a.eps), affine: a.affine as boolean }, x!.shape, params);
  },
});

registerBlock({
  name: 'dropout',
  doc: 'Dropout: the identity at inference (emits nothing).',
  inputs: 1,
  args: [{ name: 'p', type: T.float, default: 0.5, doc: 'drop probability (training only)' }],
  expand: (_g, _scope, [x]) => x!,
});

registerBlock({
  name: 'parameter',
  doc: 'A learned free tensor named by the call (`as "position_embeddings"`), e.g. a position embedding, a layer scale or a bias table. `shape` is its state_dict shape; with `batch`, a leading 1 is PyTorch\'s batch axis and the tensor has the per-sample shape shape[1:].',
  inputs: 0,
  args: [
    { name: 'shape', type: T.list(T.posint), doc: 'state_dict shape' },
    { name: 'init', type: T.oneOf('zeros', 'ones', 'trunc_normal', 'constant'), default: 'zeros', doc: 'initial value of a new model' },
    { name: 'std', type: T.float, default: 0.02, doc: 'standard deviation of trunc_normal' },
    { name: 'value', type: T.float, default: 0, doc: 'the fill value of constant' },
    { name: 'batch', type: T.bool, default: false, doc: 'the leading 1 of `shape` is the batch axis' },
  ],
  expand(g, scope, _inputs, a) {
    const shape = ints(a.shape);
    if (a.batch && (shape.length < 2 || shape[0] !== 1)) {
      g.error('TensorShapeMismatch', [`parameter ${scope}: with batch: true the shape must start with 1, got [${shape.join(', ')}]`]);
      return null;
    }
    const dims = a.batch ? shape.slice(1) : shape;
    const dot = scope.lastIndexOf('.');
    const parent = dot < 0 ? '' : scope.slice(0, dot);
    const leaf = scope.slice(dot + 1);
    const init = a.init as 'zeros' | 'ones' | 'trunc_normal' | 'constant';
    const p: ParamSpec = { key: 'value', suffix: leaf, shape, role: 'free', init, ...(init === 'trunc_normal' ? { std: num(a.std) } : {}), ...(init === 'constant' ? { value: num(a.value) } : {}) };
    return g.node('parameter', parent, leaf, [], { batch: a.batch as boolean }, general(dims), [p]);
  },
});

registerBlock({
  name: 'pad',
  doc: 'Zero padding: of a general tensor, `before[i]` and `after[i]` entries on per-sample axis i; of a feature map, per spatial axis (F.pad, lists in axis order).',
  inputs: 1,
  args: [
    { name: 'before', type: T.union(T.list(T.int), T.none), default: null, doc: 'entries before, per axis (default none)' },
    { name: 'after', type: T.list(T.int), doc: 'entries after, per axis' },
  ],
  expand(g, scope, [x], a) {
    if (!x!.shape.dims) return padMap(g, scope, x!, a.before === null ? null : ints(a.before), ints(a.after));
    const dims = requireGeneral(g, x!, 'pad');
    if (!dims) return null;
    const after = ints(a.after);
    const before = a.before === null ? dims.map(() => 0) : ints(a.before);
    if (after.length !== dims.length || before.length !== dims.length || [...after, ...before].some((v) => v < 0)) {
      g.error('TensorShapeMismatch', [`pad of ${fmt(dims)} needs one non-negative entry per axis in 'before' and 'after', got [${before.join(', ')}] and [${after.join(', ')}]`]);
      return null;
    }
    return g.node('pad', scope, 'pad', [x!], { before, after }, general(dims.map((n, i) => n + before[i]! + after[i]!)));
  },
});

registerBlock({
  name: 'gather',
  doc: 'Rows of a table picked by an integer tensor (table[index]): out = [*index dims, *table dims[1:]] (Swin: the relative position bias).',
  inputs: 2,
  args: [],
  expand(g, scope, [table, index]) {
    const dt = requireGeneral(g, table!, 'gather');
    const di = requireGeneral(g, index!, 'gather');
    if (!dt || !di) return null;
    return g.node('gather', scope, 'gather', [table!, index!], {}, general([...di, ...dt.slice(1)]));
  },
});

registerBlock({
  name: 'relative_position_index',
  doc: "The relative position index of window attention, a state_dict buffer named by the call (int64 in PyTorch files): for query i and key j of a window, Σ_a (c_i[a] − c_j[a] + window[a] − 1)·multipliers[a]. Swin's multipliers are [(2w₁−1)(2w₂−1), 2w₂−1, 1].",
  inputs: 0,
  args: [
    { name: 'window', type: T.list(T.posint), doc: 'window size per axis' },
    { name: 'multipliers', type: T.list(T.int), doc: 'one multiplier per axis' },
  ],
  expand(g, scope, _inputs, a) {
    const window = ints(a.window);
    const multipliers = ints(a.multipliers);
    if (multipliers.length !== window.length) {
      g.error('TensorShapeMismatch', [`relative_position_index: ${multipliers.length} multipliers for a ${window.length}-axis window`]);
      return null;
    }
    const n = prod(window);
    const dot = scope.lastIndexOf('.');
    const leaf = scope.slice(dot + 1);
    const recipe = { recipe: 'relative_position_index', window, multipliers };
    const p: ParamSpec = { key: 'value', suffix: leaf, shape: [n, n], role: 'buffer', init: 'recipe', recipe };
    return g.node('buffer', dot < 0 ? '' : scope.slice(0, dot), leaf, [], recipe, general([n, n]), [p]);
  },
});

registerBlock({
  name: 'window_mask',
  doc: 'The attention mask of shifted windows (Swin), a constant [windows, n, n] of 0 and −100 computed at compile time for a padded map of `size` (not a state_dict entry).',
  inputs: 0,
  args: [
    { name: 'size', type: T.list(T.posint), doc: 'padded spatial size' },
    { name: 'window', type: T.list(T.posint), doc: 'window per axis' },
    { name: 'shift', type: T.list(T.int), doc: 'shift per axis' },
  ],
  expand(g, scope, _inputs, a) {
    const size = ints(a.size);
    const window = ints(a.window);
    const shift = ints(a.shift);
    if (window.length !== size.length || shift.length !== size.length || size.some((n, i) => n % window[i]! !== 0)) {
      g.error('TensorShapeMismatch', [`window_mask: windows [${window.join(', ')}] do not tile the size [${size.join(', ')}] (pad the map to a multiple of the window first)`]);
      return null;
    }
    const n = prod(window);
    const nw = prod(size.map((s, i) => s / window[i]!));
    return g.node('buffer', scope, 'mask', [], { recipe: 'shifted_window_mask', size, window, shift }, general([nw, n, n]));
  },
});

registerBlock({
  name: 'group_norm',
  doc: 'nn.GroupNorm(groups, C) of a feature map; parameters `weight`, `bias` when affine.',
  inputs: 1,
  args: [
    { name: 'groups', type: T.posint, doc: 'number of groups (divides the channels)' },
    { name: 'eps', type: T.float, default: 1e-5, doc: 'epsilon' },
    { name: 'affine', type: T.bool, default: true, doc: 'learn weight and bias' },
  ],
  expand(g, scope, [x], a) {
    if (!requireMap(g, x!, 'group_norm')) return null;
    const c = x!.shape.channels;
    if (c % num(a.groups) !== 0) {
      g.error('BadChannels', [`group_norm ${scope}: ${a.groups} groups do not divide ${c} channels`]);
      return null;
    }
    const params: ParamSpec[] = a.affine
      ? [
          { key: 'weight', suffix: 'weight', shape: [c], role: 'norm_weight', init: 'ones' },
          { key: 'bias', suffix: 'bias', shape: [c], role: 'norm_bias', init: 'zeros' },
        ]
      : [];
    return g.node('group_norm', scope, 'group_norm', [x!], { groups: num(a.groups), eps: num(a.eps), affine: a.affine as boolean }, x!.shape, params);
  },
});

registerBlock({
  name: 'batch_norm',
  doc: 'nn.BatchNorm3d/2d in eval mode: (x − running_mean)/sqrt(running_var + eps)·weight + bias per channel; parameters `weight`, `bias`, buffers `running_mean`, `running_var`, `num_batches_tracked`.',
  inputs: 1,
  args: [{ name: 'eps', type: T.float, default: 1e-5, doc: 'epsilon' }],
  expand(g, scope, [x], a) {
    const c = x!.shape.channels;
    const params: ParamSpec[] = [
      { key: 'weight', suffix: 'weight', shape: [c], role: 'norm_weight', init: 'ones' },
      { key: 'bias', suffix: 'bias', shape: [c], role: 'norm_bias', init: 'zeros' },
      { key: 'running_mean', suffix: 'running_mean', shape: [c], role: 'stat', init: 'zeros' },
      { key: 'running_var', suffix: 'running_var', shape: [c], role: 'stat', init: 'ones' },
      { key: 'num_batches_tracked', suffix: 'num_batches_tracked', shape: [], role: 'buffer', init: 'zeros' },
    ];
    return g.node('batch_norm', scope, 'batch_norm', [x!], { eps: num(a.eps) }, x!.shape, params);
  },
});

function padMap(g: GraphBuilder, scope: string, x: TensorRef, before: number[] | null, after: number[]): TensorRef | null {
  const b = before ?? after.map(() => 0);
  if (after.length !== g.spatialDims || b.length !== g.spatialDims || [...after, ...b].some((v) => v < 0)) {
    g.error('TensorShapeMismatch', [`pad of a ${g.spatialDims}-D feature map needs one non-negative entry per spatial axis, got [${b.join(', ')}] and [${after.join(', ')}]`]);
    return null;
  }
  const spatial = x.shape.spatial?.map((n, i) => n + b[i]! + after[i]!) ?? null;
  return g.node('pad', scope, 'pad', [x], { before: b, after }, { channels: x.shape.channels, spatial });
}

registerBlock({
  name: 'max_pool',
  doc: 'Max pooling of a feature map (MaxPool3d / 2d); padding with −∞.',
  inputs: 1,
  args: [
    { name: 'k', type: T.union(T.posint, T.list(T.posint)), doc: 'window, or one per axis' },
    { name: 'stride', type: T.union(T.posint, T.list(T.posint), T.none), default: null, doc: 'stride (default the window)' },
    { name: 'padding', type: T.union(T.int, T.list(T.int)), default: 0, doc: 'padding per side' },
  ],
  expand(g, scope, [x], a) {
    if (!requireMap(g, x!, 'max_pool')) return null;
    const per = (v: Value) => (typeof v === 'number' ? new Array<number>(g.spatialDims).fill(v) : ints(v));
    const k = per(a.k);
    const stride = a.stride === null ? k : per(a.stride);
    const padding = per(a.padding);
    const spatial = x!.shape.spatial?.map((n, i) => Math.floor((n + 2 * padding[i]! - k[i]!) / stride[i]!) + 1) ?? null;
    if (spatial?.some((n) => n < 1)) {
      g.error('SpatialTooSmall', [spatial.join('×'), scope]);
      return null;
    }
    return g.node('max_pool', scope, 'max_pool', [x!], { kernel: k, stride, padding }, { channels: x!.shape.channels, spatial });
  },
});

registerBlock({
  name: 'upsample',
  doc: "Resize of a feature map by an integer `scale`: 'bilinear' (2-D; align_corners as nn.UpsamplingBilinear2d, which sets it true).",
  inputs: 1,
  args: [
    { name: 'scale', type: T.posint, default: 2, doc: 'factor per axis' },
    { name: 'mode', type: T.oneOf('bilinear'), default: 'bilinear', doc: 'interpolation' },
    { name: 'align_corners', type: T.bool, default: true, doc: 'align the corner pixels' },
  ],
  expand(g, scope, [x], a) {
    if (!requireMap(g, x!, 'upsample')) return null;
    if (g.spatialDims !== 2) {
      g.error('WrongInputRank', ["upsample 'bilinear' is 2-D; this network is 3-D"]);
      return null;
    }
    const f = num(a.scale);
    return g.node('upsample', scope, 'upsample', [x!], { scale: f, mode: a.mode as string, align_corners: a.align_corners as boolean }, { channels: x!.shape.channels, spatial: x!.shape.spatial?.map((n) => n * f) ?? null });
  },
});
