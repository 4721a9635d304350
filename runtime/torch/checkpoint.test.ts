import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../../tests/fixtures.js';
import { readSafetensors, type SafeTensor, type TensorMap } from '../io/safetensors.js';
import { CheckpointError } from './errors.js';
import { importTorchWeights, readTorchWeights, stripWrapperPrefixes } from './state-dict.js';

const CKPT = join(FIXTURES, 'torch-checkpoints');
const TESTDATA = resolve(ROOT, 'runtime', 'torch', 'testdata');

function expectSameTensors(actual: TensorMap, expected: TensorMap): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    expect(a.dtype, name).toBe(e.dtype);
    expect(a.shape, name).toEqual(e.shape);
    // bit-exact: compare the raw bytes
    expect(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength)), name).toBe(true);
  }
}

describe('PyTorch checkpoints written by real PyTorch (shared fixtures)', () => {
  const reference = readSafetensors(join(FIXTURES, 'mednext-reference', 'tiny_k3_ds.weights.safetensors'));

  it.each([
    ['tiny_k3_ds_model_final_checkpoint.model', 'zip', 'state_dict', 0],
    ['tiny_k3_ds_ddp_prefixed.model', 'zip', 'state_dict', 165],
    ['tiny_k3_ds_state_dict.pth', 'zip', null, 0],
    ['tiny_k3_ds_legacy_state_dict.pth', 'legacy', null, 0],
  ])('%s yields exactly the reference weights', (file, format, key, stripped) => {
    const w = readTorchWeights(join(CKPT, file));
    expect(w.format).toBe(format);
    expect(w.key).toBe(key);
    expect(w.stripped).toBe(stripped);
    expect(w.converted).toEqual({});
    expectSameTensors(w.tensors, reference);
  });

  it('picks another entry of the trainer checkpoint with a key, and lists the keys when it does not fit', () => {
    const file = join(CKPT, 'tiny_k3_ds_model_final_checkpoint.model');
    expect(() => readTorchWeights(file, 'plot_stuff')).toThrow(
      /'plot_stuff' is a tuple of 4, not a dict of tensors; the checkpoint's keys: epoch \(number\), state_dict \(dict of 165\), optimizer_state_dict \(dict of 2\), lr_scheduler_state_dict \(None\), plot_stuff \(tuple of 4\), best_stuff \(tuple of \d+\), amp_grad_scaler/,
    );
    expect(() => readTorchWeights(file, 'nope')).toThrow(/no key 'nope' in the checkpoint; its keys: epoch/);
  });

  const hostile: [string, RegExp][] = [
    ['hostile_reduce_os_system.pth', /refusing to load global 'posix\.system'/],
    ['hostile_plain_pickle_eval.pth', /refusing to load global 'builtins\.eval'/],
    ['hostile_truncated.pth', /zip end record not found \(the file is truncated or not a zip archive\)/],
    ['hostile_short_storage.pth', /tensor 'bottleneck\.0\.conv1\.bias' \[64\] .* needs 64 float32 elements, but archive\/data\/0 holds only 2 \(8 bytes\)/],
    ['hostile_not_a_checkpoint.pth', /zip end record not found/],
  ];

  it.each(hostile)('%s is refused with a clear message', (file, message) => {
    const run = (): unknown => readTorchWeights(join(CKPT, file));
    expect(run).toThrow(CheckpointError);
    expect(run).toThrow(message);
  });

  describe('through the CLI, in a scratch working folder', () => {
    const work = mkdtempSync(join(tmpdir(), 'mnxc-import-torch-'));
    afterAll(() => rmSync(work, { recursive: true, force: true }));
    const mnxc = (...args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'import-torch', ...args], { cwd: work, encoding: 'utf8' });

    it('refuses every hostile file: exit 1, one-line message, no output file, nothing executed', () => {
      for (const [file, message] of hostile) {
        const r = mnxc(join(CKPT, file), '--out', 'out.safetensors');
        expect(r.status, file).toBe(1);
        expect(r.stderr, file).toMatch(message);
        expect(r.stderr, file).not.toMatch(/\n\s+at /); // no stack trace
        expect(existsSync(join(work, 'out.safetensors')), file).toBe(false);
        // the os.system payload would have run `touch mnxc-pwned` here
        expect(existsSync(join(work, 'mnxc-pwned')), file).toBe(false);
      }
    });

    it('converts the trainer checkpoint to safetensors equal to the reference', () => {
      const r = mnxc(join(CKPT, 'tiny_k3_ds_ddp_prefixed.model'), '--out', 'w.safetensors');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/read 165 tensors from 'state_dict' \(zip format\)/);
      expect(r.stdout).toMatch(/prefix from 165 names/);
      expectSameTensors(readSafetensors(join(work, 'w.safetensors')), reference);
    });
  });
});

