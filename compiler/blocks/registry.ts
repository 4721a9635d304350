import type { GraphBuilder, TensorRef } from '../graph.js';
import type { MnxType, Value } from '../types.js';

/**
 * A block kind: a named, typed building block a spec calls like a function,
 * e.g. `mednext_block(x, k: 5, exp_r: 4)`. Blocks are registered here, never special-cased in
 * the parser: a new family adds a module of blocks and one `register` call per block.
 */
export interface ArgSpec {
  name: string;
  type: MnxType;
  /** Default value; a function computes it from the input tensors (e.g. `out` = input channels). */
  default?: Value | ((inputs: TensorRef[]) => Value);
  doc: string;
}

export interface BlockKind {
  name: string;
  doc: string;
  /** Number of tensor inputs, given positionally first; 'many' for variadic (concat). */
  inputs: number | 'many';
  args: ArgSpec[];
  /** Emits the block's primitive IR nodes under module path `scope`; returns the output tensor, or null. */
  expand(g: GraphBuilder, scope: string, inputs: TensorRef[], args: Record<string, Value>): TensorRef | null;
}

const registry = new Map<string, BlockKind>();

export function registerBlock(kind: BlockKind): void {
  if (registry.has(kind.name)) throw new Error(`block ${kind.name} registered twice`);
  registry.set(kind.name, kind);
}

export function lookupBlock(name: string): BlockKind | undefined {
  return registry.get(name);
}

export function blockNames(): string[] {
  return [...registry.keys()];
}

export function allBlocks(): BlockKind[] {
  return [...registry.values()];
}
