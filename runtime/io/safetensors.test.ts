import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import { FIXTURES } from '../../tests/fixtures.js';

describe('safetensors', () => {
  it('reads a file written by the reference writer and round-trips it byte for byte in content', () => {
    const bytes = readFileSync(`${FIXTURES}/mednext-reference/block_k3.weights.safetensors`);
    const { tensors } = parseSafetensors(bytes);
    expect(tensors.get('conv1.weight')!.shape).toEqual([4, 1, 3, 3, 3]);
    const again = parseSafetensors(serializeSafetensors(tensors)).tensors;
    expect([...again.keys()]).toEqual([...tensors.keys()].sort());
    for (const [k, t] of tensors) expect(Array.from(again.get(k)!.data as unknown as Float32Array)).toEqual(Array.from(t.data as unknown as Float32Array));
  });
  it('refuses truncated and inconsistent data with a message naming the tensor', () => {
    const bytes = readFileSync(`${FIXTURES}/mednext-reference/block_k3.weights.safetensors`);
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 4), 'w.safetensors')).toThrow(/w.safetensors: tensor '.*'/);
    expect(() => parseSafetensors(new Uint8Array(3), 'x')).toThrow(/not a safetensors file/);
  });
});
