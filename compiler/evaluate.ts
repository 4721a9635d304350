import type { Expr, Stmt, BaseModelDecl, BlockDecl } from './ast.js';
import { lookupBlock, blockNames, type BlockKind } from './blocks/registry.js';
import { didYouMean, type DiagnosticBag } from './diagnostics/diagnostic.js';
import type { MessageKey } from './diagnostics/catalogue.js';
import { GraphBuilder, type TensorRef } from './graph.js';
import type { OriginStep, SourceSpan } from '../ir/types.js';
import { POISON, acceptsKernel, containsPoison, describeType, describeValue, isPoison, isTensor, matches, typeFromAst, type Value } from './types.js';
import { emitAdd } from './blocks/primitives.js';
import { emitBinary, emitScale, fullShape } from './blocks/tensor.js';

/**
 * Pass 4, expand: runs a model body with its parameter values, expanding loops, repeats and
 * block calls into a flat graph of primitive IR nodes (through GraphBuilder). Errors are
 * collected, never thrown; a failed value becomes POISON, which silences follow-on errors.
 */

/** Where a model parameter's value came from: shown with errors that the value causes. */
export interface ParamOrigin {
  /** Human description, e.g. "set by scaling rule kernel.k5". */
  what: string;
  span: SourceSpan;
  chain: OriginStep[];
}

/** Functions built into the language (not blocks: they compute values, emit nothing except `input`). */
const BUILTINS = ['len', 'per_stage', 'range', 'reversed', 'min', 'max', 'sum', 'abs', 'channels', 'input', 'dummy_tensor', 'str', 'shape', 'prod'] as const;
const MAX_LOOP = 100_000;
/** Deepest chain of user-block calls (a block calling itself is caught here). */
const MAX_BLOCK_DEPTH = 32;

/** Thrown by `return` inside a user block, caught by the call that entered it. */
class ReturnSignal {
  constructor(readonly value: Value) {}
}

export interface EvalResult {
  graph: GraphBuilder;
  outputs: Map<number, { tensor: TensorRef; span: SourceSpan }>;
  input: TensorRef | null;
  inputSpan: SourceSpan | null;
  hints: Record<string, Value>;
  /** The input size came from the caller's default (neither given nor the spec's own). */
  inputFromDefault: boolean;
}

export class Evaluator {
  private readonly env = new Map<string, Value>();
  private readonly g: GraphBuilder;
  private readonly outputs = new Map<number, { tensor: TensorRef; span: SourceSpan }>();
  private input: TensorRef | null = null;
  private inputSpan: SourceSpan | null = null;
  private inputFromDefault = false;
  private readonly hints: Record<string, Value> = {};
  private loopBudget = MAX_LOOP;
  private readonly assignedNames = new Set<string>();
  private autoName = 0;
  /** Module path of the user block being expanded ('' in the model body): prefixes every name inside. */
  private scopePrefix = '';
  private blockDepth = 0;

  constructor(
    private readonly model: BaseModelDecl,
    private readonly params: Map<string, Value>,
    private readonly paramOrigins: Map<string, ParamOrigin>,
    private readonly diags: DiagnosticBag,
    private readonly inputSize: number[] | null,
    private readonly userBlocks: Map<string, BlockDecl> = new Map(),
    private readonly defaultInputSize: number[] | null = null,
  ) {
    const dim = params.get('dim');
    this.g = new GraphBuilder(diags, dim === '2d' ? 2 : 3);
    this.g.span = model.span;
  }

  run(): EvalResult {
    for (const [k, v] of this.params) this.env.set(k, v);
    this.resolveNames(this.model.body, new Set([...this.params.keys()]));
    for (const b of this.userBlocks.values()) this.resolveNames(b.body, new Set(b.params.map((p) => p.name)));
    this.block(this.model.body);
    return { graph: this.g, outputs: this.outputs, input: this.input, inputSpan: this.inputSpan, hints: this.hints, inputFromDefault: this.inputFromDefault };
  }

  // ---- static name resolution (all branches, before anything runs) ----

