/**
 * The walls between the layers (docs/architecture.md), as rules a check can enforce. The check
 * (tests/walls.test.ts, part of `npm test`) parses every TypeScript file with the TypeScript
 * compiler API and reports each import or internal access that crosses a wall.
 *
 *   grammar/, compiler/  the language: never TF.js, runtime/, cli/ or app/
 *   ir/                  the contract: imports nothing but itself (and ajv, its schema checker)
 *   runtime/             consumes only the IR: never compiler/, grammar/, cli/ or app/
 *   app/                 jobs over the library (runs, demo, export): never cli/
 *   app/queue/           the only place bullmq and ioredis are imported
 *   weight layouts       PyTorch ↔ runtime permutations only in runtime/weights/layout.ts
 *   TF.js internals      only through runtime/tfjs-internals.ts (which checks the tfjs-core version)
 *   browser path         files reachable from runtime/browser/ never import Node built-ins nor
 *                        use Node's globals (process, Buffer, require, __dirname, __filename)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix } from 'node:path';
import ts from 'typescript';

export interface ImportRule {
  name: string;
  /** Folders (repo-relative, ending in /) whose files the rule applies to. */
  files: string[];
  /** Import targets forbidden: folders ending in / or package-name prefixes such as @tensorflow/. */
  forbidden?: string[];
  /** Or: the only targets allowed (folders or package names). */
  onlyAllowed?: string[];
  /** Whether *.test.ts files are held to it too. */
  tests: boolean;
  /** What test files may import besides `onlyAllowed` (the test runner). */
  allowedInTests?: string[];
  /** Files allowed to break the rule for now, each with the reason (delete entries as they are fixed). */
  exceptions?: Record<string, string>;
}

/**
 * Runtime files that still call the compiler. They are jobs rather than library calls and move
 * to app/ (the application layer being introduced on another branch); delete each entry when
 * its file has moved.
 */
export const RUNTIME_CALLS_COMPILER: Record<string, string> = {};

export const IMPORT_RULES: ImportRule[] = [
  {
    name: 'grammar/ and compiler/ never import TF.js, runtime/, cli/ or app/',
    files: ['grammar/', 'compiler/'],
    forbidden: ['@tensorflow/', 'runtime/', 'cli/', 'app/'],
    tests: true,
  },
  {
    name: 'ir/ imports nothing but itself (and ajv)',
    files: ['ir/'],
    onlyAllowed: ['ir/', 'ajv'],
    tests: true,
    allowedInTests: ['vitest'],
  },
  {
    // Tests of the runtime may compile specs to get real IR; the runtime itself may not.
    name: 'runtime/ never imports compiler/, grammar/, cli/ or app/',
    files: ['runtime/'],
    forbidden: ['compiler/', 'grammar/', 'cli/', 'app/'],
    tests: false,
    exceptions: RUNTIME_CALLS_COMPILER,
  },
  {
    name: 'app/ (jobs: runs, demo, export) never imports cli/',
    files: ['app/'],
    forbidden: ['cli/'],
    // app's tests may run a job end to end through the command line (`mnxc demo`).
    tests: false,
  },
  {
    // The job engine stays behind app/queue/: the library runs the same without Redis.
    name: 'bullmq and ioredis only in app/queue/ (never in runtime/, cli/, grammar/, compiler/, ir/)',
    files: ['runtime/', 'cli/', 'grammar/', 'compiler/', 'ir/'],
    forbidden: ['bullmq', 'ioredis'],
    tests: true,
  },
];

/** The one module allowed to reach into TF.js internals, and the names that give such a reach away. */
export const TFJS_INTERNALS_MODULE = 'runtime/tfjs-internals.ts';
export const TFJS_INTERNAL_NAMES = ['activeTape', 'gradientDepth', 'startTape', 'endTape', 'scopedRun', 'firstUse'];
/** `<something>.data.get(...)`: a backend's tensor storage. */
const BACKEND_DATA_GET = 'data.get';

