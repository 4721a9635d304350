import type { Assign, BaseModelDecl } from './ast.js';
import './blocks/primitives.js';
import './blocks/mednext.js';
import './blocks/nnunet.js';
import './blocks/tensor.js';
import { parseExpression } from './build-ast.js';
import { DiagnosticBag, didYouMean, type Diagnostic } from './diagnostics/diagnostic.js';
import { Evaluator, type ParamOrigin } from './evaluate.js';
import { IR_VERSION, type IRModel, type OriginStep, type SourceSpan } from '../ir/types.js';
import { loadProgram, type Program } from './program.js';
import { SourceMap, spanAt, formatSpan } from './source.js';
import { POISON, acceptsKernel, describeType, describeValue, isPoison, matches, toJson, typeFromAst, type MnxType, type Value } from './types.js';
import { verifyIR } from '../ir/verify.js';

/**
 * The compiler's public entry point: .mnx file (+ variant, overrides, input size) → IR and
 * diagnostics. Passes: parse → load imports → resolve the model and its parameter values
 * (defaults, derived models, variants and scaling rules, --set) → expand → check → IR.
 */
export interface CompileOptions {
  /** Model to compile; default: the last model declared in the file itself. */
  model?: string;
  variant?: string;
  /** `name=value` overrides, value an .mnx literal. */
  set?: string[];
  /** Spatial input size for shape checks (D,H,W or H,W); null: sizes unchecked. */
  inputSize?: number[] | null;
  /** Input size where neither `inputSize` nor the spec's own `input(size: …)` gives one (the CLI's 128³). */
  defaultInputSize?: number[] | null;
  /** Source text to use instead of reading the root file (editors, tests). */
  text?: string;
  /** Further folders imports may read from (`--lib DIR`), besides the spec's own and the shipped library. */
  lib?: string[];
}

export interface CompileResult {
  ir: IRModel | null;
  diagnostics: Diagnostic[];
  sources: SourceMap;
}

const CLI = '<command line>';

interface Layer {
  assigns: Assign[];
  /** e.g. "set by variant S", "set by scaling rule depth.small" per assignment. */
  what: (a: Assign) => string;
  chain: OriginStep[];
}

export function compileFile(path: string, options: CompileOptions = {}): CompileResult {
  const diags = new DiagnosticBag();
  let program: Program;
  try {
    program = loadProgram(path, diags, options.text, options.lib);
  } catch (e) {
    if (!(e as NodeJS.ErrnoException).code) throw e;
    const sources = new SourceMap();
    diags.add('ImportNotFound', spanAt(path, 1, 1), [path, (e as NodeJS.ErrnoException).code!]);
    return { ir: null, diagnostics: diags.items, sources };
  }
  const sources = program.sources;
  const cliLine: string[] = [];
  const ir = compileProgram(program, options, diags, cliLine);
  if (cliLine.length) sources.add(CLI, cliLine.join(' '));
  return { ir: diags.hasErrors ? null : ir, diagnostics: diags.items, sources };
}

