/**
 * Rewrite passes: pure functions from IR to IR that compute the same function (exactly, or
 * within a stated float32 tolerance). A back end chooses a pipeline of them (ir/rewrites/index.ts)
 * and executes the rewritten node list. Rewrites never change the parameter list, the outputs
 * or the id of any tensor a node outside the rewritten chain reads.
 */
import type { IRModel, IRNode, IRParam } from '../types.js';

export interface Rewrite {
  /** A stable name (snake_case), used in pipelines, logs and tests. */
  name: string;
  /**
   * Whether the rewritten graph still has a gradient for every parameter the original one had.
   * A rewrite without (`false`) is for forward passes whose gradients nobody takes.
   */
  keepsGradients: boolean;
  apply(ir: IRModel): IRModel;
}

/** Runs `rewrites` in order. */
export function applyRewrites(ir: IRModel, rewrites: readonly Rewrite[]): IRModel {
  return rewrites.reduce((m, r) => r.apply(m), ir);
}

/** Who reads what, in one IR. */
export class Graph {
  readonly byId: Map<string, IRNode>;
  readonly readers = new Map<string, IRNode[]>();
  private readonly params: Map<string, IRParam>;
  private readonly outputs: Set<string>;

  constructor(readonly ir: IRModel) {
    this.byId = new Map(ir.nodes.map((n) => [n.id, n]));
    for (const n of ir.nodes) for (const id of n.inputs) this.readers.set(id, [...(this.readers.get(id) ?? []), n]);
    this.params = new Map(ir.parameters.map((p) => [p.name, p]));
    this.outputs = new Set(ir.outputs);
  }

  /** The one node reading `id`, if exactly one does and `id` is not a model output. */
  soleReader(id: string): IRNode | undefined {
    const r = this.readers.get(id);
    return r?.length === 1 && !this.outputs.has(id) ? r[0] : undefined;
  }

  /** The node producing a node's only input (undefined for nodes with another number of inputs). */
  producer(n: IRNode): IRNode | undefined {
    return n.inputs.length === 1 ? this.byId.get(n.inputs[0]!) : undefined;
  }

  /** The key under which a node lists a parameter with one of `roles`, if any. */
  paramKey(n: IRNode, ...roles: IRParam['role'][]): string | undefined {
    return Object.entries(n.params).find(([, name]) => roles.includes(this.params.get(name)?.role as IRParam['role']))?.[0];
  }

  /** The parameter of `n` with one of `roles`, if any. */
  param(n: IRNode, ...roles: IRParam['role'][]): IRParam | undefined {
    const key = this.paramKey(n, ...roles);
    return key === undefined ? undefined : this.params.get(n.params[key]!);
  }

  /**
   * A dense convolution with a 1×1(×1) kernel, stride 1, no padding and one group, reading one
   * tensor: a per-voxel matrix product, the op the fused pointwise kernels are built around. A
   * weight-standardised conv (TransUNet's StdConv2d) is left alone: its weight is not used as stored.
   */
  isPointwiseConv(n: IRNode): boolean {
    if (n.op !== 'conv' || n.inputs.length !== 1 || n.attrs.standardize !== undefined) return false;
    const w = this.param(n, 'conv_weight');
    const all = (v: unknown, x: number) => v === undefined || v === x || (Array.isArray(v) && v.every((e) => e === x));
    return !!w && w.shape.slice(2).every((k) => k === 1) && all(n.attrs.groups, 1) && all(n.attrs.stride, 1) && all(n.attrs.padding, 0);
  }
}

/**
 * One fused node replacing `chain` (in graph order; the last one's id, output and place are
 * kept): `sink` gives the node's block, stage and source, `parts` names each absorbed node whose
 * parameters it takes over (as `<part>.<key>`).
 */
export function fusedNode(
  rewrite: string,
  op: IRNode['op'],
  chain: IRNode[],
  parts: Record<string, IRNode>,
  inputs: string[],
  attrs: IRNode['attrs'],
  sink: IRNode,
): IRNode {
  const last = chain[chain.length - 1]!;
  const params: Record<string, string> = {};
  for (const [part, n] of Object.entries(parts)) for (const [k, v] of Object.entries(n.params)) params[`${part}.${k}`] = v;
  return {
    id: last.id,
    op,
    inputs,
    attrs,
    params,
    out: last.out,
    block: sink.block,
    stage: sink.stage,
    span: sink.span,
    origin: [...sink.origin, { what: `rewrite ${rewrite}: ${chain.map((n) => `${n.op} ${n.id}`).join(' → ')}`, span: sink.span }],
  };
}

/**
 * Replaces each group of `fused` (keyed by the id it keeps) with its node and drops every node in
 * `gone`. Nodes keep their order; a fused node takes its kept id's place.
 */
export function replaceNodes(ir: IRModel, fused: Map<string, IRNode>, gone: Set<string>): IRModel {
  return { ...ir, nodes: ir.nodes.filter((n) => !gone.has(n.id)).map((n) => fused.get(n.id) ?? n) };
}

/** GroupNorm's attributes as a fused node carries them. */
export function normAttrs(norm: IRNode): { norm_groups: number; norm_eps: number } {
  return {
    norm_groups: typeof norm.attrs.groups === 'number' ? norm.attrs.groups : norm.out.channels,
    norm_eps: typeof norm.attrs.eps === 'number' ? norm.attrs.eps : 1e-5,
  };
}