/** The one module that permutes weights between PyTorch and runtime layouts; ops/ and kernels/ transpose as part of their maths. */
export const LAYOUT_MODULE = 'runtime/weights/layout.ts';
// tests/web-parity.ts: the page's kernel checks transpose activations (TF.js's rank limits), not weights.
export const TRANSPOSE_ALLOWED = [LAYOUT_MODULE, 'runtime/ops/', 'runtime/kernels/', 'runtime/backends/', 'tests/web-parity.ts'];
const TRANSPOSE_CALLS = ['transpose', 'permute'];
/** The runtime's op table: its `permute` rearranges activations, as the IR's `permute` node asks. */
const ACTIVATION_OPS = 'ops';

export interface Violation {
  file: string;
  line: number;
  rule: string;
  detail: string;
}

const isTest = (file: string) => /\.test\.ts$/.test(file);
const under = (file: string, folders: string[]) => folders.some((f) => (f.endsWith('/') ? file.startsWith(f) : file === f));

/** What an import specifier points at: a repo-relative path for relative imports, else the package name. */
function target(file: string, spec: string): string {
  if (spec.startsWith('.')) return posix.normalize(posix.join(posix.dirname(file), spec));
  return spec;
}

function matches(t: string, prefixes: string[]): boolean {
  return prefixes.some((p) => (p.endsWith('/') ? t.startsWith(p) || t === p.slice(0, -1) : t === p || t.startsWith(p + '/')));
}

/** Checks the given files (repo-relative path → source text) against every wall. */
export function checkWalls(files: Map<string, string>): Violation[] {
  const out: Violation[] = [];
  for (const [file, text] of files) {
    const src = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const lineOf = (n: ts.Node) => src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1;
    const imports: { spec: string; node: ts.Node }[] = [];
    const visit = (n: ts.Node): void => {
      if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
        imports.push({ spec: n.moduleSpecifier.text, node: n });
      } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
        imports.push({ spec: n.arguments[0].text, node: n });
      } else if (ts.isPropertyAccessExpression(n) && file !== TFJS_INTERNALS_MODULE) {
        const name = n.name.text;
        const chain = ts.isPropertyAccessExpression(n.expression) ? `${n.expression.name.text}.${name}` : '';
        if (TFJS_INTERNAL_NAMES.includes(name) || chain === BACKEND_DATA_GET) {
          out.push({ file, line: lineOf(n), rule: `TF.js internals only through ${TFJS_INTERNALS_MODULE}`, detail: n.getText(src) });
        }
      }
      if (ts.isCallExpression(n) && !under(file, TRANSPOSE_ALLOWED) && !isTest(file)) {
        const callee = ts.isPropertyAccessExpression(n.expression) ? n.expression.name.text : ts.isIdentifier(n.expression) ? n.expression.text : '';
        // `ops.permute` is the IR's permute op on activations (token tensors), not a weight layout.
        const owner = ts.isPropertyAccessExpression(n.expression) ? n.expression.expression.getText(src) : '';
        if (TRANSPOSE_CALLS.includes(callee) && owner !== ACTIVATION_OPS) {
          out.push({ file, line: lineOf(n), rule: `weight layouts are converted only in ${LAYOUT_MODULE}`, detail: n.expression.getText(src) });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
    for (const rule of IMPORT_RULES) {
      if (!under(file, rule.files) || (isTest(file) && !rule.tests) || rule.exceptions?.[file]) continue;
      for (const { spec, node } of imports) {
        const t = target(file, spec);
        const allowed = [...(rule.onlyAllowed ?? []), ...(isTest(file) ? (rule.allowedInTests ?? []) : [])];
        const bad = rule.forbidden ? matches(t, rule.forbidden) : rule.onlyAllowed ? !matches(t, allowed) && !t.startsWith('node:') : false;
        if (bad) out.push({ file, line: lineOf(node), rule: rule.name, detail: `imports '${spec}'` });
      }
    }
  }
  out.push(...checkBrowserPath(files));
  return out;
}

/** The browser entry's folder: everything its files import (transitively) runs in a web page. */
export const BROWSER_ROOT = 'runtime/browser/';
const NODE_BUILTINS = new Set(builtinModules);
const NODE_GLOBALS = ['process', 'Buffer', 'require', '__dirname', '__filename'];
const BROWSER_RULE = `files reachable from ${BROWSER_ROOT} never import Node built-ins or use Node's globals`;

function isNodeBuiltin(spec: string): boolean {
  return spec.startsWith('node:') || NODE_BUILTINS.has(spec.split('/')[0]!);
}

/** The project files a file's code imports (type-only imports left out: they vanish when compiled). */
function codeImports(src: ts.SourceFile): { spec: string; node: ts.Node }[] {
  const out: { spec: string; node: ts.Node }[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier) && !n.importClause?.isTypeOnly) out.push({ spec: n.moduleSpecifier.text, node: n });
    else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier) && !n.isTypeOnly) out.push({ spec: n.moduleSpecifier.text, node: n });
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) out.push({ spec: n.arguments[0].text, node: n });
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