  private resolveNames(body: Stmt[], known: Set<string>): void {
    const assigned = new Set<string>();
    const collect = (ss: Stmt[]) => {
      for (const s of ss) {
        if (s.kind === 'assign') {
          const t = s.target.kind === 'index' ? s.target.target : s.target;
          if (t.kind === 'ident') assigned.add(t.name);
        } else if (s.kind === 'for') {
          assigned.add(s.variable);
          collect(s.body);
        } else if (s.kind === 'if') {
          collect(s.then);
          if (s.otherwise) collect(s.otherwise);
        }
      }
    };
    collect(body);
    for (const n of assigned) this.assignedNames.add(n);
    const names = new Set([...known, ...assigned]);
    const walkStmt = (s: Stmt) => {
      switch (s.kind) {
        case 'for':
          walk(s.iterable);
          s.body.forEach(walkStmt);
          break;
        case 'if':
          walk(s.condition);
          s.then.forEach(walkStmt);
          s.otherwise?.forEach(walkStmt);
          break;
        case 'output':
          walk(s.index);
          walk(s.value);
          break;
        case 'assert':
          walk(s.condition);
          break;
        case 'hint':
        case 'return':
          walk(s.value);
          break;
        case 'assign':
          if (s.target.kind === 'index') walk(s.target.index);
          else if (s.target.kind !== 'ident') this.diags.add('InvalidAssignmentTarget', s.target.span);
          if (s.target.kind === 'ident' && (BUILTINS as readonly string[]).includes(s.target.name)) this.diags.add('ReservedName', s.target.span, [s.target.name]);
          walk(s.value);
          break;
        case 'expr':
          walk(s.expr);
          break;
      }
    };
    const walk = (e: Expr): void => {
      switch (e.kind) {
        case 'ident':
          if (!names.has(e.name)) this.diags.add('UnknownName', e.span, [e.name, didYouMean(e.name, names)]);
          return;
        case 'string':
          e.parts.forEach((p) => typeof p !== 'string' && walk(p));
          return;
        case 'list':
          e.items.forEach(walk);
          return;
        case 'binary': {
          // the left spine by a loop (a long chain would otherwise nest as deep as it is long)
          const rights: Expr[] = [];
          let cur: Expr = e;
          for (; cur.kind === 'binary'; cur = cur.left) rights.push(cur.right);
          walk(cur);
          for (let i = rights.length - 1; i >= 0; i--) walk(rights[i]!);
          return;
        }
        case 'unary':
          walk(e.operand);
          return;
        case 'index':
          walk(e.target);
          walk(e.index);
          return;
        case 'if':
          walk(e.condition);
          walk(e.then);
          walk(e.otherwise);
          return;
        case 'repeat':
          walk(e.count);
          walk(e.call);
          return;
        case 'call': {
          const kind = lookupBlock(e.callee);
          const user = this.userBlocks.get(e.callee);
          if (!kind && !user && !(BUILTINS as readonly string[]).includes(e.callee)) {
            this.diags.add('UnknownCallee', e.calleeSpan, [e.callee, didYouMean(e.callee, [...blockNames(), ...this.userBlocks.keys(), ...BUILTINS])]);
          }
          const argNames = kind ? kind.args.map((s) => s.name) : user ? user.params.map((p) => p.name) : null;
          const seen = new Set<string>();
          for (const a of e.args) {
            if (a.name && argNames && !argNames.includes(a.name)) {
              this.diags.add('UnknownArgument', a.nameSpan!, [a.name, e.callee, didYouMean(a.name, argNames)]);
            }
            if (a.name) {
              if (seen.has(a.name)) this.diags.add('DuplicateArgument', a.nameSpan!, [a.name]);
              seen.add(a.name);
            }
            walk(a.value);
          }
          if (e.scope) walk(e.scope);
          return;
        }
        default:
          return;
      }
    };
    body.forEach(walkStmt);
  }

  // ---- statements ----

  private block(ss: Stmt[]): void {
    for (const s of ss) {
      if (this.g.aborted) return;
      this.stmt(s);
    }
  }

  private err(key: MessageKey, span: SourceSpan, args: (string | number)[] = []): Poison {
    this.diags.add(key, span, args, this.g.origin);
    return POISON;
  }

