import { readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, resolve, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlockDecl, FileAst, ModelDecl, ScalingDecl, VariantDecl } from './ast.js';
import { parseFile } from './build-ast.js';
import type { DiagnosticBag } from './diagnostics/diagnostic.js';
import type { SourceSpan } from '../ir/types.js';
import { SourceMap, formatSpan } from './source.js';

/**
 * Pass 2, load: the root file and everything it imports (paths relative to the importing file),
 * with import cycles reported and every declaration collected by name. An import reads only a
 * `.mnx` file inside the root spec's folder, the importing file's folder, the shipped library
 * (examples/) or a `--lib` folder, symbolic links followed; anything else is MNX2018, and nothing
 * of the target is read or shown.
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

/** The shipped library of families (examples/mednext.mnx, examples/nnunet.mnx). */
export const LIBRARY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'examples');

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function inside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/** Why `target` may not be imported (null: it may), given the folders imports may read. */
export function importRefusal(target: string, roots: string[]): string | null {
  if (!target.endsWith('.mnx')) return 'only .mnx files can be imported';
  const real = realOrSelf(target);
  if (!real.endsWith('.mnx')) return 'it is a link to a file that is not an .mnx file';
  // where the file really is decides (a linked folder of specs is fine, a link out of the folders is not)
  if (!roots.map(realOrSelf).some((r) => inside(real, r)))
    return "it is outside the spec's folder, the importing file's folder and the shipped library; pass --lib DIR to allow its folder";
  return null;
}

export function loadProgram(rootPath: string, diags: DiagnosticBag, rootText?: string, lib: string[] = []): Program {
  const sources = new SourceMap();
  const files: FileAst[] = [];
  const loaded = new Map<string, FileAst>();
  const rootAbs = resolve(rootPath);

  const load = (abs: string, text: string, stack: string[]): FileAst => {
    const name = displayPath(abs);
    sources.add(name, text);
    const ast = parseFile(name, text, diags);
    loaded.set(abs, ast);
    for (const imp of ast.imports) {
      const target = resolve(dirname(abs), imp.path);
      const refusal = importRefusal(target, [dirname(rootAbs), dirname(abs), LIBRARY_DIR, ...lib.map((d) => resolve(d))]);
      if (refusal) {
        diags.add('ImportNotAllowed', imp.span, [imp.path, refusal]);
        continue;
      }
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

  const root = load(rootAbs, rootText ?? readFileSync(rootAbs, 'utf8'), [rootAbs]);

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