describe('checkpoints made with torch 2.13 by testdata/generate.py', () => {
  interface Expected {
    shape: number[];
    dtype: string;
    values: number[];
  }
  const expected = JSON.parse(readFileSync(join(TESTDATA, 'expected.json'), 'utf8')) as Record<string, Expected>;
  const SAFE: Record<string, string> = { float32: 'F32', float64: 'F32', float16: 'F32', bfloat16: 'F32', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'BOOL' };

  function check(t: SafeTensor, e: Expected, name: string): void {
    expect(t.dtype, name).toBe(SAFE[e.dtype]);
    expect(t.shape, name).toEqual(e.shape);
    const got = Array.from(t.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v));
    // float64 values are rounded to float32; everything else is exact
    const want = e.values.map((v) => (t.dtype === 'F32' ? Math.fround(v) : e.dtype === 'bool' ? (v ? 1 : 0) : v));
    expect(got, name).toEqual(want);
  }

  it.each(['mixed_zip_p2.pth', 'mixed_zip_p5.pth', 'mixed_zip64.pth', 'mixed_legacy.pth'])(
    '%s: every dtype, transposed / sliced / stride-0 views, parameters, empty and 0-d tensors',
    (file) => {
      const w = readTorchWeights(join(TESTDATA, file));
      expect(w.format).toBe(file.includes('legacy') ? 'legacy' : 'zip');
      expect([...w.tensors.keys()]).toEqual(Object.keys(expected));
      for (const [name, e] of Object.entries(expected)) check(w.tensors.get(name)!, e, name);
      expect(w.converted).toEqual({ float64: 1, float16: 1, bfloat16: 1, int64: 1, int32: 1, uint8: 1, bool: 1 });
    },
  );

  it('follows the zip64 end record when the plain one is saturated', () => {
    // mixed_zip64.pth holds zip64 extra fields and a zip64 end record; its plain end record
    // still has real values. Saturating them (as writers do past 4 GiB or 65535 entries)
    // must send the reader to the zip64 record and give the same tensors.
    const bytes = new Uint8Array(readFileSync(join(TESTDATA, 'mixed_zip64.pth')));
    const eocd = bytes.length - 22;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(dv.getUint32(eocd, true)).toBe(0x06054b50);
    dv.setUint16(eocd + 8, 0xffff, true);
    dv.setUint16(eocd + 10, 0xffff, true);
    dv.setUint32(eocd + 12, 0xffffffff, true);
    dv.setUint32(eocd + 16, 0xffffffff, true);
    const w = importTorchWeights(bytes, 'saturated.pth');
    for (const [name, e] of Object.entries(expected)) check(w.tensors.get(name)!, e, name);
    // without the zip64 locator in front of it, the same end record is an error
    bytes[eocd - 20] ^= 0xff;
    expect(() => importTorchWeights(bytes, 'broken.pth')).toThrow(/broken\.pth: zip64 locator missing/);
  });

  it('a protocol-4 checkpoint with NumPy scalars and bytes: weights under a key the user names', () => {
    const file = join(TESTDATA, 'nested_zip_p4.pth');
    expect(() => readTorchWeights(file)).toThrow(/no state_dict found .* keys: model \(dict of 2\), curve \(list of 3\), tag \(bytes\), n \(None\)/);
    const w = readTorchWeights(file, 'model');
    expect([...w.tensors.keys()]).toEqual(['f32', 'f64']);
    expect(w.stripped).toBe(2);
    check(w.tensors.get('f32')!, expected.f32!, 'f32');
  });

  it('strips wrapper prefixes in any nesting', () => {
    expect(stripWrapperPrefixes('module._orig_mod.stem.weight')).toBe('stem.weight');
    expect(stripWrapperPrefixes('_orig_mod.module.stem.weight')).toBe('stem.weight');
    expect(stripWrapperPrefixes('modules.stem.weight')).toBe('modules.stem.weight');
  });

  // Damaged copies of real files: every outcome must be a clean CheckpointError (or, for a
  // harmless change, a successful load) — never a crash, a hang or another kind of error.
  const outcome = (bytes: Uint8Array): string => {
    try {
      importTorchWeights(bytes, 'damaged');
      return 'ok';
    } catch (e) {
      if (e instanceof CheckpointError) return 'refused';
      throw e;
    }
  };

  it('refuses every truncation of a zip and of a legacy checkpoint', () => {
    for (const file of ['mixed_zip_p2.pth', 'mixed_legacy.pth']) {
      const bytes = readFileSync(join(TESTDATA, file));
      for (let cut = 0; cut < bytes.length; cut++) expect(outcome(bytes.subarray(0, cut)), `${file} cut at ${cut}`).toBe('refused');
    }
  });

  it('detects a changed byte in a zip storage (CRC), and survives random byte changes in a legacy file', () => {
    const zip = new Uint8Array(readFileSync(join(TESTDATA, 'mixed_zip_p2.pth')));
    const at = Buffer.from(zip).indexOf('data/0') + 64; // inside the first storage record's data
    zip[at] ^= 0x55;
    expect(() => importTorchWeights(zip, 'flipped.pth')).toThrow(/fails its CRC check/);

    const legacy = readFileSync(join(TESTDATA, 'mixed_legacy.pth'));
    let seed = 12345;
    const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const seen = new Set<string>();
    for (let i = 0; i < 1500; i++) {
      const b = new Uint8Array(legacy);
      for (let k = 0; k < 3; k++) b[rand(b.length)] = rand(256);
      seen.add(outcome(b));
    }
    expect(seen.has('refused')).toBe(true);
  });
});