  private stmt(s: Stmt): void {
    switch (s.kind) {
      case 'assign': {
        const v = this.expr(s.value);
        if (s.target.kind === 'ident') {
          this.env.set(s.target.name, v);
        } else if (s.target.kind === 'index' && s.target.target.kind === 'ident') {
          const list = this.env.get(s.target.target.name);
          const idx = this.expr(s.target.index);
          if (isPoison(list) || isPoison(idx)) return;
          if (!Array.isArray(list)) {
            this.err('BadValue', s.target.span, [`'${s.target.target.name}' is not a list`]);
            return;
          }
          if (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 0 || idx > 100_000) {
            this.err('IndexOutOfRange', s.target.index.span, [describeValue(idx), list.length]);
            return;
          }
          const copy = [...list];
          while (copy.length <= idx) copy.push(null);
          copy[idx] = v;
          this.env.set(s.target.target.name, copy);
        }
        return;
      }
      case 'expr':
        this.expr(s.expr);
        return;
      case 'for': {
        const it = this.expr(s.iterable);
        if (isPoison(it)) return;
        if (!Array.isArray(it)) {
          this.err('BadValue', s.iterable.span, [`a for loop needs a list to iterate over, got ${describeValue(it)}`]);
          return;
        }
        for (const v of it) {
          if (--this.loopBudget < 0) {
            this.err('LimitExceeded', s.span, [`more than ${MAX_LOOP} loop iterations; stopping`]);
            this.g.aborted = true;
            return;
          }
          this.env.set(s.variable, v);
          this.g.origin.push({ what: `in iteration ${s.variable} = ${describeValue(v)} of the loop`, span: s.span });
          try {
            this.block(s.body);
          } finally {
            // A `return` inside the loop (in a block) leaves through here.
            this.g.origin.pop();
          }
          if (this.g.aborted) return;
        }
        return;
      }
      case 'if': {
        const c = this.expr(s.condition);
        if (isPoison(c)) return;
        if (typeof c !== 'boolean') {
          this.err('ConditionNotBool', s.condition.span, [describeValue(c)]);
          return;
        }
        if (c) this.block(s.then);
        else if (s.otherwise) this.block(s.otherwise);
        return;
      }
      case 'return':
        if (this.blockDepth === 0) {
          this.err('BadValue', s.span, ["'return' belongs in a block; a model's results are its 'output' statements"]);
          return;
        }
        throw new ReturnSignal(this.expr(s.value));
      case 'output': {
        if (this.blockDepth > 0) {
          this.err('BadOutputs', s.span, ["'output' belongs in the model body; a block gives its result with 'return'"]);
          return;
        }
        const i = this.expr(s.index);
        const v = this.expr(s.value);
        if (isPoison(i) || isPoison(v)) return;
        if (typeof i !== 'number' || !Number.isInteger(i) || i < 0) {
          this.err('BadOutputs', s.index.span, [`an output index must be a non-negative int, got ${describeValue(i)}`]);
          return;
        }
        if (!isTensor(v)) {
          this.err('ExpectedTensor', s.value.span, [`an output must be a tensor, got ${describeValue(v)}`]);
          return;
        }
        if (this.outputs.has(i)) {
          this.err('BadOutputs', s.index.span, [`output ${i} is defined twice`]);
          return;
        }
        this.outputs.set(i, { tensor: v, span: s.span });
        return;
      }
      case 'assert': {
        const c = this.expr(s.condition);
        if (isPoison(c)) return;
        if (typeof c !== 'boolean') {
          this.err('ConditionNotBool', s.condition.span, [describeValue(c)]);
          return;
        }
        if (!c) this.diags.add(s.level === 'error' ? 'AssertionFailed' : 'UserWarning', s.condition.span, [s.message], this.g.origin, this.notesFor([s.condition]));
        return;
      }
      case 'hint':
        this.hints[s.name] = this.expr(s.value);
        return;
    }
  }

  /** Notes naming where non-default parameter values used by these expressions came from. */
  private notesFor(exprs: Expr[]): string[] {
    const used = new Set<string>();
    const walk = (e: Expr) => {
      if (e.kind === 'ident' && this.paramOrigins.has(e.name) && !this.assignedNames.has(e.name)) used.add(e.name);
      for (const v of Object.values(e)) {
        if (v && typeof v === 'object' && 'kind' in v && 'span' in v) walk(v as Expr);
        if (Array.isArray(v)) v.forEach((x) => x && typeof x === 'object' && ('kind' in x ? walk(x as Expr) : 'value' in x && walk((x as { value: Expr }).value)));
      }
    };
    exprs.forEach(walk);
    return [...used].map((n) => {
      const o = this.paramOrigins.get(n)!;
      return `'${n}' = ${describeValue(this.params.get(n) ?? null)} was ${o.what} at ${o.span.file}:${o.span.line}:${o.span.col}`;
    });
  }

  // ---- expressions ----

