import type { CstNode, IToken, CstElement } from 'chevrotain';
import { MAX_NESTING, parseText } from '../grammar/parser.js';
import type { SourceSpan } from '../ir/types.js';
import type { Assign, BinaryOp, CallArg, Expr, FileAst, ModelDecl, ParamDecl, Stmt, TypeExpr } from './ast.js';
import type { DiagnosticBag } from './diagnostics/diagnostic.js';
import { spanAt } from './source.js';

/**
 * Pass 1, parse → AST: lexes and parses a file (all syntax errors, with recovery), then turns
 * the concrete syntax tree into the AST. Syntax errors go into the bag; the AST of whatever
 * parsed is returned so later passes can report their errors too.
 */
type Children = Record<string, CstElement[] | undefined>;

function isToken(e: CstElement): e is IToken {
  return (e as IToken).image !== undefined;
}

class AstBuilder {
  constructor(
    private readonly file: string,
    private readonly diags: DiagnosticBag,
    /** Offsets for sub-parses (string interpolations): line/column of the first character. */
    private readonly lineBase = 0,
    private readonly colBase = 0,
  ) {}

  tokSpan(t: IToken): SourceSpan {
    const line = (t.startLine ?? 1) + this.lineBase;
    const col = (t.startColumn ?? 1) + (t.startLine === 1 ? this.colBase : 0);
    return spanAt(this.file, line, col, t.image.length);
  }

  nodeSpan(n: CstNode): SourceSpan {
    const loc = n.location;
    if (!loc || !Number.isFinite(loc.startLine)) {
      const first = firstToken(n);
      return first ? this.tokSpan(first) : spanAt(this.file, 1 + this.lineBase, 1);
    }
    const line = loc.startLine! + this.lineBase;
    const col = loc.startColumn! + (loc.startLine === 1 ? this.colBase : 0);
    const length = loc.endLine === loc.startLine && Number.isFinite(loc.endColumn) ? loc.endColumn! - loc.startColumn! + 1 : 1_000;
    return spanAt(this.file, line, col, length);
  }

  file_(cst: CstNode): FileAst {
    const c = cst.children as Children;
    const ast: FileAst = { path: this.file, imports: [], models: [], blocks: [], scalings: [], variants: [] };
    for (const n of (c.importDecl ?? []) as CstNode[]) {
      const t = tok(n, 'StringLiteral');
      if (t) ast.imports.push({ path: unquote(t.image), span: this.tokSpan(t) });
    }
    for (const n of (c.blockDecl ?? []) as CstNode[]) {
      const name = tok(n, 'Identifier');
      const b = nodes(n, 'body')[0];
      if (name) ast.blocks.push({ name: name.image, span: this.tokSpan(name), params: this.params(n), body: b ? this.body(b) : [] });
    }
    for (const n of (c.modelDecl ?? []) as CstNode[]) {
      const m = this.model(n);
      if (m) ast.models.push(m);
    }
    for (const n of (c.scalingDecl ?? []) as CstNode[]) {
      const name = tok(n, 'Identifier');
      if (!name) continue;
      ast.scalings.push({
        name: name.image,
        span: this.tokSpan(name),
        options: nodes(n, 'scalingOption').flatMap((o) => {
          const id = tok(o, 'Identifier');
          const a = nodes(o, 'assignments')[0];
          return id ? [{ name: id.image, span: this.tokSpan(id), assigns: a ? this.assignments(a) : [] }] : [];
        }),
      });
    }
    for (const n of (c.variantDecl ?? []) as CstNode[]) {
      const name = tok(n, 'Identifier');
      if (!name) continue;
      const a = nodes(n, 'assignments')[0];
      ast.variants.push({
        name: name.image,
        span: this.tokSpan(name),
        rules: nodes(n, 'ruleRef').flatMap((r) => {
          const rule = tok(r, 'rule');
          const option = tok(r, 'option');
          return rule && option ? [{ rule: rule.image, option: option.image, span: this.nodeSpan(r) }] : [];
        }),
        assigns: a ? this.assignments(a) : [],
      });
    }
    return ast;
  }

