import type { ActShape, IRNode, IROp, IRParam, OriginStep, SourceSpan } from '../ir/types.js';
import type { DiagnosticBag } from './diagnostics/diagnostic.js';
import type { MessageKey } from './diagnostics/catalogue.js';

/** A tensor value during expansion: the id of the IR node that produces it, and its shape. */
export interface TensorRef {
  kind: 'tensor';
  id: string;
  shape: ActShape;
}

export interface ParamSpec {
  /** Role in the node (`weight`, `bias`, `gamma`, …). */
  key: string;
  /** Last segment of the state_dict key (`weight`, `bias`, `grn_gamma`). */
  suffix: string;
  shape: number[];
  role: IRParam['role'];
  init: IRParam['init'];
  fanIn?: number;
  initA?: number;
  std?: number;
  value?: number;
  recipe?: Record<string, unknown>;
}

/** Largest tensor (elements) the compiler accepts: protects against absurd specs. */
const MAX_ELEMENTS = 2 ** 34;
const MAX_NODES = 50_000;

/**
 * Collects IR nodes and parameters while the evaluator expands a model. Blocks emit primitive
 * nodes through it; it names parameters by module path, infers nothing on its own, and records
 * for every node the user-written span and expansion chain current at the time.
 */
export class GraphBuilder {
  readonly nodes: IRNode[] = [];
  readonly params: IRParam[] = [];
  private readonly ids = new Set<string>();
  private readonly paramOwners = new Map<string, string>();
  private counter = 0;
  /** Where the current call was written, and how the expansion got there. */
  span!: SourceSpan;
  origin: OriginStep[] = [];
  /** Notes attached to diagnostics of the current call (where its parameter values came from). */
  notes: string[] = [];
  aborted = false;

  constructor(
    readonly diags: DiagnosticBag,
    readonly spatialDims: 2 | 3,
  ) {}

  error(key: MessageKey, args: (string | number)[] = [], span: SourceSpan = this.span): void {
    this.diags.add(key, span, args, this.origin, this.notes);
  }

  uniqueId(base: string): string {
    let id = base;
    while (this.ids.has(id)) id = `${base}_${++this.counter}`;
    return id;
  }

  /** Emits one node; `scope` is the module path of the block it belongs to (`''` at top level). */
  node(op: IROp, scope: string, name: string, inputs: TensorRef[], attrs: IRNode['attrs'], out: ActShape, params: ParamSpec[] = []): TensorRef {
    if (this.nodes.length >= MAX_NODES) {
      if (!this.aborted) this.error('LimitExceeded', [`the network expands to more than ${MAX_NODES} operations; stopping`]);
      this.aborted = true;
    }
    const id = this.uniqueId(scope ? `${scope}.${name}` : name);
    this.ids.add(id);
    const named: Record<string, string> = {};
    for (const p of params) {
      const full = scope ? `${scope}.${p.suffix}` : p.suffix;
      named[p.key] = full;
      this.addParam(full, p, scope);
    }
    const elements = out.channels * (out.spatial ?? []).reduce((a, b) => a * b, 1);
    if (elements > MAX_ELEMENTS) this.error('BadChannels', [`tensor ${id} would have ${elements.toExponential(2)} elements per sample; that is beyond any machine`]);
    this.nodes.push({
      id,
      op,
      inputs: inputs.map((t) => t.id),
      attrs,
      params: named,
      out,
      block: scope,
      stage: scope.split('.')[0] || '(graph)',
      span: this.span,
      origin: [...this.origin],
    });
    return { kind: 'tensor', id, shape: out };
  }

  addParam(full: string, p: ParamSpec, scope: string): void {
    if (this.paramOwners.has(full)) {
      this.error('DuplicateModuleName', [scope || full]);
      return;
    }
    if (p.shape.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) this.error('BadChannels', [`parameter ${full} would have shape [${p.shape}]; that is beyond any machine`]);
    this.paramOwners.set(full, scope);
    this.params.push({
      name: full,
      shape: p.shape,
      role: p.role,
      init: p.init,
      ...(p.fanIn !== undefined ? { fanIn: p.fanIn } : {}),
      ...(p.initA !== undefined ? { initA: p.initA } : {}),
      ...(p.std !== undefined ? { std: p.std } : {}),
      ...(p.value !== undefined ? { value: p.value } : {}),
      ...(p.recipe !== undefined ? { recipe: p.recipe } : {}),
      trainable: p.role !== 'dummy' && p.role !== 'buffer' && p.role !== 'stat',
    });
  }

  /** Parameters in PyTorch `state_dict` order: a module's own parameters first, then its children in creation order. */
  orderedParams(): IRParam[] {
    interface Mod { own: IRParam[]; children: Map<string, Mod> }
    const root: Mod = { own: [], children: new Map() };
    for (const p of this.params) {
      const parts = p.name.split('.');
      let m = root;
      for (const seg of parts.slice(0, -1)) {
        if (!m.children.has(seg)) m.children.set(seg, { own: [], children: new Map() });
        m = m.children.get(seg)!;
      }
      m.own.push(p);
    }
    const out: IRParam[] = [];
    const walk = (m: Mod) => {
      out.push(...m.own);
      for (const c of m.children.values()) walk(c);
    };
    walk(root);
    return out;
  }
}