  expr(e: Expr): Value {
    switch (e.kind) {
      case 'number':
        return e.value;
      case 'bool':
        return e.value;
      case 'none':
        return null;
      case 'error':
        return POISON;
      case 'string': {
        let s = '';
        for (const p of e.parts) {
          if (typeof p === 'string') s += p;
          else {
            const v = this.expr(p);
            if (isPoison(v)) return POISON;
            s += typeof v === 'string' ? v : describeValue(v);
          }
        }
        return s;
      }
      case 'ident': {
        if (!this.env.has(e.name)) {
          // Unknown names were reported by resolveNames; a known one not yet assigned is reported here.
          if (this.assignedNames.has(e.name)) return this.err('UsedBeforeAssignment', e.span, [e.name]);
          return POISON;
        }
        return this.env.get(e.name)!;
      }
      case 'list': {
        const items = e.items.map((i) => this.expr(i));
        return items;
      }
      case 'unary': {
        const v = this.expr(e.operand);
        if (isPoison(v)) return POISON;
        if (e.op === 'not') return typeof v === 'boolean' ? !v : this.err('OperatorType', e.span, ['not', describeValue(v), '']);
        return typeof v === 'number' ? -v : this.err('OperatorType', e.span, ['-', describeValue(v), '']);
      }
      case 'binary':
        return this.binary(e);
      case 'index': {
        const t = this.expr(e.target);
        const i = this.expr(e.index);
        if (isPoison(t) || isPoison(i)) return POISON;
        if (!Array.isArray(t)) return this.err('BadValue', e.target.span, [`only lists can be indexed, got ${describeValue(t)}`]);
        if (typeof i !== 'number' || !Number.isInteger(i)) return this.err('BadValue', e.index.span, [`a list index must be an int, got ${describeValue(i)}`]);
        const j = i < 0 ? t.length + i : i;
        if (j < 0 || j >= t.length) return this.err('IndexOutOfRange', e.index.span, [i, t.length]);
        return t[j]!;
      }
      case 'if': {
        const c = this.expr(e.condition);
        if (isPoison(c)) return POISON;
        if (typeof c !== 'boolean') return this.err('ConditionNotBool', e.condition.span, [describeValue(c)]);
        return c ? this.expr(e.then) : this.expr(e.otherwise);
      }
      case 'call':
        return this.call(e, null);
      case 'repeat': {
        const n = this.expr(e.count);
        if (isPoison(n)) return POISON;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return this.err('BadValue', e.count.span, [`a repeat count must be a non-negative int, got ${describeValue(n)}`]);
        if (n > MAX_LOOP) return this.err('LimitExceeded', e.count.span, [`repeat ${n} is beyond the limit of ${MAX_LOOP}`]);
        return this.call(e.call, n);
      }
    }
  }

  /**
   * A chain `a + b + c + …` is a left-nested tree as deep as it is long: its left spine is walked
   * with a loop (the innermost left operand first, as recursion would), so the stack depth does not
   * grow with the chain's length.
   */
  private binary(e: Expr & { kind: 'binary' }): Value {
    const spine: (Expr & { kind: 'binary' })[] = [];
    let cur: Expr = e;
    while (cur.kind === 'binary') {
      spine.push(cur);
      cur = cur.left;
    }
    let value = this.expr(cur);
    for (let i = spine.length - 1; i >= 0; i--) value = this.applyBinary(spine[i]!, value);
    return value;
  }