  model(n: CstNode): ModelDecl | null {
    const name = tok(n, 'Identifier');
    if (!name) return null;
    const derived = nodes(n, 'derivedModel')[0];
    if (derived) {
      const base = tok(derived, 'base');
      const variant = tok(derived, 'variant');
      const a = nodes(derived, 'assignments')[0];
      if (!base) return null;
      return {
        kind: 'derived',
        name: name.image,
        span: this.tokSpan(name),
        base: base.image,
        baseSpan: this.tokSpan(base),
        variant: variant ? { name: variant.image, span: this.tokSpan(variant) } : null,
        assigns: a ? this.assignments(a) : [],
      };
    }
    const body = nodes(n, 'body')[0];
    return { kind: 'model', name: name.image, span: this.tokSpan(name), params: this.params(n), body: body ? this.body(body) : [] };
  }

  /** The parameter list of a model or block declaration. */
  params(n: CstNode): ParamDecl[] {
    const params: ParamDecl[] = [];
    for (const p of nodes(nodes(n, 'paramList')[0], 'param')) {
      const id = tok(p, 'Identifier');
      const ty = nodes(p, 'typeExpr')[0];
      if (!id || !ty) continue;
      const def = nodes(p, 'expression')[0];
      params.push({ name: id.image, span: this.tokSpan(id), type: this.typeExpr(ty), default: def ? this.expr(def) : null });
    }
    return params;
  }

  typeExpr(n: CstNode): TypeExpr {
    const atoms = nodes(n, 'typeAtom').map((a) => this.typeAtom(a));
    return atoms.length === 1 ? atoms[0]! : { kind: 'union', options: atoms, span: this.nodeSpan(n) };
  }

  typeAtom(n: CstNode): TypeExpr {
    const id = tok(n, 'Identifier');
    if (id) {
      const inner = nodes(n, 'typeExpr')[0];
      return { kind: 'named', name: id.image, arg: inner ? this.typeExpr(inner) : null, span: this.nodeSpan(n) };
    }
    const s = tok(n, 'StringLiteral');
    if (s) return { kind: 'literal', value: unquote(s.image), span: this.tokSpan(s) };
    return { kind: 'none', span: this.nodeSpan(n) };
  }

  assignments(n: CstNode): Assign[] {
    return nodes(n, 'assignment').flatMap((a) => {
      const id = tok(a, 'Identifier');
      const e = nodes(a, 'expression')[0];
      return id && e ? [{ name: id.image, span: this.tokSpan(id), value: this.expr(e) }] : [];
    });
  }

  body(n: CstNode): Stmt[] {
    return nodes(n, 'statement').flatMap((s) => {
      const st = this.statement(s);
      return st ? [st] : [];
    });
  }

