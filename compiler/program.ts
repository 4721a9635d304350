import { readFileSync } from 'node:fs';
import { dirname, resolve, relative } from 'node:path';
import type { BlockDecl, FileAst, ModelDecl, ScalingDecl, VariantDecl } from './ast.js';
import { parseFile } from './build-ast.js';
import type { DiagnosticBag } from './diagnostics/diagnostic.js';
import type { SourceSpan } from '../ir/types.js';
import { SourceMap, formatSpan } from './source.js';

/**
 * Pass 2, load: the root file and everything it imports (paths relative to the importing file),
 * with import cycles reported and every declaration collected by name.
 */
export interface Program {
  root: FileAst;
  files: FileAst[];
  sources: SourceMap;
  models: Map<string, ModelDecl>;
  blocks: Map<string, BlockDecl>;
  scalings: Map<string, ScalingDecl>;
  variants: Map<string, VariantDecl>;
}

/** How files are named in diagnostics: relative to the working directory when inside it. */
export function displayPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') ? rel : abs;
}

export function loadProgram(rootPath: string, diags: DiagnosticBag, rootText?: string): Program {
  const sources = new SourceMap();
  const files: FileAst[] = [];
  const loaded = new Map<string, FileAst>();

  const load = (abs: string, text: string, stack: string[]): FileAst => {
    const name = displayPath(abs);
    sources.add(name, text);
    const ast = parseFile(name, text, diags);
    loaded.set(abs, ast);
    for (const imp of ast.imports) {
      const target = resolve(dirname(abs), imp.path);
      if (stack.includes(target)) {
        const cycle = [...stack.slice(stack.indexOf(target)), target].map(displayPath).join(' → ');
        diags.add('ImportCycle', imp.span, [cycle]);
        continue;
      }
      if (loaded.has(target)) continue;
      let t: string;
      try {
        t = readFileSync(target, 'utf8');
      } catch (e) {
        diags.add('ImportNotFound', imp.span, [imp.path, (e as NodeJS.ErrnoException).code ?? 'unreadable']);
        continue;
      }
      load(target, t, [...stack, target]);
    }
    files.push(ast);
    return ast;
  };

  const abs = resolve(rootPath);
  const root = load(abs, rootText ?? readFileSync(abs, 'utf8'), [abs]);

  const models = new Map<string, ModelDecl>();
  const blocks = new Map<string, BlockDecl>();
  const scalings = new Map<string, ScalingDecl>();
  const variants = new Map<string, VariantDecl>();
  const declare = <D extends { name: string; span: SourceSpan }>(map: Map<string, D>, what: string, d: D) => {
    const prev = map.get(d.name);
    if (prev) diags.add('DuplicateDeclaration', d.span, [what, d.name, formatSpan(prev.span)]);
    else map.set(d.name, d);
  };
  // Imports first (they were pushed first), so a duplicate is reported in the importing file.
  for (const f of files) {
    for (const m of f.models) declare(models, 'model', m);
    for (const b of f.blocks) declare(blocks, 'block', b);
    for (const s of f.scalings) declare(scalings, 'scaling rule', s);
    for (const v of f.variants) declare(variants, 'variant', v);
  }
  return { root, files, sources, models, blocks, scalings, variants };
}