  /** One binary operator whose left operand is already evaluated (`l`). */
  private applyBinary(e: Expr & { kind: 'binary' }, l: Value): Value {
    if (e.op === 'and' || e.op === 'or') {
      if (isPoison(l)) return POISON;
      if (typeof l !== 'boolean') return this.err('ConditionNotBool', e.left.span, [describeValue(l)]);
      if (e.op === 'and' && !l) return false;
      if (e.op === 'or' && l) return true;
      const r = this.expr(e.right);
      if (isPoison(r)) return POISON;
      if (typeof r !== 'boolean') return this.err('ConditionNotBool', e.right.span, [describeValue(r)]);
      return r;
    }
    if (e.op === '??') return l === null ? this.expr(e.right) : l;
    const r = this.expr(e.right);
    if (isPoison(l) || isPoison(r)) return POISON;
    const bad = () => this.err('OperatorType', e.opSpan, [e.op, describeValue(l), describeValue(r)]);
    if (isTensor(l) || isTensor(r)) {
      this.g.span = e.span;
      const fns: Record<string, 'add' | 'sub' | 'mul' | 'div'> = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div' };
      const fn = fns[e.op];
      if (isTensor(l) && isTensor(r) && fn) {
        // Two feature maps of one shape: the residual sum every MedNeXt / nnU-Net block has.
        if (fn === 'add' && !l.shape.dims && !r.shape.dims) return emitAdd(this.g, this.scopePrefix, `add_${++this.autoName}`, l, r);
        return emitBinary(this.g, this.scopePrefix, `${fn}_${++this.autoName}`, fn, l, r) ?? POISON;
      }
      // A tensor times (or divided by) a number: a scale.
      if (isTensor(l) && typeof r === 'number' && (e.op === '*' || e.op === '/')) {
        if (e.op === '/' && r === 0) return this.err('DivisionByZero', e.opSpan);
        return emitScale(this.g, this.scopePrefix, `scale_${++this.autoName}`, l, e.op === '*' ? r : 1 / r);
      }
      if (isTensor(r) && typeof l === 'number' && e.op === '*') return emitScale(this.g, this.scopePrefix, `scale_${++this.autoName}`, r, l);
      // Identity: `mask != none`, `a == b` (the same tensor).
      if (e.op === '==' || e.op === '!=') {
        const same = isTensor(l) && isTensor(r) ? l.id === r.id : false;
        return e.op === '==' ? same : !same;
      }
      return bad();
    }
    switch (e.op) {
      case '==':
        return JSON.stringify(l) === JSON.stringify(r);
      case '!=':
        return JSON.stringify(l) !== JSON.stringify(r);
      case '..': {
        if (typeof l !== 'number' || typeof r !== 'number' || !Number.isInteger(l) || !Number.isInteger(r)) return bad();
        if (r - l > MAX_LOOP) return this.err('LimitExceeded', e.span, [`range ${l}..${r} is longer than ${MAX_LOOP}`]);
        return Array.from({ length: Math.max(0, r - l) }, (_, i) => l + i);
      }
    }
    if (Array.isArray(l) && e.op === '+' && Array.isArray(r)) return [...l, ...r];
    if (Array.isArray(l) && e.op === '*' && typeof r === 'number' && Number.isInteger(r)) {
      if (r * l.length > MAX_LOOP) return this.err('LimitExceeded', e.span, [`a list of ${r * l.length} entries is beyond the limit of ${MAX_LOOP}`]);
      return Array.from({ length: Math.max(0, r) }, () => l).flat();
    }
    if (typeof l === 'string' && typeof r === 'string' && e.op === '+') return l + r;
    if (typeof l !== 'number' || typeof r !== 'number') {
      if (['<', '<=', '>', '>='].includes(e.op) && typeof l === 'string' && typeof r === 'string') {
        return e.op === '<' ? l < r : e.op === '<=' ? l <= r : e.op === '>' ? l > r : l >= r;
      }
      return bad();
    }
    switch (e.op) {
      case '+': return l + r;
      case '-': return l - r;
      case '*': return l * r;
      case '/': return r === 0 ? this.err('DivisionByZero', e.opSpan) : l / r;
      case '//': return r === 0 ? this.err('DivisionByZero', e.opSpan) : Math.floor(l / r);
      case '%': return r === 0 ? this.err('DivisionByZero', e.opSpan) : l - r * Math.floor(l / r);
      case '**': {
        const v = l ** r;
        return Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? v : this.err('BadValue', e.span, [`${l} ** ${r} is too large`]);
      }
      case '<': return l < r;
      case '<=': return l <= r;
      case '>': return l > r;
      case '>=': return l >= r;
    }
    return bad();
  }

  /** The module path of a call: its `as "name"` (or an automatic name) under the enclosing user block's path. */
  private scopeName(call: Expr & { kind: 'call' }, fallback: string): string | null {
    const within = (name: string) => (this.scopePrefix ? `${this.scopePrefix}.${name}` : name);
    if (!call.scope) return within(`${fallback}_${++this.autoName}`);
    const s = this.expr(call.scope);
    if (isPoison(s)) return null;
    if (typeof s !== 'string' || !/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/.test(s)) {
      this.err('BadValue', call.scope.span, [`a module name must be a dotted identifier such as "enc_block_0", got ${describeValue(s)}`]);
      return null;
    }
    return within(s);
  }