  statement(n: CstNode): Stmt | null {
    const c = n.children as Children;
    const span = this.nodeSpan(n);
    const f = (c.forStmt?.[0] as CstNode | undefined);
    if (f) {
      const id = tok(f, 'Identifier');
      const it = nodes(f, 'expression')[0];
      const b = nodes(f, 'body')[0];
      if (!id || !it) return null;
      return { kind: 'for', variable: id.image, varSpan: this.tokSpan(id), iterable: this.expr(it), body: b ? this.body(b) : [], span };
    }
    const i = c.ifStmt?.[0] as CstNode | undefined;
    if (i) return this.ifStmt(i);
    const o = c.outputStmt?.[0] as CstNode | undefined;
    if (o) {
      const idx = nodes(o, 'index')[0];
      const val = nodes(o, 'value')[0];
      if (!idx || !val) return null;
      return { kind: 'output', index: this.expr(idx), value: this.expr(val), span };
    }
    const a = c.assertStmt?.[0] as CstNode | undefined;
    if (a) {
      const cond = nodes(a, 'expression')[0];
      const msg = tok(a, 'StringLiteral');
      if (!cond) return null;
      return { kind: 'assert', level: tok(a, 'Warn') ? 'warning' : 'error', condition: this.expr(cond), message: msg ? unquote(msg.image) : '', span };
    }
    const ret = c.returnStmt?.[0] as CstNode | undefined;
    if (ret) {
      const v = nodes(ret, 'expression')[0];
      return v ? { kind: 'return', value: this.expr(v), span } : null;
    }
    const h = c.hintStmt?.[0] as CstNode | undefined;
    if (h) {
      const id = tok(h, 'Identifier');
      const v = nodes(h, 'expression')[0];
      if (!id || !v) return null;
      return { kind: 'hint', name: id.image, value: this.expr(v), span };
    }
    const e = c.exprStmt?.[0] as CstNode | undefined;
    if (e) {
      const target = nodes(e, 'target')[0];
      const value = nodes(e, 'value')[0];
      if (!target) return null;
      if (value) return { kind: 'assign', target: this.expr(target), value: this.expr(value), span };
      return { kind: 'expr', expr: this.expr(target), span };
    }
    return null;
  }

  ifStmt(n: CstNode): Stmt | null {
    const cond = nodes(n, 'expression')[0];
    const bodies = nodes(n, 'body');
    const elseIf = nodes(n, 'ifStmt')[0];
    if (!cond) return null;
    const otherwise = elseIf ? [this.ifStmt(elseIf)].filter((s): s is Stmt => s !== null) : bodies[1] ? this.body(bodies[1]) : null;
    return { kind: 'if', condition: this.expr(cond), then: bodies[0] ? this.body(bodies[0]) : [], otherwise, span: this.nodeSpan(n) };
  }

  /** Left-associative chains: expression (??), orExpr, andExpr, additive, multiplicative. */
  chain(n: CstNode, map: (op: IToken | undefined, n: CstNode) => BinaryOp): Expr {
    const operands = nodes(n, 'operands');
    const ops = ((n.children as Children).op as IToken[] | undefined) ?? opTokens(n);
    let left = this.expr(operands[0]);
    for (let i = 1; i < operands.length; i++) {
      const right = this.expr(operands[i]);
      const opTok = ops[i - 1];
      left = {
        kind: 'binary',
        op: map(opTok, n),
        left,
        right,
        opSpan: opTok ? this.tokSpan(opTok) : left.span,
        span: joinSpans(left.span, right.span),
      };
    }
    return left;
  }

  expr(n: CstNode | undefined): Expr {
    // Error recovery can leave a rule without its children: such a hole becomes an error node.
    if (!n) return { kind: 'error', span: spanAt(this.file, 1 + this.lineBase, 1) };
    const span = this.nodeSpan(n);
    const c = n.children as Children;
    switch (n.name) {
      case 'expression':
        return this.chain(n, () => '??');
      case 'orExpr':
        return this.chain(n, () => 'or');
      case 'andExpr':
        return this.chain(n, () => 'and');
      case 'notExpr': {
        const inner = nodes(n, 'notExpr')[0];
        if (inner) return { kind: 'unary', op: 'not', operand: this.expr(inner), span };
        return this.expr(nodes(n, 'comparison')[0]);
      }
      case 'comparison':
        return this.chain(n, (op) => (op?.image ?? '==') as BinaryOp);
      case 'rangeExpr':
        return this.chain(n, () => '..');
      case 'additive':
      case 'multiplicative':
        return this.chain(n, (op) => (op?.image ?? '+') as BinaryOp);
      case 'unary': {
        const inner = nodes(n, 'unary')[0];
        if (inner) return { kind: 'unary', op: '-', operand: this.expr(inner), span };
        return this.expr(nodes(n, 'power')[0]);
      }
      case 'power': {
        const base = this.expr(nodes(n, 'postfix')[0]);
        const exp = nodes(n, 'unary')[0];
        const opTok = tok(n, 'StarStar');
        if (!exp) return base;
        const right = this.expr(exp);
        return { kind: 'binary', op: '**', left: base, right, opSpan: opTok ? this.tokSpan(opTok) : span, span };
      }
      case 'postfix':
        return this.postfix(n);
      case 'primary':
        return this.primary(n);
      default:
        return { kind: 'error', span };
    }
  }