function compileProgram(program: Program, options: CompileOptions, diags: DiagnosticBag, cliLine: string[]): IRModel | null {
  const rootModels = program.root.models;
  const name = options.model ?? rootModels[rootModels.length - 1]?.name;
  if (!name) {
    if (diags.hasErrors) return null; // the file did not parse: its errors say why
    diags.add('NoModel', spanAt(program.root.path, 1, 1), [`${program.root.path} declares no model (write 'model Name(...) { ... }' or import a family and derive one)`]);
    return null;
  }
  // Follow derived models down to the base model; collect their layers, base first.
  const layers: Layer[] = [];
  const chainNames: string[] = [];
  let decl = program.models.get(name);
  if (!decl) {
    diags.add('UnknownModel', spanAt(CLI, 1, 1), [name, didYouMean(name, program.models.keys())]);
    return null;
  }
  const derivedLayers: Layer[][] = [];
  while (decl && decl.kind === 'derived') {
    if (chainNames.includes(decl.name)) {
      diags.add('ImportCycle', decl.span, [[...chainNames, decl.name].join(' → ')]);
      return null;
    }
    chainNames.push(decl.name);
    const d = decl;
    const own: Layer[] = [];
    if (d.variant) {
      const v = variantLayers(program, d.variant.name, d.variant.span, diags, [{ what: `in variant ${d.variant.name} of model ${d.name}`, span: d.variant.span }]);
      if (v) own.push(...v);
    }
    own.push({ assigns: d.assigns, what: () => `set by model ${d.name}`, chain: [] });
    derivedLayers.unshift(own);
    const base = program.models.get(d.base);
    if (!base) {
      diags.add('UnknownModel', d.baseSpan, [d.base, didYouMean(d.base, program.models.keys())]);
      return null;
    }
    decl = base;
  }
  const model = decl as BaseModelDecl;
  for (const l of derivedLayers) layers.push(...l);
  if (options.variant) {
    cliLine.push(`--variant ${options.variant}`);
    const span = spanAt(CLI, 1, 11, options.variant.length);
    const v = variantLayers(program, options.variant, span, diags, [{ what: `in variant ${options.variant} chosen on the command line`, span }]);
    if (v) layers.push(...v);
  }
  const setAssigns = parseOverrides(options.set ?? [], diags, cliLine);
  layers.push({ assigns: setAssigns, what: () => 'set by --set on the command line', chain: [] });

  // Parameter types and defaults.
  const types = new Map<string, MnxType>();
  const values = new Map<string, Value>();
  const origins = new Map<string, ParamOrigin>();
  const defaultEval = new Evaluator(model, new Map(), new Map(), diags, null);
  for (const p of model.params) {
    if (types.has(p.name)) {
      diags.add('DuplicateDeclaration', p.span, ['parameter', p.name, formatSpan(model.params.find((q) => q.name === p.name)!.span)]);
      continue;
    }
    const unknown: { name: string; span: SourceSpan }[] = [];
    const t = typeFromAst(p.type, unknown);
    for (const u of unknown) diags.add('UnknownName', u.span, [u.name, didYouMean(u.name, ['int', 'float', 'bool', 'string', 'list', 'none', 'kernel', 'posint'])]);
    types.set(p.name, t);
    const v = p.default ? defaultEval.expr(p.default) : null;
    if (p.default && !isPoison(v) && !matches(t, v)) diags.add('ParamTypeMismatch', p.default.span, [p.name, describeType(t), describeValue(v)]);
    values.set(p.name, v);
  }
  // Layers in order: derived models' variants and assignments, --variant, --set.
  for (const layer of layers) {
    for (const a of layer.assigns) {
      const t = types.get(a.name);
      if (!t) {
        diags.add('UnknownParameter', a.span, [a.name, model.name, didYouMean(a.name, types.keys())], layer.chain);
        continue;
      }
      const v = defaultEval.expr(a.value);
      if (!isPoison(v) && !matches(t, v)) {
        if (acceptsKernel(t) && typeof v === 'number') diags.add('BadKernelSize', a.value.span, [describeValue(v)], layer.chain, [`'${a.name}' was ${layer.what(a)}`]);
        else diags.add('ParamTypeMismatch', a.value.span, [a.name, describeType(t), describeValue(v)], layer.chain);
        values.set(a.name, POISON);
        continue;
      }
      values.set(a.name, v);
      origins.set(a.name, { what: layer.what(a), span: a.span, chain: layer.chain });
    }
  }
  for (const p of model.params) {
    if (!p.default && !origins.has(p.name)) diags.add('MissingArgument', p.span, [p.name, model.name, `no default; give it with --set ${p.name}=...`]);
  }

  const errorsBefore = diags.errorCount;
  const evaluator = new Evaluator(model, values, origins, diags, options.inputSize ?? null, program.blocks, options.defaultInputSize ?? null);
  const r = evaluator.run();
  const g = r.graph;
  const checkedSize = options.inputSize ?? (r.inputFromDefault ? (options.defaultInputSize ?? null) : null);
  if (r.input && checkDivisibility(g.nodes, r.inputSpan!, checkedSize, diags)) {
    // Mismatched skips further down are consequences of the input size: report the cause only.
    for (let i = diags.items.length - 1; i >= 0; i--) if (diags.items[i]!.code === 'MNX4002') diags.items.splice(i, 1);
  }
  // Missing inputs or outputs after other errors are their consequences: report the causes only.
  if (diags.errorCount > errorsBefore || diags.hasErrors) return null;
  if (!r.input) {
    diags.add('WrongInputRank', model.span, [`model ${model.name} never calls input(channels: …)`]);
    return null;
  }
  // Outputs must be 0..n-1.
  const indices = [...r.outputs.keys()].sort((a, b) => a - b);
  if (indices.length === 0) diags.add('BadOutputs', model.span, [`model ${model.name} defines no output (write 'output 0 = …')`]);
  indices.forEach((i, k) => {
    if (i !== k) diags.add('BadOutputs', r.outputs.get(i)!.span, [`outputs must be numbered 0, 1, 2, … without gaps; output ${k} is missing`]);
  });
  if (diags.hasErrors) return null;

  const args: Record<string, unknown> = {};
  for (const p of model.params) args[p.name] = toJson(values.get(p.name) ?? null);
  const cs = r.hints.checkpoint_style;
  const ir: IRModel = {
    irVersion: IR_VERSION,
    name: chainNames[0] ?? model.name,
    variant: options.variant ?? null,
    spatialDims: g.spatialDims,
    arguments: args,
    input: r.input.shape,
    nodes: [...g.nodes],
    outputs: indices.map((i) => r.outputs.get(i)!.tensor.id),
    parameters: g.orderedParams(),
    hints: { checkpointStyle: cs === 'outside_block' ? 'outside_block' : 'none' },
  };
  for (const o of ir.outputs) {
    ir.nodes.push({ ...ir.nodes.find((n) => n.id === o)!, id: `${o}:output`, op: 'output', inputs: [o], attrs: { index: ir.outputs.indexOf(o) }, params: {} });
  }
  ir.outputs = ir.outputs.map((o) => `${o}:output`);
  const problems = verifyIR(ir);
  if (problems.length) throw new Error(`internal error: the compiler produced invalid IR:\n${problems.join('\n')}`);
  return ir;
}