  /** A call of a user-defined block: bind its parameters, run its body under its module path, return its `return` value. */
  private callUserBlock(decl: BlockDecl, call: Expr & { kind: 'call' }, repeat: number | null): Value {
    if (this.blockDepth >= MAX_BLOCK_DEPTH) return this.err('LimitExceeded', call.calleeSpan, [`blocks call each other more than ${MAX_BLOCK_DEPTH} deep (does '${decl.name}' call itself?)`]);
    const types = decl.params.map((p) => typeFromAst(p.type, []));
    const positional = call.args.filter((a) => a.name === null);
    if (positional.length > decl.params.length) return this.err('BadValue', call.span, [`'${decl.name}' takes ${decl.params.length} arguments, got ${call.args.length}`]);
    const notes = this.notesFor(call.args.map((a) => a.value));
    const bound = new Map<string, Value>();
    let failed = false;
    for (let i = 0; i < decl.params.length; i++) {
      const p = decl.params[i]!;
      const a = i < positional.length ? positional[i] : call.args.find((x) => x.name === p.name);
      let v: Value;
      if (a) v = this.expr(a.value);
      else if (p.default) {
        // Defaults may use the parameters before them.
        const saved = new Map(this.env);
        for (const [k, x] of bound) this.env.set(k, x);
        v = this.expr(p.default);
        this.env.clear();
        for (const [k, x] of saved) this.env.set(k, x);
      } else {
        this.err('MissingArgument', call.calleeSpan, [p.name, decl.name, `declared at ${p.span.file}:${p.span.line}:${p.span.col}`]);
        failed = true;
        continue;
      }
      if (containsPoison(v)) failed = true;
      else if (!matches(types[i]!, v)) {
        const span = a?.value.span ?? call.calleeSpan;
        if (acceptsKernel(types[i]!) && typeof v === 'number') this.diags.add('BadKernelSize', span, [describeValue(v)], this.g.origin, notes);
        else this.diags.add('ArgTypeMismatch', span, [p.name, decl.name, describeType(types[i]!), describeValue(v)], this.g.origin, notes);
        failed = true;
      }
      bound.set(p.name, v);
    }
    if (failed) return POISON;
    const scope = this.scopeName(call, decl.name);
    if (scope === null) return POISON;
    if (repeat === null) return this.runUserBlock(decl, call, scope, bound);
    // `repeat N block(x, …)`: the first tensor parameter carries the chain.
    const chain = decl.params.find((_, i) => types[i]!.kind === 'tensor');
    if (!chain) return this.err('BadValue', call.calleeSpan, [`'${decl.name}' has no tensor parameter to repeat over`]);
    let x: Value = bound.get(chain.name)!;
    for (let j = 0; j < repeat && !isPoison(x) && !this.g.aborted; j++) {
      this.g.origin.push({ what: `in repetition ${j + 1} of ${repeat} of '${decl.name}'`, span: call.span });
      x = this.runUserBlock(decl, call, `${scope}.${j}`, new Map([...bound, [chain.name, x]]));
      this.g.origin.pop();
      if (!isPoison(x) && !isTensor(x)) return this.err('ExpectedTensor', call.calleeSpan, [`repeat needs '${decl.name}' to return a tensor, got ${describeValue(x)}`]);
    }
    return x;
  }

  private runUserBlock(decl: BlockDecl, call: Expr & { kind: 'call' }, scope: string, bound: Map<string, Value>): Value {
    const savedEnv = new Map(this.env);
    const savedPrefix = this.scopePrefix;
    this.env.clear();
    for (const [k, v] of bound) this.env.set(k, v);
    this.scopePrefix = scope;
    this.blockDepth++;
    this.g.origin.push({ what: `in block '${decl.name}' called as "${scope}"`, span: call.span });
    try {
      this.block(decl.body);
      return this.err('BadValue', decl.span, [`block '${decl.name}' ends without 'return'`]);
    } catch (e) {
      if (e instanceof ReturnSignal) return e.value;
      throw e;
    } finally {
      this.g.origin.pop();
      this.blockDepth--;
      this.scopePrefix = savedPrefix;
      this.env.clear();
      for (const [k, v] of savedEnv) this.env.set(k, v);
    }
  }