  postfix(n: CstNode): Expr {
    const c = n.children as Children;
    const prim = nodes(n, 'primary')[0];
    if (!prim) return { kind: 'error', span: this.nodeSpan(n) };
    let e = this.primary(prim);
    // Suffixes in source order.
    const suffixes = [...nodes(n, 'indexSuffix'), ...nodes(n, 'callSuffix')].sort((a, b) => (a.location?.startOffset ?? 0) - (b.location?.startOffset ?? 0));
    for (const s of suffixes) {
      if (s.name === 'indexSuffix') {
        const idx = nodes(s, 'expression')[0];
        e = { kind: 'index', target: e, index: idx ? this.expr(idx) : { kind: 'error', span: this.nodeSpan(s) }, span: joinSpans(e.span, this.nodeSpan(s)) };
      } else {
        if (e.kind !== 'ident') {
          this.diags.add('SyntaxError', e.span, ['only a named block or function can be called']);
          return { kind: 'error', span: e.span };
        }
        e = { kind: 'call', callee: e.name, calleeSpan: e.span, args: this.args(s), scope: null, span: joinSpans(e.span, this.nodeSpan(s)) };
      }
    }
    const scope = c.scope?.[0] as IToken | undefined;
    if (scope) {
      const scopeExpr = this.stringLiteral(scope);
      if (e.kind === 'call') e.scope = scopeExpr;
      else if (e.kind === 'repeat') e.call.scope = scopeExpr;
      else this.diags.add('SyntaxError', this.tokSpan(scope), ["'as \"name\"' names a block call; put it after the call"]);
    }
    return e;
  }

  args(s: CstNode): CallArg[] {
    return nodes(s, 'argument').flatMap((a) => {
      const name = tok(a, 'name');
      const v = nodes(a, 'expression')[0];
      if (!v) return [];
      return [{ name: name?.image ?? null, nameSpan: name ? this.tokSpan(name) : null, value: this.expr(v) }];
    });
  }

  primary(n: CstNode): Expr {
    const c = n.children as Children;
    const span = this.nodeSpan(n);
    const t = (name: string) => c[name]?.[0] as IToken | undefined;
    let k: IToken | undefined;
    if ((k = t('Int')) || (k = t('Float'))) {
      const value = Number(k.image);
      const isFloat = k.tokenType.name === 'Float';
      if (!Number.isFinite(value) || (!isFloat && !Number.isSafeInteger(value))) {
        this.diags.add('NumberTooLarge', this.tokSpan(k), [k.image.length > 24 ? k.image.slice(0, 20) + '…' : k.image]);
        return { kind: 'error', span };
      }
      return { kind: 'number', value, isFloat, span: this.tokSpan(k) };
    }
    if ((k = t('StringLiteral'))) return this.stringLiteral(k);
    if (t('True')) return { kind: 'bool', value: true, span };
    if (t('False')) return { kind: 'bool', value: false, span };
    if (t('None')) return { kind: 'none', span };
    if ((k = t('Identifier'))) return { kind: 'ident', name: k.image, span: this.tokSpan(k) };
    const paren = nodes(n, 'parenExpr')[0];
    if (paren) {
      const inner = nodes(paren, 'expression')[0];
      return inner ? this.expr(inner) : { kind: 'error', span };
    }
    const list = nodes(n, 'listExpr')[0];
    if (list) return { kind: 'list', items: nodes(list, 'expression').map((e) => this.expr(e)), span };
    const ife = nodes(n, 'ifExpr')[0];
    if (ife) {
      const [cond, th, ot] = [nodes(ife, 'condition')[0], nodes(ife, 'then')[0], nodes(ife, 'otherwise')[0]];
      if (!cond || !th || !ot) return { kind: 'error', span };
      return { kind: 'if', condition: this.expr(cond), then: this.expr(th), otherwise: this.expr(ot), span };
    }
    const rep = nodes(n, 'repeatExpr')[0];
    if (rep) {
      const countNode = nodes(rep, 'count')[0];
      const callee = tok(rep, 'callee');
      const call = nodes(rep, 'callSuffix')[0];
      if (!countNode || !callee || !call) return { kind: 'error', span };
      let count = this.primary(countNode);
      for (const s of nodes(rep, 'indexSuffix')) {
        const idx = nodes(s, 'expression')[0];
        count = { kind: 'index', target: count, index: idx ? this.expr(idx) : { kind: 'error', span }, span: joinSpans(count.span, this.nodeSpan(s)) };
      }
      const calleeSpan = this.tokSpan(callee);
      return {
        kind: 'repeat',
        count,
        call: { kind: 'call', callee: callee.image, calleeSpan, args: this.args(call), scope: null, span: joinSpans(calleeSpan, this.nodeSpan(call)) },
        span,
      };
    }
    return { kind: 'error', span };
  }

