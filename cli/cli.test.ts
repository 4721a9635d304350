import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../tests/fixtures.js';
import { parseSafetensors, type TensorMap } from '../runtime/io/safetensors.js';
import { readFileSync } from 'node:fs';
import { fixtureOverrides, nnunetOverrides, resencOverrides } from '../tests/overrides.js';
import { loadTensorflowBinding } from '../runtime/backends/tensorflow.js';
import { mnxcInProcess } from '../tests/cli.js';
import { loadNativeBackend } from '../runtime/backends/native.js';

/** Backends the parity tests run on: the npm ones always, `tensorflow` where `mnxc setup tensorflow` built it. */
const BACKENDS = ['cpu', 'wasm', ...((await loadTensorflowBinding()) === null ? ['tensorflow'] : [])];
/** Every backend: native too where `mnxc setup native` built it. */
const ALL_BACKENDS = [...BACKENDS, ...((await loadNativeBackend()) === null ? ['native'] : [])];

/** Every `out_*` of the reference within the fixtures' tolerance, 2e-5 + 2e-5·max|ref| per output. */
function expectWithinTolerance(expected: TensorMap, got: TensorMap, what: string): void {
  const heads = [...expected.keys()].filter((k) => k.startsWith('out_'));
  expect([...got.keys()].sort()).toEqual(heads.sort());
  for (const k of heads) {
    const e = expected.get(k)!.data as Float32Array;
    const g = got.get(k)!.data as Float32Array;
    let maxRef = 0;
    let maxErr = 0;
    for (let i = 0; i < e.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(e[i]!));
      maxErr = Math.max(maxErr, Math.abs(e[i]! - g[i]!));
    }
    expect(maxErr, `${what}: ${k}`).toBeLessThanOrEqual(2e-5 + 2e-5 * maxRef);
  }
}

/**
 * Runs `mnxc` in a child process without blocking the test worker's event loop: a blocking spawn
 * of a long forward pass starves vitest's RPC ("Timeout calling onTaskUpdate").
 */
async function mnxc(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  return { code, stdout, stderr };
}


describe('mnxc command line', () => {
  it('exit 0 and a summary line for a valid spec', async () => {
    const r = await mnxc('check', 'examples/mednext.mnx', '--variant', 'B');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/ok \(MedNeXt variant B/);
  });

  it('exit 1 with file:line:col diagnostics and no stack trace for a broken spec', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mnxc-'));
    const f = join(dir, 'bad.mnx');
    writeFileSync(f, '\u0000\u00ff garbage {{{ model');
    const r = await mnxc('check', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.mnx:1:\d+: error MNX1001/);
    expect(r.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
  });

  it('exit 2 for usage errors, with help available on every command', async () => {
    expect((await mnxc('check')).code).toBe(2);
    expect((await mnxc('nonsense')).code).toBe(2);
    expect((await mnxc('summary', 'examples/mednext.mnx', '--input-size', 'abc')).code).toBe(2);
    const help = await mnxc('--help');
    expect(help.code).toBe(0);
    // Every listed command answers --help (in-process: a process per command is slow).
    const { main } = await import('./main.js');
    const write = process.stdout.write.bind(process.stdout);
    for (const name of help.stdout.matchAll(/^ {2}(\S+)/gm)) {
      let text = '';
      process.stdout.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stdout.write;
      try {
        expect(await main([name[1]!, '--help']), `${name[1]} --help`).toBe(0);
      } finally {
        process.stdout.write = write;
      }
      expect(text, `${name[1]} --help`).toContain(`mnxc ${name[1]}`);
    }
  });

  it('summary --json reports the official parameter count of MedNeXt-S k3', async () => {
    const r = await mnxc('summary', 'examples/paper/mednext_S_k3.mnx', '--set', 'n_classes=3', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.params).toBe(5550947);
    expect(s.flops).toBeGreaterThan(s.macs);
  });
});

describe('mnxc forward matches the official PyTorch outputs', () => {
  const ref = join(FIXTURES, 'mednext-reference');
  for (const c of ['tiny_k3_ds', 'tiny_k5_nods']) {
    for (const backend of BACKENDS) {
      it(`${c} on ${backend}`, async () => {
        const out = join(mkdtempSync(join(tmpdir(), 'mnxc-')), 'out.safetensors');
        const set = fixtureOverrides(c).flatMap((s) => ['--set', s]);
        const r = await mnxc('forward', 'examples/mednext.mnx', ...set, '--weights', join(ref, `${c}.weights.safetensors`), '--input', join(ref, `${c}.io.safetensors`), '--output', out, '--backend', backend);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toContain(`backend: ${backend}`);
        const expected = parseSafetensors(readFileSync(join(ref, `${c}.io.safetensors`))).tensors;
        const got = parseSafetensors(readFileSync(out)).tensors;
        expectWithinTolerance(expected, got, `${c} on ${backend}`);
      });
    }
  }

  it('reports mis-shaped and missing weights by name with both shapes', async () => {
    const set = fixtureOverrides('tiny_k3_ds').flatMap((s) => ['--set', s]);
    const out = join(mkdtempSync(join(tmpdir(), 'mnxc-')), 'out.safetensors');
    const r = await mnxc('forward', 'examples/mednext.mnx', ...set, '--set', 'kernel_size=5', '--weights', join(ref, 'tiny_k3_ds.weights.safetensors'), '--input', join(ref, 'tiny_k3_ds.io.safetensors'), '--output', out, '--backend', 'cpu');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/enc_block_0\.0\.conv1\.weight/);
    expect(r.stderr).toMatch(/\[4, 1, 3, 3, 3\]|4,1,3,3,3/);
  });
});