  private call(call: Expr & { kind: 'call' }, repeat: number | null): Value {
    const user = this.userBlocks.get(call.callee);
    if (user) return this.callUserBlock(user, call, repeat);
    const kind = lookupBlock(call.callee);
    if (!kind) {
      if (repeat !== null) return this.err('BadValue', call.calleeSpan, [`only blocks can be repeated; '${call.callee}' is a function`]);
      return this.builtin(call);
    }
    const positional = call.args.filter((a) => a.name === null);
    const named = call.args.filter((a) => a.name !== null);
    const nIn = kind.inputs === 'many' ? positional.length : kind.inputs;
    if (kind.inputs !== 'many' && positional.length !== nIn) {
      return this.err('BadValue', call.span, [`'${kind.name}' takes ${nIn} tensor input${nIn === 1 ? '' : 's'} before its named arguments, got ${positional.length}`]);
    }
    const inputs: TensorRef[] = [];
    for (const p of positional) {
      const v = this.expr(p.value);
      if (isPoison(v)) return POISON;
      if (!isTensor(v)) return this.err('ExpectedTensor', p.value.span, [`'${kind.name}' needs a tensor input here, got ${describeValue(v)}`]);
      inputs.push(v);
    }
    const args: Record<string, Value> = {};
    let failed = false;
    const notes = this.notesFor(call.args.map((a) => a.value));
    for (const spec of kind.args) {
      const a = named.find((x) => x.name === spec.name);
      let v: Value;
      if (a) v = this.expr(a.value);
      else if (spec.default !== undefined) v = typeof spec.default === 'function' ? spec.default(inputs) : spec.default;
      else {
        this.err('MissingArgument', call.calleeSpan, [spec.name, kind.name, spec.doc]);
        failed = true;
        continue;
      }
      if (containsPoison(v)) {
        failed = true;
        continue;
      }
      if (!matches(spec.type, v)) {
        const span = a?.value.span ?? call.calleeSpan;
        if (spec.type.kind === 'kernel' && typeof v === 'number') this.diags.add('BadKernelSize', span, [describeValue(v)], this.g.origin, notes);
        else this.diags.add('ArgTypeMismatch', span, [spec.name, kind.name, describeType(spec.type), describeValue(v)], this.g.origin, notes);
        failed = true;
        continue;
      }
      args[spec.name] = v;
    }
    if (failed || named.some((a) => !kind.args.some((s) => s.name === a.name))) return POISON;
    const scope = this.scopeName(call, kind.name);
    if (scope === null) return POISON;
    return this.expand(kind, call, scope, inputs, args, repeat, notes);
  }

  private expand(kind: BlockKind, call: Expr & { kind: 'call' }, scope: string, inputs: TensorRef[], args: Record<string, Value>, repeat: number | null, notes: string[]): Value {
    const savedNotes = this.g.notes;
    this.g.notes = notes;
    try {
      if (repeat === null) {
        this.g.span = call.span;
        return kind.expand(this.g, scope, inputs, args) ?? POISON;
      }
      let x: TensorRef | null = inputs[0] ?? null;
      for (let j = 0; j < repeat && x && !this.g.aborted; j++) {
        this.g.span = call.span;
        this.g.origin.push({ what: `in repetition ${j + 1} of ${repeat} of '${kind.name}'`, span: call.span });
        // Defaults that depend on the input (e.g. `out`) follow the chained tensor.
        x = kind.expand(this.g, `${scope}.${j}`, [x, ...inputs.slice(1)], args);
        this.g.origin.pop();
      }
      return x ?? POISON;
    } finally {
      this.g.notes = savedNotes;
    }
  }