function variantLayers(program: Program, name: string, span: SourceSpan, diags: DiagnosticBag, chain: OriginStep[]): Layer[] | null {
  const v = program.variants.get(name);
  if (!v) {
    const known = [...program.variants.keys()];
    diags.add('UnknownVariant', span, [name, didYouMean(name, known) || (known.length ? ` (variants: ${known.join(', ')})` : ' (this spec defines no variants)')]);
    return null;
  }
  const out: Layer[] = [];
  const setBy = new Map<string, { rule: string; value: string; span: SourceSpan }>();
  for (const ref of v.rules) {
    const rule = program.scalings.get(ref.rule);
    if (!rule) {
      diags.add('UnknownScaling', ref.span, [ref.rule, didYouMean(ref.rule, program.scalings.keys())]);
      continue;
    }
    const opt = rule.options.find((o) => o.name === ref.option);
    if (!opt) {
      diags.add('UnknownScaling', ref.span, [`${ref.rule}.${ref.option}`, didYouMean(ref.option, rule.options.map((o) => o.name)) || ` (options: ${rule.options.map((o) => o.name).join(', ')})`]);
      continue;
    }
    const id = `${ref.rule}.${ref.option}`;
    for (const a of opt.assigns) {
      const text = JSON.stringify(stripSpans(a.value));
      const prev = setBy.get(a.name);
      if (prev && prev.value !== text) diags.add('ConflictingScaling', a.span, [a.name, prev.rule, id], [{ what: `in variant ${v.name}`, span: v.span }]);
      setBy.set(a.name, { rule: id, value: text, span: a.span });
    }
    out.push({ assigns: opt.assigns, what: () => `set by scaling rule ${id} (variant ${v.name})`, chain: [...chain, { what: `in scaling rule ${id} used by variant ${v.name}`, span: ref.span }] });
  }
  out.push({ assigns: v.assigns, what: () => `set by variant ${v.name}`, chain: [...chain] });
  return out;
}

function stripSpans(e: unknown): unknown {
  if (Array.isArray(e)) return e.map(stripSpans);
  if (e && typeof e === 'object') {
    return Object.fromEntries(Object.entries(e).filter(([k]) => !k.toLowerCase().endsWith('span')).map(([k, v]) => [k, stripSpans(v)]));
  }
  return e;
}

/** `--set name=value` → assignments whose spans point into the rendered command line. */
function parseOverrides(sets: string[], diags: DiagnosticBag, cliLine: string[]): Assign[] {
  const out: Assign[] = [];
  for (const s of sets) {
    const col = cliLine.join(' ').length + (cliLine.length ? 1 : 0) + '--set '.length + 1;
    cliLine.push(`--set ${s}`);
    const eq = s.indexOf('=');
    const nm = eq > 0 ? s.slice(0, eq).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(nm)) {
      diags.add('BadOverride', spanAt(CLI, 1, col, s.length), [s, 'expected name=value, e.g. --set kernel_size=5']);
      continue;
    }
    const value = parseExpression(CLI, s.slice(eq + 1), diags, col + eq);
    if (!value) continue;
    out.push({ name: nm, span: spanAt(CLI, 1, col, nm.length), value });
  }
  return out;
}

/** MNX4001: every axis of the input must be divisible by the largest down-sampling factor. */
function checkDivisibility(nodes: IRModel['nodes'], inputSpan: SourceSpan, inputSize: number[] | null, diags: DiagnosticBag): boolean {
  if (!inputSize) return false;
  // Per axis: the largest product of strides on any path from the input (anisotropic strides too).
  const factor = new Map<string, number[]>();
  const max = inputSize.map(() => 1);
  for (const n of nodes) {
    const f = inputSize.map((_, a) => Math.max(1, ...n.inputs.map((i) => factor.get(i)?.[a] ?? 1)));
    const stride = (n.attrs.stride as number[] | undefined) ?? [];
    const v = f.map((x, a) => (n.op === 'conv' || n.op === 'avg_pool' ? x * (stride[a] ?? 1) : n.op === 'conv_transpose' ? x / (stride[a] ?? 1) : x));
    factor.set(n.id, v);
    v.forEach((x, a) => (max[a] = Math.max(max[a]!, x)));
  }
  const bad = inputSize.map((n, a) => (n % max[a]! !== 0 ? a : -1)).filter((a) => a >= 0);
  if (!bad.length) return false;
  const m = Math.max(...bad.map((a) => max[a]!));
  const near = [...new Set(bad.flatMap((a) => [Math.max(max[a]!, Math.floor(inputSize[a]! / max[a]!) * max[a]!), Math.ceil(inputSize[a]! / max[a]!) * max[a]!]))].join(', ');
  diags.add('InputNotDivisible', inputSpan, [inputSize.join('×'), max.join('×'), Math.round(Math.log2(m)), near]);
  return true;
}

