import type { TypeExpr } from './ast.js';
import type { TensorRef } from './graph.js';

/** Values the evaluator computes with. `POISON` stands for a value whose error was already reported. */
export type Value = number | boolean | string | null | Value[] | TensorRef | Poison;
export interface Poison {
  kind: 'poison';
}
export const POISON: Poison = { kind: 'poison' };

export function isPoison(v: unknown): v is Poison {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as Poison).kind === 'poison';
}
export function isTensor(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as TensorRef).kind === 'tensor';
}
export function containsPoison(v: Value): boolean {
  return isPoison(v) || (Array.isArray(v) && v.some(containsPoison));
}

/** Types of model parameters and block arguments. */
export type MnxType =
  | { kind: 'int' | 'float' | 'bool' | 'string' | 'none' | 'tensor' | 'any' }
  | { kind: 'posint' } // integer >= 1
  | { kind: 'kernel' } // odd integer >= 1
  | { kind: 'list'; item: MnxType }
  | { kind: 'literal'; value: string }
  | { kind: 'union'; options: MnxType[] };

export const T = {
  int: { kind: 'int' } as MnxType,
  posint: { kind: 'posint' } as MnxType,
  kernel: { kind: 'kernel' } as MnxType,
  float: { kind: 'float' } as MnxType,
  bool: { kind: 'bool' } as MnxType,
  string: { kind: 'string' } as MnxType,
  tensor: { kind: 'tensor' } as MnxType,
  none: { kind: 'none' } as MnxType,
  any: { kind: 'any' } as MnxType,
  list: (item: MnxType): MnxType => ({ kind: 'list', item }),
  oneOf: (...values: string[]): MnxType => ({ kind: 'union', options: values.map((value) => ({ kind: 'literal', value })) }),
  union: (...options: MnxType[]): MnxType => ({ kind: 'union', options }),
};

const NAMED: Record<string, MnxType> = { tensor: T.tensor, int: T.int, float: T.float, bool: T.bool, string: T.string, none: T.none, any: T.any, kernel: T.kernel, posint: T.posint };

/** Resolves a written type; unknown type names are returned in `unknown` for a diagnostic. */
export function typeFromAst(t: TypeExpr, unknown: { name: string; span: TypeExpr['span'] }[]): MnxType {
  switch (t.kind) {
    case 'literal':
      return { kind: 'literal', value: t.value };
    case 'none':
      return T.none;
    case 'union':
      return { kind: 'union', options: t.options.map((o) => typeFromAst(o, unknown)) };
    case 'named':
      if (t.name === 'list') return T.list(t.arg ? typeFromAst(t.arg, unknown) : T.any);
      if (NAMED[t.name]) return NAMED[t.name]!;
      unknown.push({ name: t.name, span: t.span });
      return T.any;
  }
}

export function matches(t: MnxType, v: Value): boolean {
  if (isPoison(v)) return true;
  switch (t.kind) {
    case 'any':
      return !isTensor(v);
    case 'int':
      return typeof v === 'number' && Number.isInteger(v);
    case 'posint':
      return typeof v === 'number' && Number.isInteger(v) && v >= 1;
    case 'kernel':
      return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v % 2 === 1;
    case 'float':
      return typeof v === 'number';
    case 'bool':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'none':
      return v === null;
    case 'tensor':
      return isTensor(v);
    case 'literal':
      return v === t.value;
    case 'list':
      return Array.isArray(v) && v.every((x) => matches(t.item, x));
    case 'union':
      return t.options.some((o) => matches(o, v));
  }
}

/** Whether a type admits kernel sizes, so a bad value gets the kernel diagnostic (MNX3003). */
export function acceptsKernel(t: MnxType): boolean {
  return t.kind === 'kernel' || (t.kind === 'union' && t.options.some(acceptsKernel));
}

export function describeType(t: MnxType): string {
  switch (t.kind) {
    case 'posint':
      return 'a positive int';
    case 'kernel':
      return 'an odd positive int';
    case 'literal':
      return JSON.stringify(t.value);
    case 'list':
      return `list[${describeType(t.item)}]`;
    case 'union':
      return t.options.map(describeType).join(' | ');
    default:
      return t.kind;
  }
}

export function describeValue(v: Value): string {
  if (isTensor(v) && v.shape.dims) return `a tensor of shape [${v.shape.dims.join(', ')}]`;
  if (isTensor(v)) return `a tensor of shape [${v.shape.channels}${v.shape.spatial ? ', ' + v.shape.spatial.join(', ') : ''}]`;
  if (isPoison(v)) return '(error)';
  if (v === null) return 'none';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'boolean') return String(v);
  const s = `[${v.map(describeValue).join(', ')}]`;
  return s.length > 60 ? s.slice(0, 57) + '…]' : s;
}

/** Plain JSON of a value (for the IR's `arguments`). */
export function toJson(v: Value): unknown {
  if (isTensor(v) || isPoison(v)) return null;
  if (Array.isArray(v)) return v.map(toJson);
  return v;
}