  /** A string literal, with `{expr}` interpolations parsed as expressions. `{{` and `}}` are literal braces. */
  stringLiteral(t: IToken): Expr {
    const span = this.tokSpan(t);
    const raw = t.image.slice(1, -1);
    const parts: (string | Expr)[] = [];
    let text = '';
    for (let i = 0; i < raw.length; i++) {
      const ch = raw[i]!;
      if (ch === '\\' && i + 1 < raw.length) {
        const nx = raw[++i]!;
        text += nx === 'n' ? '\n' : nx === 't' ? '\t' : nx;
      } else if (ch === '{' && raw[i + 1] === '{') {
        text += '{';
        i++;
      } else if (ch === '}' && raw[i + 1] === '}') {
        text += '}';
        i++;
      } else if (ch === '{') {
        const end = raw.indexOf('}', i);
        if (end < 0) {
          this.diags.add('BadInterpolation', span, ["'{' without a matching '}'"]);
          break;
        }
        if (text) parts.push(text);
        text = '';
        const inner = raw.slice(i + 1, end);
        const sub = new AstBuilder(this.file, this.diags, span.line - 1, span.col + i);
        const parsed = parseText(inner, 'expression');
        if (!parsed.cst || parsed.parseErrors.length || parsed.lexErrors.length || !inner.trim()) {
          this.diags.add('BadInterpolation', { ...span, col: span.col + 1 + i, length: inner.length + 2 }, [`'{${inner}}' is not an expression`]);
        } else {
          parts.push(sub.expr(parsed.cst));
        }
        i = end;
      } else {
        text += ch;
      }
    }
    if (text || parts.length === 0) parts.push(text);
    return { kind: 'string', parts, span };
  }
}

function nodes(n: CstNode | undefined, name: string): CstNode[] {
  return ((n?.children as Children | undefined)?.[name] ?? []).filter((e): e is CstNode => !isToken(e));
}

function tok(n: CstNode | undefined, name: string): IToken | undefined {
  const t = (n?.children as Children | undefined)?.[name]?.[0];
  return t && isToken(t) && !t.isInsertedInRecovery && Number.isFinite(t.startOffset) ? t : undefined;
}

function firstToken(n: CstNode): IToken | undefined {
  let best: IToken | undefined;
  for (const els of Object.values(n.children)) {
    for (const e of els ?? []) {
      const t = isToken(e) ? e : firstToken(e);
      if (t && Number.isFinite(t.startOffset) && (!best || t.startOffset < best.startOffset)) best = t;
    }
  }
  return best;
}

/** Operator tokens of a chain rule whose operators are not labelled (`??`, `or`, `and`, `..`). */
function opTokens(n: CstNode): IToken[] {
  const c = n.children as Children;
  return ([...(c.Coalesce ?? []), ...(c.Or ?? []), ...(c.And ?? []), ...(c.DotDot ?? [])] as IToken[]).sort((a, b) => a.startOffset - b.startOffset);
}

