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
 */
import { readdirSync, readFileSync } from 'node:fs';
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
export const TRANSPOSE_ALLOWED = [LAYOUT_MODULE, 'runtime/ops/', 'runtime/kernels/', 'runtime/backends/'];
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
  return out;
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
