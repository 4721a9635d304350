import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parseSafetensors } from '../runtime/io/safetensors.js';
import { FIXTURES, ROOT } from '../tests/fixtures.js';
import { baselineOverrides, transunetOverrides } from '../tests/overrides.js';

/**
 * `mnxc forward` of the baselines written in the language (examples/baselines/) against the
 * official PyTorch outputs (tests/fixtures/baselines-reference), with `--set` overrides reproducing
 * each case's constructor arguments. Tolerance per output: 2e-5 + 2e-5·max|reference| (the fixture
 * README). The cases run on every backend: cli/baselines.test.ts in `npm test`, and the few that
 * take minutes on the pure-JS kernels in cli/baselines.long.test.ts (`npm run test:long`, CI).
 */
const REF = join(FIXTURES, 'baselines-reference');
export const BACKENDS = ['cpu', 'wasm', 'native', 'tensorflow'] as const;
export type Backend = (typeof BACKENDS)[number];
export const CASES: { case: string; spec: string; overrides?: (a: Record<string, unknown>) => string[] }[] = [
  { case: 'unetr_tiny', spec: 'examples/baselines/unetr.mnx' },
  { case: 'uxnet_tiny', spec: 'examples/baselines/uxnet.mnx' },
  { case: 'swin_unetr_tiny', spec: 'examples/baselines/swin_unetr.mnx' },
  { case: 'transbts_tiny', spec: 'examples/baselines/transbts.mnx' },
  { case: 'nnformer_tiny', spec: 'examples/baselines/nnformer.mnx' },
  { case: 'transunet_tiny', spec: 'examples/baselines/transunet.mnx', overrides: transunetOverrides },
];

/**
 * The long suite's runs (`npm run test:long`): every case on the pure-JS backends (cpu, wasm), and
 * 3D UX-Net on native too. Measured in a clean-clone run on CI's 2-core machine: 3D UX-Net's class
 * hard-codes 48 channels, and its dense 3×3×3 convolutions at full resolution take 75–95 s on cpu,
 * wasm and native (whose dense convolutions are the cpu backend's); SwinUNETR 34 s on cpu, 18 s on
 * wasm; the others 3–10 s each. `npm test` keeps tensorflow and native.
 */
export const LONG: { case: string; backend: Backend }[] = [
  ...CASES.flatMap((c) => (['cpu', 'wasm'] as const).map((backend) => ({ case: c.case, backend }))),
  { case: 'uxnet_tiny', backend: 'native' },
];
export const isLong = (c: string, backend: Backend) => LONG.some((l) => l.case === c && l.backend === backend);

/** Spawned, not spawnSync: the worker's event loop stays free to answer vitest during long runs. */
function mnxc(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('close', (code) => done({ code, stderr }));
  });
}

/** One test: case c on backend, every output within the fixture's tolerance. */
export function parityTest(c: (typeof CASES)[number], backend: Backend): void {
  it(`${c.case} on ${backend}`, async () => {
    const meta = JSON.parse(readFileSync(join(REF, `${c.case}.json`), 'utf8'));
    const out = join(mkdtempSync(join(tmpdir(), 'mnxc-')), 'out.safetensors');
    const set = (c.overrides ?? baselineOverrides)(meta.constructor_args).flatMap((s) => ['--set', s]);
    const r = await mnxc('forward', c.spec, ...set, '--weights', join(REF, `${c.case}.weights.safetensors`), '--input', join(REF, `${c.case}.io.safetensors`), '--output', out, '--backend', backend);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`backend: ${backend}`);
    const expected = parseSafetensors(readFileSync(join(REF, `${c.case}.io.safetensors`))).tensors;
    const got = parseSafetensors(readFileSync(out)).tensors;
    const heads = [...expected.keys()].filter((k) => k.startsWith('out_'));
    expect([...got.keys()].sort()).toEqual(heads.sort());
    for (const k of heads) {
      const e = expected.get(k)!.data as Float32Array;
      const g = got.get(k)!.data as Float32Array;
      expect(got.get(k)!.shape).toEqual(expected.get(k)!.shape);
      let maxRef = 0;
      let maxErr = 0;
      for (let i = 0; i < e.length; i++) {
        maxRef = Math.max(maxRef, Math.abs(e[i]!));
        maxErr = Math.max(maxErr, Math.abs(e[i]! - g[i]!));
      }
      // Printed for the report (max error per case and backend).
      console.log(`${c.case} ${backend} ${k}: max |err| ${maxErr.toExponential(2)} (tolerance ${(2e-5 + 2e-5 * maxRef).toExponential(2)})`);
      expect(maxErr, `${c.case} on ${backend}: ${k}`).toBeLessThanOrEqual(2e-5 + 2e-5 * maxRef);
    }
  }, 600_000);
}
