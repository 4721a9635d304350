/**
 * Issue 19, items 10 and 6 (formats): plans integers have sane bounds (epochs: 1e300 is refused);
 * safetensors whose tensors overlap in the data section are refused; a YAML alias bomb, and
 * truncated preprocessed data, are one line each, no stack trace.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlans, parsePlans, stringifyPlans } from '../../runtime/data/plan/index.js';
import { SafetensorsError, parseSafetensors } from '../../runtime/io/safetensors.js';
import { mnxcInProcess as mnxc } from '../cli.js';
import { STACK, makeTrainingData } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-formats-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let pre: string;
let trainArgs: (run: string, ...extra: string[]) => string[];
beforeAll(async () => {
  ({ pre, trainArgs } = await makeTrainingData(root));
}, 60_000);

function safetensors(header: object, dataBytes: number): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

describe('plans integers', () => {
  const base = stringifyPlans(defaultPlans({ dataset: { name: 't', channels: ['CT'], labels: { '0': 'bg', '1': 'fg' }, num_training: 4 }, target_spacing: [1, 1, 1], normalization: [{ channel: 0, name: 'CT', scheme: 'zscore', use_nonzero_mask: false }], median_shape: [16, 16, 16], patch_size: [16, 16, 16] }));
  it('epochs: 1e300, a fractional batch size and a 1e9 patch are refused with file:line and the field', () => {
    expect(parsePlans(base, 'plans.yaml').training.epochs).toBe(1000);
    for (const [from, to, field] of [
      [/epochs: 1000/, 'epochs: 1e300', 'epochs'],
      [/batch_size: 2/, 'batch_size: 2.5', 'batch_size'],
      [/patch_size: \[ 16, 16, 16 \]/, 'patch_size: [ 16, 1000000000, 16 ]', 'patch_size'],
    ] as const) {
      const text = base.replace(from, to);
      expect(text).not.toBe(base);
      expect(() => parsePlans(text, 'plans.yaml')).toThrow(new RegExp(`plans\\.yaml:\\d+: .*${field}`, 's'));
    }
  });
});

describe('safetensors', () => {
  it('overlapping data offsets are refused', () => {
    const bytes = safetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12);
    expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(SafetensorsError);
    expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(/'a' \[0, 8\) and 'b' \[4, 12\) overlap/);
    const fine = safetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] }, e: { dtype: 'F32', shape: [0], data_offsets: [8, 8] } }, 12);
    expect(parseSafetensors(fine, 'y.safetensors').tensors.size).toBe(3);
  });
});

describe('one line, no stack trace', () => {
  it('a YAML alias bomb in a plans file', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`)].join('\n');
    const file = join(root, 'bomb.yaml');
    writeFileSync(file, bomb + '\n');
    const r = await mnxc('train', pre, '--fold', 'all', '--plans', file, '-o', join(root, 'run-bomb'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bomb\.yaml: .*(alias|too many|resource)/i);
    expect(r.err).not.toMatch(STACK);
    expect(r.err.trim().split('\n').length).toBeLessThanOrEqual(2);
  });

  it('truncated preprocessed data', async () => {
    const data = join(pre, 'case_001.data.f32');
    const keep = readFileSync(data);
    truncateSync(data, 100);
    try {
      const r = await mnxc(...trainArgs(join(root, 'run-trunc'), '--epochs', '1', '--backend', 'cpu', '--workers', '1'));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/case_001\.data\.f32: (truncated|has 100 bytes)/);
      expect(r.err).not.toMatch(STACK);
    } finally {
      writeFileSync(data, keep);
    }
  });
});
