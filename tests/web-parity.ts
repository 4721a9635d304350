/**
 * Parity of the browser runtime with the official PyTorch outputs, in headless Chromium
 * (tests/browser.ts): the Node side compiles each fixture's network to IR and lays out a site —
 * the browser bundle (app/web/bundle.ts), the IR, the fixture's weights and io files, a page —
 * and the page runs the bundle's `useWebBackend` / `loadModel` / `forward` on each backend and
 * compares every output with the reference there (only the numbers come back).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { compileFile } from '../compiler/compile.js';
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import type { IRModel } from '../ir/types.js';
import { blockIR, downIR, upIR } from '../runtime/model/test-ir.js';
import { buildWebBundle } from '../app/web/bundle.js';
import { launchBrowser, openPage, serveFolder, type OpenedPage, type StaticServer } from './browser.js';
import { FIXTURES, ROOT } from './fixtures.js';
import { fixtureOverrides, nnunetOverrides } from './overrides.js';

export type FixtureKind = 'mednext-reference' | 'nnunet-reference';

export interface ParityCase {
  kind: FixtureKind;
  name: string;
}

export interface OutputParity {
  name: string;
  shape: number[];
  maxErr: number;
  tolerance: number;
}

export interface ParityResult {
  case: string;
  /** The backend that ran it (as useWebBackend answered). */
  backend: string;
  /** Milliseconds per forward (host input → host outputs), first call first (shader compilation included). */
  ms: number[];
  outputs: OutputParity[];
  /** Tensors left on the engine after the model was disposed. */
  tensorsLeft: number;
}

/** The IR of a fixture case: compiled from examples/ for networks, hand-written (runtime/model/test-ir.ts) for single blocks. */
export function fixtureIR(c: ParityCase): IRModel {
  const meta = JSON.parse(readFileSync(join(FIXTURES, c.kind, `${c.name}.json`), 'utf8'));
  const blocks: Record<string, () => IRModel> = {
    block_k3: () => blockIR(4, 2, 3),
    block_k5: () => blockIR(4, 2, 5),
    down_k3: () => downIR(4, 8, 2, 3),
    up_k3: () => upIR(8, 4, 2, 3),
  };
  if (c.kind === 'mednext-reference' && blocks[c.name]) return blocks[c.name]!();
  const spec = join(ROOT, 'examples', c.kind === 'mednext-reference' ? 'mednext.mnx' : 'nnunet.mnx');
  const set = c.kind === 'mednext-reference' ? fixtureOverrides(c.name) : nnunetOverrides(meta.constructor_args);
  const r = compileFile(spec, { set, inputSize: meta.input.shape.slice(2) });
  const problems = renderDiagnostics(r.diagnostics.filter((d) => d.severity === 'error'), r.sources);
  if (!r.ir || problems) throw new Error(`${c.kind}/${c.name}: does not compile:\n${problems}`);
  return r.ir;
}

/** The page's side: runs cases on one backend with the bundle and measures the errors in the page. */
const PAGE_SCRIPT = `
import * as mnxc from './mnxc-runtime.js';
window.mnxc = mnxc;
const bytes = async (url) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return new Uint8Array(await r.arrayBuffer());
};
window.runParity = async (backend, cases, repeats) => {
  const used = await mnxc.useWebBackend(backend);
  const results = [];
  for (const c of cases) {
    const ir = JSON.parse(new TextDecoder().decode(await bytes(c.name + '.ir.json')));
    const model = mnxc.loadModel(ir, await bytes(c.name + '.weights.safetensors'), { what: c.name });
    const io = mnxc.readWeights(await bytes(c.name + '.io.safetensors'), c.name + '.io.safetensors');
    const input = io.get('input');
    const ms = [];
    let outs;
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      outs = await mnxc.forward(model, { shape: input.shape, data: input.data });
      ms.push(performance.now() - t0);
    }
    model.dispose();
    const outputs = c.outputs.map((name, i) => {
      const ref = io.get(name);
      const y = outs[i];
      if (!y || y.shape.join() !== ref.shape.join()) return { name, shape: y ? y.shape : [], maxErr: Infinity, tolerance: 0 };
      let err = 0, top = 0;
      for (let k = 0; k < ref.data.length; k++) {
        const d = Math.abs(y.data[k] - ref.data[k]);
        if (!(d <= err)) err = d;
        top = Math.max(top, Math.abs(ref.data[k]));
      }
      return { name, shape: y.shape, maxErr: err, tolerance: c.atol + c.rtol * top };
    });
    results.push({ case: c.name, backend: used, ms, outputs, tensorsLeft: mnxc.tf.memory().numTensors });
  }
  return results;
};
`;

/** A site with the bundle and the cases, served, and Chromium on it. `run` runs cases on a backend. */
export interface ParitySite {
  server: StaticServer;
  browser: Browser;
  page: OpenedPage;
  run(backend: string, cases: ParityCase[], repeats?: number): Promise<ParityResult[]>;
  close(): Promise<void>;
}

export async function openParitySite(cases: ParityCase[]): Promise<ParitySite> {
  const dir = mkdtempSync(join(tmpdir(), 'mnxc-web-parity-'));
  await buildWebBundle({ outDir: dir, minify: false });
  const outputs = new Map<string, { outputs: string[]; atol: number; rtol: number }>();
  for (const c of cases) {
    const src = join(FIXTURES, c.kind);
    writeFileSync(join(dir, `${c.name}.ir.json`), JSON.stringify(fixtureIR(c)));
    copyFileSync(join(src, `${c.name}.weights.safetensors`), join(dir, `${c.name}.weights.safetensors`));
    copyFileSync(join(src, `${c.name}.io.safetensors`), join(dir, `${c.name}.io.safetensors`));
    const meta = JSON.parse(readFileSync(join(src, `${c.name}.json`), 'utf8'));
    const tol = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).tolerance as { atol: number; rtol: number };
    outputs.set(c.name, { outputs: (meta.outputs as { name: string }[]).map((o) => o.name), ...tol });
  }
  writeFileSync(join(dir, 'parity.js'), PAGE_SCRIPT);
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>mnxc parity</title><script type="module" src="parity.js"></script>');
  const server = await serveFolder(dir);
  const browser = await launchBrowser();
  const page = await openPage(browser, `${server.url}/`);
  await page.page.waitForFunction('typeof window.runParity === "function"');
  return {
    server,
    browser,
    page,
    run: (backend, which, repeats = 1) =>
      page.page.evaluate(
        (b, cs, r) => (globalThis as unknown as { runParity(b: string, c: unknown[], r: number): Promise<ParityResult[]> }).runParity(b, cs, r),
        backend,
        which.map((c) => ({ name: c.name, ...outputs.get(c.name)! })),
        repeats,
      ),
    async close() {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One line per result: case, backend, worst output's error against its tolerance, time per forward. */
export function describeParity(results: ParityResult[]): string {
  return results
    .map((r) => {
      const worst = r.outputs.reduce((a, o) => (o.maxErr / o.tolerance > a.maxErr / a.tolerance ? o : a));
      return `${r.case} on ${r.backend}: max |err| ${worst.maxErr.toExponential(2)} (${worst.name}, tolerance ${worst.tolerance.toExponential(2)}); forward ${r.ms.map((m) => `${Math.round(m)} ms`).join(', ')}`;
    })
    .join('\n');
}