function joinSpans(a: SourceSpan, b: SourceSpan): SourceSpan {
  if (a.line !== b.line) return { ...a, length: 1_000 };
  return { ...a, length: Math.max(a.length, b.col + b.length - a.col) };
}

export function unquote(image: string): string {
  return image.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

function reportSyntax(file: string, text: string, diags: DiagnosticBag, r: ReturnType<typeof parseText>, lineBase = 0, colBase = 0): void {
  const lines = text.split(/\r?\n/);
  if (r.tooDeep) {
    const t = r.tooDeep;
    diags.add('LimitExceeded', spanAt(file, (t.startLine ?? 1) + lineBase, (t.startColumn ?? 1) + ((t.startLine ?? 1) === 1 ? colBase : 0), 1), [`brackets nested deeper than ${MAX_NESTING} levels; nothing was parsed`]);
  }
  for (const e of r.lexErrors) {
    diags.add('UnexpectedCharacter', spanAt(file, (e.line ?? 1) + lineBase, (e.column ?? 1) + ((e.line ?? 1) === 1 ? colBase : 0), 1), [
      text.substr(e.offset, 1).replace(/[^\x20-\x7e]/, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
    ]);
  }
  for (const t of r.badTokens) {
    const span = spanAt(file, (t.startLine ?? 1) + lineBase, (t.startColumn ?? 1) + ((t.startLine ?? 1) === 1 ? colBase : 0), Math.min(t.image.length, 1_000));
    diags.add(t.tokenType.name === 'UnterminatedComment' ? 'UnterminatedComment' : 'UnterminatedString', span);
  }
  for (const e of r.parseErrors) {
    const t = e.token;
    if (!Number.isFinite(t.startOffset) || t.tokenType.name === 'EOF') {
      // At the end of the input: point just past the last line.
      const last = lines.length;
      diags.add('UnexpectedEnd', spanAt(file, last + lineBase, (lines[last - 1]?.length ?? 0) + 1, 1), [e.message.replace(/^.*?(expected [^ ]+|while parsing .*)$/, '$1')]);
    } else {
      diags.add('SyntaxError', spanAt(file, t.startLine! + lineBase, t.startColumn! + (t.startLine === 1 ? colBase : 0), t.image.length), [e.message]);
    }
  }
}

/** Parses a whole .mnx file. */
/**
 * The largest spec file parsed (characters). Specs are a few kilobytes; parsing holds every token
 * and node in memory (about 3 kB per `1+` term), so a multi-megabyte file is refused up front.
 */
export const MAX_SOURCE_CHARS = 256 * 1024;

export function parseFile(file: string, text: string, diags: DiagnosticBag): FileAst {
  if (text.length > MAX_SOURCE_CHARS) {
    diags.add('LimitExceeded', spanAt(file, 1, 1, 1), [`the file has ${text.length} characters, beyond the limit of ${MAX_SOURCE_CHARS} for a spec; nothing was parsed`]);
    return { path: file, imports: [], models: [], blocks: [], scalings: [], variants: [] };
  }
  const r = parseText(text, 'file');
  reportSyntax(file, text, diags, r);
  if (!r.cst) return { path: file, imports: [], models: [], blocks: [], scalings: [], variants: [] };
  return new AstBuilder(file, diags).file_(r.cst);
}

/** Parses a single expression (a `--set` value); `file`/`col` place it for diagnostics. */
export function parseExpression(file: string, text: string, diags: DiagnosticBag, colBase = 0): Expr | null {
  const r = parseText(text, 'expression');
  const before = diags.errorCount;
  reportSyntax(file, text, diags, r, 0, colBase);
  if (diags.errorCount > before || !r.cst) return null;
  return new AstBuilder(file, diags, 0, colBase).expr(r.cst);
}