  private builtin(call: Expr & { kind: 'call' }): Value {
    const args = call.args.map((a) => ({ name: a.name, value: this.expr(a.value), span: a.value.span }));
    if (args.some((a) => containsPoison(a.value) && call.callee !== 'input')) return POISON;
    const pos = args.filter((a) => a.name === null).map((a) => a.value);
    const named = Object.fromEntries(args.filter((a) => a.name !== null).map((a) => [a.name!, a.value]));
    const bad = (msg: string) => this.err('BadValue', call.span, [msg]);
    const numbers = (vs: Value[]) => vs.every((v) => typeof v === 'number');
    switch (call.callee) {
      case 'len': {
        const v = pos[0];
        if (Array.isArray(v) || typeof v === 'string') return v.length;
        return bad(`len() needs a list, got ${describeValue(v ?? null)}`);
      }
      case 'str':
        return typeof pos[0] === 'string' ? pos[0] : describeValue(pos[0] ?? null);
      case 'per_stage': {
        // per_stage(v, n): an int becomes [v] * n; a list must have exactly n entries.
        const [v, n] = pos;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return bad(`per_stage(value, n) needs a positive int n, got ${describeValue(n ?? null)}`);
        if (Array.isArray(v)) {
          if (v.length !== n) {
            const argExpr = call.args[0]!.value;
            const name = argExpr.kind === 'ident' ? argExpr.name : 'the list';
            this.diags.add('StageListLength', argExpr.span, [name, v.length, n], this.g.origin, this.notesFor([argExpr]));
            return POISON;
          }
          return v;
        }
        return Array.from({ length: n }, () => v ?? null);
      }
      case 'range': {
        if (!numbers(pos) || pos.length < 1 || pos.length > 2) return bad('range(end) or range(start, end) needs ints');
        const [a, b] = pos.length === 1 ? [0, pos[0] as number] : [pos[0] as number, pos[1] as number];
        if (b - a > MAX_LOOP) return bad(`range of ${b - a} is beyond the limit of ${MAX_LOOP}`);
        return Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
      }
      case 'reversed':
        return Array.isArray(pos[0]) ? [...pos[0]].reverse() : bad('reversed() needs a list');
      case 'min':
      case 'max':
      case 'sum': {
        const xs = pos.length === 1 && Array.isArray(pos[0]) ? pos[0] : pos;
        if (!numbers(xs) || (xs.length === 0 && call.callee !== 'sum')) return bad(`${call.callee}() needs numbers`);
        const ns = xs as number[];
        return call.callee === 'sum' ? ns.reduce((a, b) => a + b, 0) : call.callee === 'min' ? Math.min(...ns) : Math.max(...ns);
      }
      case 'abs':
        return typeof pos[0] === 'number' ? Math.abs(pos[0]) : bad('abs() needs a number');
      case 'channels':
        return isTensor(pos[0]) ? pos[0].shape.channels : bad(`channels() needs a tensor, got ${describeValue(pos[0] ?? null)}`);
      case 'shape': {
        // The per-sample shape: [C, *spatial] of a feature map, the dims of a general tensor.
        if (!isTensor(pos[0])) return bad(`shape() needs a tensor, got ${describeValue(pos[0] ?? null)}`);
        const s = fullShape(pos[0]);
        return s ? [...s] : bad('shape() needs the input size (give --input-size or input(size: …))');
      }
      case 'prod': {
        const xs = pos.length === 1 && Array.isArray(pos[0]) ? pos[0] : pos;
        return numbers(xs) ? (xs as number[]).reduce((a, b) => a * b, 1) : bad('prod() needs numbers');
      }
      case 'input': {
        const c = named.channels ?? pos[0];
        const dims = named.dims ?? this.g.spatialDims;
        if (isPoison(c) || isPoison(dims)) return POISON;
        if (typeof c !== 'number' || !Number.isInteger(c) || c < 1) return this.err('BadChannels', call.span, [`input channels must be a positive int, got ${describeValue(c ?? null)}`]);
        if (dims !== 2 && dims !== 3) return this.err('WrongInputRank', call.span, [`input dims must be 2 or 3, got ${describeValue(dims)}`]);
        if (this.input) return this.err('BadValue', call.span, ['input() may be called once']);
        // Without a size from the caller, the spec's own `size:` (e.g. a transformer's img_size) is used.
        const own = named.size;
        if (own !== undefined && own !== null && !(Array.isArray(own) && own.length === dims && own.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 1))) {
          return this.err('WrongInputRank', call.span, [`input size must be a list of ${describeValue(dims)} positive ints, got ${describeValue(own)}`]);
        }
        let spatial = this.inputSize ?? ((own as number[] | undefined) ?? null);
        if (!spatial && this.defaultInputSize) {
          // A 2-D network takes the default's last two axes.
          spatial = this.defaultInputSize.slice(-dims);
          this.inputFromDefault = true;
        }
        if (spatial && spatial.length !== dims) {
          this.err('WrongInputRank', call.span, [`the input size has ${spatial.length} axes but this is a ${dims}-D network (dim = "${dims}d")`]);
          spatial = null;
        }
        (this.g as { spatialDims: 2 | 3 }).spatialDims = dims;
        this.g.span = call.span;
        this.input = this.g.node('input', '', 'input', [], {}, { channels: c, spatial });
        this.inputSpan = call.span;
        return this.input;
      }
      case 'dummy_tensor': {
        const scope = this.scopeName(call, 'dummy_tensor');
        if (scope === null) return POISON;
        this.g.span = call.span;
        this.g.addParam(scope, { key: 'dummy', suffix: scope, shape: [1], role: 'dummy', init: 'ones' }, '');
        return null;
      }
    }
    return POISON;
  }
}

type Poison = typeof POISON;
