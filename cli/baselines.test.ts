import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '../runtime/io/safetensors.js';
import { FIXTURES, ROOT } from '../tests/fixtures.js';
import { baselineOverrides, transunetOverrides } from '../tests/overrides.js';

/**
 * `mnxc forward` of the baselines written in the language (examples/baselines/) against the
 * official PyTorch outputs (tests/fixtures/baselines-reference), on every backend, with `--set`
 * overrides reproducing each case's constructor arguments. Tolerance per output:
 * 2e-5 + 2e-5·max|reference| (the fixture README).
 */
const REF = join(FIXTURES, 'baselines-reference');
const BACKENDS = ['cpu', 'wasm', 'native', 'tensorflow'];
const CASES: { case: string; spec: string; overrides?: (a: Record<string, unknown>) => string[] }[] = [
  { case: 'unetr_tiny', spec: 'examples/baselines/unetr.mnx' },
  { case: 'uxnet_tiny', spec: 'examples/baselines/uxnet.mnx' },
  { case: 'swin_unetr_tiny', spec: 'examples/baselines/swin_unetr.mnx' },
  { case: 'transbts_tiny', spec: 'examples/baselines/transbts.mnx' },
  { case: 'nnformer_tiny', spec: 'examples/baselines/nnformer.mnx' },
  { case: 'transunet_tiny', spec: 'examples/baselines/transunet.mnx', overrides: transunetOverrides },
];

function mnxc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mnxc forward matches the official baselines', () => {
  for (const c of CASES) {
    for (const backend of BACKENDS) {
      it(`${c.case} on ${backend}`, () => {
        const meta = JSON.parse(readFileSync(join(REF, `${c.case}.json`), 'utf8'));
        const out = join(mkdtempSync(join(tmpdir(), 'mnxc-')), 'out.safetensors');
        const set = (c.overrides ?? baselineOverrides)(meta.constructor_args).flatMap((s) => ['--set', s]);
        const r = mnxc('forward', c.spec, ...set, '--weights', join(REF, `${c.case}.weights.safetensors`), '--input', join(REF, `${c.case}.io.safetensors`), '--output', out, '--backend', backend);
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
      }, 400_000);
    }
  }
});
