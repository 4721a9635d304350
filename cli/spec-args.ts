import { loadNetwork, type Network } from '../app/network.js';
import { compileFile, type CompileResult } from '../compiler/compile.js';
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import type { IRModel } from '../ir/types.js';
import { UsageError } from './errors.js';

/** The options every command that takes a SPEC accepts. */
export const specOptions = {
  set: { type: 'string', multiple: true },
  variant: { type: 'string' },
  model: { type: 'string' },
  'input-size': { type: 'string' },
  lib: { type: 'string', multiple: true },
} as const;

/** For commands that run a network: what SPEC may be. */
export const NETWORK_HELP = `SPEC is an .mnx spec, or a compiled model: the folder 'mnxc compile SPEC -o DIR' writes, or its
model.ir.json (then --set, --variant and --model do not apply: compile again to change it).`;

export const SPEC_HELP = `  --set NAME=VALUE     override a model parameter; VALUE is an .mnx literal
                       (5, true, [2,3,4,4,4,4,4,3,2], "group"); repeatable
  --variant V          apply a variant of the spec (e.g. S, B, M, L)
  --model NAME         compile this model of the file (default: the last one declared)
  --input-size D,H,W   input size for shape checks
  --lib DIR            a folder imports may also read .mnx files from (repeatable; by default only
                       the spec's folder, the importing file's folder and the shipped examples/)`;

export function parseSize(text: string | undefined, what = '--input-size'): number[] | null {
  if (text === undefined) return null;
  const parts = text.split(/[,x×]/).map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.length < 2 || parts.length > 3 || nums.some((n) => !Number.isInteger(n) || n < 1 || n > 65536)) {
    throw new UsageError(`${what} expects 2 or 3 positive integers like 128,128,128, got '${text}'`);
  }
  return nums;
}

export interface SpecValues {
  set?: string[];
  variant?: string;
  model?: string;
  'input-size'?: string;
  lib?: string[];
}

/** Compiles SPEC with the command-line options; prints diagnostics to stderr. Null IR means errors. */
export function compileFromArgs(spec: string | undefined, v: SpecValues, defaultSize: number[] | null = null): CompileResult & { ir: IRModel | null } {
  if (!spec) throw new UsageError('missing SPEC (an .mnx file)');
  // The default size applies where the spec names none of its own (a transformer's img_size does).
  const inputSize = parseSize(v['input-size']);
  const r = compileFile(spec, { set: v.set ?? [], variant: v.variant, model: v.model, inputSize, defaultInputSize: defaultSize, lib: v.lib });
  const text = renderDiagnostics(r.diagnostics, r.sources);
  if (text) process.stderr.write(text);
  return r;
}

/**
 * The network SPEC names, an .mnx spec (compiled with the command-line options; diagnostics to
 * stderr) or a compiled model (folder or model.ir.json, verified). Null: the spec did not compile.
 */
export function networkFromArgs(spec: string | undefined, v: SpecValues, defaultSize: number[] | null = null): Network | null {
  if (!spec) throw new UsageError('missing SPEC (an .mnx file, or a compiled model folder or model.ir.json)');
  const inputSize = parseSize(v['input-size']) ?? defaultSize;
  return loadNetwork(spec, { set: v.set, variant: v.variant, model: v.model, inputSize }, (text) => process.stderr.write(text));
}
