import type { SourceSpan } from '../ir/types.js';

/** The abstract syntax tree of one .mnx file. Every node carries the span it was written at. */
export interface FileAst {
  path: string;
  imports: { path: string; span: SourceSpan }[];
  models: ModelDecl[];
  blocks: BlockDecl[];
  scalings: ScalingDecl[];
  variants: VariantDecl[];
}

export type ModelDecl = BaseModelDecl | DerivedModelDecl;

/** `block name(params) { statements; return expr }`: a user-defined block; `tensor` params are its inputs. */
export interface BlockDecl {
  name: string;
  span: SourceSpan;
  params: ParamDecl[];
  body: Stmt[];
}

export interface BaseModelDecl {
  kind: 'model';
  name: string;
  span: SourceSpan;
  params: ParamDecl[];
  body: Stmt[];
}

/** `model Name = Base with Variant { assignments }` */
export interface DerivedModelDecl {
  kind: 'derived';
  name: string;
  span: SourceSpan;
  base: string;
  baseSpan: SourceSpan;
  variant: { name: string; span: SourceSpan } | null;
  assigns: Assign[];
}

export interface ParamDecl {
  name: string;
  span: SourceSpan;
  type: TypeExpr;
  default: Expr | null;
}

export type TypeExpr =
  | { kind: 'named'; name: string; arg: TypeExpr | null; span: SourceSpan }
  | { kind: 'literal'; value: string; span: SourceSpan }
  | { kind: 'none'; span: SourceSpan }
  | { kind: 'union'; options: TypeExpr[]; span: SourceSpan };

export interface Assign {
  name: string;
  span: SourceSpan;
  value: Expr;
}

export interface ScalingDecl {
  name: string;
  span: SourceSpan;
  options: { name: string; span: SourceSpan; assigns: Assign[] }[];
}

export interface VariantDecl {
  name: string;
  span: SourceSpan;
  rules: { rule: string; option: string; span: SourceSpan }[];
  assigns: Assign[];
}

export type Stmt =
  | { kind: 'for'; variable: string; varSpan: SourceSpan; iterable: Expr; body: Stmt[]; span: SourceSpan }
  | { kind: 'if'; condition: Expr; then: Stmt[]; otherwise: Stmt[] | null; span: SourceSpan }
  | { kind: 'output'; index: Expr; value: Expr; span: SourceSpan }
  | { kind: 'assert'; level: 'error' | 'warning'; condition: Expr; message: string; span: SourceSpan }
  | { kind: 'hint'; name: string; value: Expr; span: SourceSpan }
  | { kind: 'return'; value: Expr; span: SourceSpan }
  | { kind: 'assign'; target: Expr; value: Expr; span: SourceSpan }
  | { kind: 'expr'; expr: Expr; span: SourceSpan };

export type BinaryOp = '+' | '-' | '*' | '/' | '//' | '%' | '**' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or' | '??' | '..';

export interface CallArg {
  name: string | null;
  nameSpan: SourceSpan | null;
  value: Expr;
}

export type Expr =
  | { kind: 'number'; value: number; isFloat: boolean; span: SourceSpan }
  | { kind: 'string'; parts: (string | Expr)[]; span: SourceSpan }
  | { kind: 'bool'; value: boolean; span: SourceSpan }
  | { kind: 'none'; span: SourceSpan }
  | { kind: 'ident'; name: string; span: SourceSpan }
  | { kind: 'list'; items: Expr[]; span: SourceSpan }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; opSpan: SourceSpan; span: SourceSpan }
  | { kind: 'unary'; op: '-' | 'not'; operand: Expr; span: SourceSpan }
  | { kind: 'index'; target: Expr; index: Expr; span: SourceSpan }
  | { kind: 'call'; callee: string; calleeSpan: SourceSpan; args: CallArg[]; scope: Expr | null; span: SourceSpan }
  | { kind: 'if'; condition: Expr; then: Expr; otherwise: Expr; span: SourceSpan }
  | { kind: 'repeat'; count: Expr; call: Expr & { kind: 'call' }; span: SourceSpan }
  | { kind: 'error'; span: SourceSpan };
