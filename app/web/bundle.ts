import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { packageRoot } from '../../runtime/io/package-root.js';
import { MnxError } from '../../runtime/errors.js';

/**
 * The browser bundle: ES modules built with esbuild from the TypeScript sources (they ship with
 * the package, so `mnxc export-web` can build it from an installed mnxc too), plus TF.js's wasm
 * binaries next to them (the runtime's default `wasmPaths`).
 *
 * `npm run build:web` writes dist/web/. Entries share chunks (code splitting), so a page's own
 * entry and the runtime share one TF.js engine; each backend's module is a chunk loaded only when
 * that backend is chosen.
 */

/** Entry points: output name (without .js) → source, relative to the package root. Add a page's entry here. */
export const WEB_ENTRIES: Record<string, string> = {
  'mnxc-runtime': 'runtime/browser/index.ts',
};

/** TF.js's wasm binaries, copied next to the bundle. */
export const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export class WebBundleError extends MnxError {
  constructor(message: string) {
    super(message);
    this.name = 'WebBundleError';
  }
}

export interface WebBundleOptions {
  /** Output folder (created; files of an earlier build in it are replaced). */
  outDir: string;
  /** Entries to build (default `WEB_ENTRIES`): name → source path relative to the package root, or absolute. */
  entries?: Record<string, string>;
  /** Minify (default true). */
  minify?: boolean;
  /** Write source maps (default false). */
  sourcemap?: boolean;
}

export interface WebBundle {
  outDir: string;
  /** Every file written, relative to outDir, sorted. */
  files: string[];
  /** Total bytes written. */
  bytes: number;
}

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Refuses a Node built-in imported by the project's own sources (packages keep their `browser`
 * field: tfjs maps `fs`, `worker_threads`… to nothing there). esbuild's browser platform would
 * also fail on one a package reaches; this names the importer and the rule.
 */
function noNodeBuiltins(root: string): esbuild.Plugin {
  return {
    name: 'mnxc-no-node-builtins',
    setup(build) {
      build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
        if (!NODE_BUILTINS.has(args.path) || args.importer.includes(`${'/'}node_modules${'/'}`)) return undefined;
        return {
          errors: [{ text: `Node built-in '${args.path}' imported by ${relative(root, args.importer)}: files reachable from runtime/browser/ never import Node built-ins (move the Node I/O to a separate module)` }],
        };
      });
    },
  };
}

/**
 * runtime/ops/gradients.ts imports the union package '@tensorflow/tfjs' for its side effect (it
 * registers TF.js's gradients in Node). In the browser that would pull in every backend, layers
 * and the converter, and register webgl eagerly; tfjs-core's own ES build registers the same
 * gradients with one module, so the bundle takes that one instead.
 */
function gradientsOnly(): esbuild.Plugin {
  return {
    name: 'mnxc-tfjs-gradients-only',
    setup(build) {
      build.onResolve({ filter: /^@tensorflow\/tfjs$/ }, (args) =>
        build.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js', { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer }),
      );
    },
  };
}

/** Builds the browser bundle into `outDir`; throws WebBundleError with esbuild's messages when it fails. */
export async function buildWebBundle(options: WebBundleOptions): Promise<WebBundle> {
  const root = packageRoot(import.meta.url);
  const outDir = resolve(options.outDir);
  const entries = options.entries ?? WEB_ENTRIES;
  const entryPoints = Object.fromEntries(Object.entries(entries).map(([name, src]) => [name, resolve(root, src)]));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  try {
    await esbuild.build({
      entryPoints,
      outdir: outDir,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: options.minify ?? true,
      sourcemap: options.sourcemap ?? false,
      // Flat: every module's import.meta.url is the bundle's folder (the default wasmPaths).
      chunkNames: 'chunk-[hash]',
      // The project's sources resolve through the "mnxc-source" condition, as in Node.
      conditions: ['mnxc-source'],
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
      plugins: [noNodeBuiltins(root), gradientsOnly()],
      absWorkingDir: root,
    });
  } catch (e) {
    const failure = e as esbuild.BuildFailure;
    const lines = (failure.errors ?? []).map((m) => `${m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : ''}${m.text}`);
    throw new WebBundleError(`the browser bundle failed to build:\n  ${lines.join('\n  ') || (e as Error).message}`);
  }
  copyWasm(outDir);
  const files = listFiles(outDir);
  const bytes = files.reduce((a, f) => a + statSync(join(outDir, f)).size, 0);
  return { outDir, files, bytes };
}

function copyWasm(outDir: string): void {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  for (const f of WASM_FILES) {
    const src = join(dir, 'dist', f);
    if (!existsSync(src)) throw new WebBundleError(`${src}: missing from @tensorflow/tfjs-backend-wasm (reinstall it)`);
    copyFileSync(src, join(outDir, f));
  }
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}
