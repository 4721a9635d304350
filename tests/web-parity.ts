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
import { baselineOverrides, fixtureOverrides, nnunetOverrides, resencOverrides } from './overrides.js';
import { CASES as BASELINES } from '../cli/baselines-parity.js';

export type FixtureKind = 'mednext-reference' | 'nnunet-reference' | 'resenc-reference' | 'baselines-reference';

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

/** The IR of a fixture case: compiled from examples/ for networks (the baselines' specs and overrides as cli/baselines-parity.ts has them), hand-written (runtime/model/test-ir.ts) for single blocks. */
export function fixtureIR(c: ParityCase): IRModel {
  const meta = JSON.parse(readFileSync(join(FIXTURES, c.kind, `${c.name}.json`), 'utf8'));
  const blocks: Record<string, () => IRModel> = {
    block_k3: () => blockIR(4, 2, 3),
    block_k5: () => blockIR(4, 2, 5),
    down_k3: () => downIR(4, 8, 2, 3),
    up_k3: () => upIR(8, 4, 2, 3),
  };
  if (c.kind === 'mednext-reference' && blocks[c.name]) return blocks[c.name]!();
  let spec: string;
  let set: string[];
  if (c.kind === 'baselines-reference') {
    const baseline = BASELINES.find((b) => b.case === c.name);
    if (!baseline) throw new Error(`baselines-reference/${c.name}: no spec for this case in cli/baselines-parity.ts`);
    spec = join(ROOT, baseline.spec);
    set = (baseline.overrides ?? baselineOverrides)(meta.constructor_args);
  } else {
    const specs = { 'mednext-reference': 'mednext.mnx', 'nnunet-reference': 'nnunet.mnx', 'resenc-reference': 'resenc.mnx' } as const;
    spec = join(ROOT, 'examples', specs[c.kind]);
    set = c.kind === 'mednext-reference' ? fixtureOverrides(c.name) : c.kind === 'nnunet-reference' ? nnunetOverrides(meta.constructor_args) : resencOverrides(meta.constructor_args);
  }
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

/** Runs in the page: each op of `only` on the cpu backend, then on each backend; the max |difference| per backend and op. */
const OP_CHECK = async (backends: string[], only: string[]): Promise<Record<string, number>> => {
  type T = { dataSync(): Float32Array; data(): Promise<Float32Array> };
  const m = (globalThis as unknown as { mnxc: { tf: Record<string, (...a: unknown[]) => T> & { tidy(f: () => T): T }; ops: Record<string, (...a: unknown[]) => T>; useWebBackend(b: string): Promise<string> } }).mnxc;
  const tf = m.tf;
  const values = (shape: number[], seed: number) => {
    let s = seed;
    const n = shape.reduce((a, b) => a * b, 1);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      d[i] = (s / 2147483648) * 2 - 1;
    }
    return () => tf.tensor(d, shape);
  };
  const x = values([1, 8, 10, 12, 4], 1), x2 = values([2, 6, 6, 6, 3], 2), dw = values([3, 3, 3, 4, 1], 3), full = values([3, 3, 3, 4, 6], 4), b4 = values([4], 5), b6 = values([6], 6), ft = values([2, 2, 2, 6, 4], 7), b3 = values([3], 8), big = values([1, 96, 96, 96, 2], 9);
  const cases: Record<string, () => T> = {
    pad5: () => tf.pad(x(), [[0, 0], [1, 0], [2, 1], [0, 3], [0, 0]]),
    pad5Batch: () => tf.pad(x2(), [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]]),
    stridedSlice5: () => tf.stridedSlice(x(), [0, 1, 0, 2, 0], [1, 8, 9, 12, 4], [1, 2, 3, 2, 1]),
    reverse5: () => tf.reverse(full(), [0, 1, 2]),
    transpose8: () => tf.transpose(tf.reshape(x(), [1, 2, 4, 2, 5, 3, 4, 4]), [0, 1, 3, 5, 2, 4, 6, 7]),
    // Only size-1 axes move (a window partition of a 1-sample volume); the input is a kernel's output, as in a network.
    transposeSizeOne: () => tf.transpose(tf.reshape(tf.mul(tf.reshape(x(), [240, 16]), 1), [1, 2, 4, 1, 2, 1, 2, 120]), [0, 1, 3, 5, 2, 4, 6, 7]),
    transpose6: () => tf.transpose(tf.reshape(x(), [2, 4, 2, 5, 12, 4]), [0, 2, 4, 1, 3, 5]),
    addBias5: () => tf.add(x(), b4()),
    mulBias5: () => tf.mul(x2(), b3()),
    depthwiseConv3dStride2: () => m.ops.depthwiseConv3d(x(), dw(), 2, 1, b4()),
    depthwiseConvTranspose3d: () => m.ops.depthwiseConvTranspose3d(x(), dw(), 2, 1, b4()),
    conv3d: () => m.ops.conv3d(x(), full(), 1, 1, b6()),
    conv3dStride2: () => m.ops.conv3d(x(), full(), [1, 2, 2], [0, 1, 1], b6()),
    convTranspose3d: () => m.ops.convTranspose3d(x(), ft(), 2, 0, b6()),
    instanceNorm: () => m.ops.groupNorm(x(), 4, 1e-5, b4(), b4()),
    leakyRelu: () => m.ops.leakyRelu(x(), 0.01),
    avgPool: () => m.ops.avgPool(x(), [2, 2, 2]),
    // A 96³ volume, offset by 40: GroupNorm's voxel sums are the longest reductions a network has.
    groupNormLargeOffset: () => m.ops.groupNorm(tf.add(big(), 40), 1, 1e-5),
  };
  const reference: Record<string, Float32Array> = {};
  await m.useWebBackend('cpu');
  const run = Object.entries(cases).filter(([k]) => only.includes(k));
  if (run.length !== only.length) throw new Error(`unknown op checks: ${only.join(', ')}`);
  for (const [k, f] of run) reference[k] = await tf.tidy(f).data();
  const out: Record<string, number> = {};
  for (const backend of backends) {
    await m.useWebBackend(backend);
    for (const [k, f] of run) {
      const y = await tf.tidy(f).data();
      const r = reference[k]!;
      let e = y.length === r.length ? 0 : Infinity;
      for (let i = 0; i < y.length && e < Infinity; i++) e = Math.max(e, Math.abs(y[i]! - r[i]!));
      out[`${k} on ${backend}`] = e;
    }
  }
  return out;
};

/** The kernels runtime/browser/rank5-kernels.ts replaces, on rank-5 tensors. */
export const RANK5_KERNEL_CHECKS = ['pad5', 'pad5Batch', 'stridedSlice5', 'reverse5', 'transpose8', 'transposeSizeOne', 'transpose6', 'addBias5', 'mulBias5'];
/** The ops of the networks, by themselves (nnU-Net's dense convolutions and norms among them). */
export const OP_CHECKS = ['depthwiseConv3dStride2', 'depthwiseConvTranspose3d', 'conv3d', 'conv3dStride2', 'convTranspose3d', 'instanceNorm', 'leakyRelu', 'avgPool', 'groupNormLargeOffset'];

/** Each named check (RANK5_KERNEL_CHECKS, OP_CHECKS) on each backend against the cpu backend, in the site's page: max |difference| by `op on backend`. */
export function checkOps(site: ParitySite, backends: string[], only: string[]): Promise<Record<string, number>> {
  return site.page.page.evaluate(OP_CHECK, backends, only);
}
