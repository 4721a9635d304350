/**
 * `mnxc`: the public compiler API — .mnx text to the IR, its diagnostics, its summary and the
 * generated TypeScript. (`mnxc/runtime` runs the IR.)
 *
 *   const { ir, text } = check('model.mnx', { variant: 'S', set: ['n_classes=3'] });  // text: rendered diagnostics
 *   const r = compile('model.mnx', { inputSize: [128, 128, 128] });                   // r.ir: IRModel | null
 *   console.log(renderSummary(summary(r.ir!)));
 *   writeFileSync('model.gen.ts', generateTypeScript(r.ir!));                       // imports mnxc/runtime
 */
import { compileFile, type CompileOptions, type CompileResult } from './compiler/compile.js';
import type { Diagnostic } from './compiler/diagnostics/diagnostic.js';
import { renderDiagnostics } from './compiler/diagnostics/render.js';
import type { IRModel } from './ir/types.js';
import { summarize, type ModelSummary } from './compiler/emit/summary.js';

export type { CompileOptions, CompileResult, Diagnostic, IRModel, ModelSummary };
export type { IRNode, IRParam, ActShape } from './ir/types.js';
export { verifyIR } from './ir/verify.js';
export { renderSummary } from './compiler/emit/summary.js';
export { generateTypeScript, type TypeScriptOptions } from './compiler/emit/typescript.js';
export { renderDiagnostics };

/** Compiles an .mnx file (or `options.text` as that file) to the IR; `ir` is null when there are errors. */
export function compile(path: string, options: CompileOptions = {}): CompileResult {
  return compileFile(path, options);
}

export interface CheckResult {
  /** True when there are no errors (warnings may remain). */
  ok: boolean;
  ir: IRModel | null;
  diagnostics: Diagnostic[];
  /** The diagnostics rendered as `mnxc check` prints them (file:line:col, source line, chain). */
  text: string;
}

/** Parses, resolves, expands and shape-checks an .mnx file. */
export function check(path: string, options: CompileOptions = {}): CheckResult {
  const r = compileFile(path, options);
  return { ok: r.ir !== null, ir: r.ir, diagnostics: r.diagnostics, text: renderDiagnostics(r.diagnostics, r.sources) };
}

/** Parameters, MACs, FLOPs and activation memory per stage, at the input size the IR was compiled for. */
export function summary(ir: IRModel): ModelSummary {
  return summarize(ir);
}