describe('mnxc compile, then forward / summary / upkern from the compiled model', async () => {
  const ref = join(FIXTURES, 'mednext-reference');
  const dir = mkdtempSync(join(tmpdir(), 'mnxc-compiled-'));
  const build = join(dir, 'build');
  const set = fixtureOverrides('tiny_k3_ds').flatMap((s) => ['--set', s]);

  // In-process: a process per command costs seconds on a loaded machine.
  const run = async (...args: string[]) => {
    const r = await mnxcInProcess(...args);
    return { code: r.code, stdout: r.out, stderr: r.err };
  };

  it('forward takes the compile folder or its model.ir.json (compiled at 128³) and gives the official outputs', async () => {
    const c = await run('compile', 'examples/mednext.mnx', ...set, '-o', build);
    expect(c.code, c.stderr).toBe(0);
    const expected = parseSafetensors(readFileSync(join(ref, 'tiny_k3_ds.io.safetensors'))).tensors;
    for (const net of [build, join(build, 'model.ir.json')]) {
      const out = join(dir, 'out.safetensors');
      const r = await run('forward', net, '--weights', join(ref, 'tiny_k3_ds.weights.safetensors'), '--input', join(ref, 'tiny_k3_ds.io.safetensors'), '--output', out, '--backend', 'cpu');
      expect(r.code, r.stderr).toBe(0);
      expectWithinTolerance(expected, parseSafetensors(readFileSync(out)).tensors, `forward ${net}`);
    }
  });

  it('summary and upkern read it too; the spec-only options, a folder without an IR and an invalid IR are refused naming the file', async () => {
    const fromSpec = await run('summary', 'examples/mednext.mnx', ...set, '--json');
    const fromIR = await run('summary', build, '--json');
    expect(fromIR.code, fromIR.stderr).toBe(0);
    expect(JSON.parse(fromIR.stdout)).toEqual(JSON.parse(fromSpec.stdout));
    const up = await run('upkern', '--from', build, '--to', join(build, 'model.ir.json'), '--weights', join(ref, 'tiny_k3_ds.weights.safetensors'), '--out', join(dir, 'same.safetensors'));
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/copy/);
    const withSet = await run('summary', build, '--set', 'kernel_size=5');
    expect(withSet.code).toBe(1);
    expect(withSet.stderr).toMatch(/build: --set apply to \.mnx specs; this is a compiled IR/);
    const otherSize = await run('summary', build, '--input-size', '64,64,64');
    expect(otherSize.code).toBe(1);
    expect(otherSize.stderr).toMatch(/compiled for input 128×128×128, not 64×64×64/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const none = await run('summary', empty);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/empty: not a compiled model \(no model\.ir\.json/);
    const bad = join(dir, 'bad.ir.json');
    writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(join(build, 'model.ir.json'), 'utf8')), outputs: ['nowhere'] }));
    const invalid = await run('forward', bad, '--weights', join(ref, 'tiny_k3_ds.weights.safetensors'), '--input', join(ref, 'tiny_k3_ds.io.safetensors'), '--output', join(dir, 'x.safetensors'));
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/bad\.ir\.json: not a valid model IR:\n {2}output nowhere is not produced by any node/);
    expect(invalid.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("mnxc forward matches nnU-Net's official PlainConvUNet", () => {
  const ref = join(FIXTURES, 'nnunet-reference');
  for (const c of ['plain_unet_iso', 'plain_unet_aniso']) {
    for (const backend of BACKENDS) {
      it(`${c} on ${backend}`, async () => {
        const meta = JSON.parse(readFileSync(join(ref, `${c}.json`), 'utf8'));
        const out = join(mkdtempSync(join(tmpdir(), 'mnxc-')), 'out.safetensors');
        const set = nnunetOverrides(meta.constructor_args).flatMap((s: string) => ['--set', s]);
        const r = await mnxc('forward', 'examples/nnunet.mnx', ...set, '--weights', join(ref, `${c}.weights.safetensors`), '--input', join(ref, `${c}.io.safetensors`), '--output', out, '--backend', backend);
        expect(r.code, r.stderr).toBe(0);
        const expected = parseSafetensors(readFileSync(join(ref, `${c}.io.safetensors`))).tensors;
        const got = parseSafetensors(readFileSync(out)).tensors;
        expectWithinTolerance(expected, got, `${c} on ${backend}`);
      });
    }
  }
});

describe("mnxc forward matches nnU-Net's official ResidualEncoderUNet", () => {
  const ref = join(FIXTURES, 'resenc-reference');
  for (const c of ['resenc_iso', 'resenc_aniso']) {
    for (const backend of ALL_BACKENDS) {
      it(`${c} on ${backend}`, async () => {
        const meta = JSON.parse(readFileSync(join(ref, `${c}.json`), 'utf8'));
        const out = join(mkdtempSync(join(tmpdir(), 'mnxc-')), 'out.safetensors');
        const set = resencOverrides(meta.constructor_args).flatMap((s: string) => ['--set', s]);
        const r = await mnxc('forward', 'examples/resenc.mnx', ...set, '--weights', join(ref, `${c}.weights.safetensors`), '--input', join(ref, `${c}.io.safetensors`), '--output', out, '--backend', backend);
        expect(r.code, r.stderr).toBe(0);
        const expected = parseSafetensors(readFileSync(join(ref, `${c}.io.safetensors`))).tensors;
        const got = parseSafetensors(readFileSync(out)).tensors;
        expectWithinTolerance(expected, got, `${c} on ${backend}`);
      });
    }
  }
});