/**
 * The browser path: every non-test file reachable from `BROWSER_ROOT` through value imports.
 * Each Node built-in it imports, and each use of Node's globals, is a violation (listed with the
 * chain of imports that reaches the file).
 */
export function checkBrowserPath(files: Map<string, string>): Violation[] {
  return browserPath(files).violations;
}

/** The files `checkBrowserPath` follows (sorted) and what it found in them. */
export function browserPath(files: Map<string, string>): { reachable: string[]; violations: Violation[] } {
  const out: Violation[] = [];
  const parsed = new Map<string, ts.SourceFile>();
  const parse = (f: string) => {
    let src = parsed.get(f);
    if (!src) {
      src = ts.createSourceFile(f, files.get(f)!, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
      parsed.set(f, src);
    }
    return src;
  };
  const via = new Map<string, string | null>();
  const queue = [...files.keys()].filter((f) => f.startsWith(BROWSER_ROOT) && !isTest(f));
  for (const f of queue) via.set(f, null);
  const chain = (f: string): string => {
    const parts = [f];
    for (let p = via.get(f); p; p = via.get(p)) parts.unshift(p);
    return parts.join(' → ');
  };
  while (queue.length > 0) {
    const file = queue.shift()!;
    const src = parse(file);
    const lineOf = (n: ts.Node) => src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1;
    for (const { spec, node } of codeImports(src)) {
      if (isNodeBuiltin(spec)) {
        out.push({ file, line: lineOf(node), rule: BROWSER_RULE, detail: `imports '${spec}' (reached by ${chain(file)})` });
        continue;
      }
      if (!spec.startsWith('.')) continue;
      const t = target(file, spec).replace(/\.js$/, '.ts');
      const resolved = files.has(t) ? t : files.has(`${t}/index.ts`) ? `${t}/index.ts` : null;
      if (resolved && !via.has(resolved)) {
        via.set(resolved, file);
        queue.push(resolved);
      }
    }
    const visit = (n: ts.Node): void => {
      if (ts.isIdentifier(n) && NODE_GLOBALS.includes(n.text)) {
        const p = n.parent;
        const isName = (ts.isPropertyAccessExpression(p) && p.name === n) || (ts.isPropertyAssignment(p) && p.name === n) || ts.isPropertySignature(p) || ts.isMethodDeclaration(p) || ts.isPropertyDeclaration(p);
        if (!isName) out.push({ file, line: lineOf(n), rule: BROWSER_RULE, detail: `uses Node's global '${n.text}' (reached by ${chain(file)})` });
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return { reachable: [...via.keys()].sort(), violations: out };
}

/** The repository's TypeScript files (repo-relative paths), node_modules and .mnxc left out. */
export function repositoryFiles(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
        walk(rel);
      } else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        files.set(rel, readFileSync(join(root, rel), 'utf8'));
      }
    }
  };
  walk('');
  return files;
}

/** Exceptions naming files that no longer exist (stale entries to delete). */
export function staleExceptions(files: Map<string, string>): string[] {
  return IMPORT_RULES.flatMap((r) => Object.keys(r.exceptions ?? {})).filter((f) => !files.has(f));
}
