import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileFile } from '../../compiler/compile.js';
import { ROOT } from '../../tests/fixtures.js';
import { useBackend } from '../backend.js';
import { parseSafetensors, serializeSafetensors, type TensorMap } from '../io/safetensors.js';
import { buildModel } from '../model/model.js';
import { blockIR, upIR } from '../model/test-ir.js';
import { REFERENCE } from '../ops/test-helpers.js';
import { exportWeights, loadWeights } from './state-dict.js';

const bytesOf = (t: TensorMap) => new Map([...t].map(([k, v]) => [k, Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).toString('hex')]));

describe('weights in PyTorch naming and layout', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('round-trips the official tiny_k3_ds state_dict byte for byte, dummy_tensor included', () => {
    const file = join(REFERENCE, 'tiny_k3_ds.weights.safetensors');
    const original = parseSafetensors(readFileSync(file)).tensors;
    const meta = JSON.parse(readFileSync(join(REFERENCE, 'tiny_k3_ds.json'), 'utf8'));
    const set = Object.entries(meta.constructor_args as Record<string, unknown>).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    const { ir } = compileFile(join(ROOT, 'examples', 'mednext.mnx'), { set });
    const model = buildModel(ir!);
    loadWeights(model, original, file);
    const exported = exportWeights(model);
    expect([...exported.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [k, t] of original) expect(exported.get(k)!.shape, k).toEqual(t.shape);
    expect(bytesOf(exported)).toEqual(bytesOf(original));
    // …and survives being written as safetensors and read back.
    expect(bytesOf(parseSafetensors(serializeSafetensors(exported)).tensors)).toEqual(bytesOf(original));
    model.dispose();
  });

  it.each(['block_k3', 'up_k3'])('round-trips %s (depthwise and transposed layouts)', (name) => {
    const original = parseSafetensors(readFileSync(join(REFERENCE, `${name}.weights.safetensors`))).tensors;
    const model = buildModel(name === 'up_k3' ? upIR(8, 4, 2, 3) : blockIR(4, 2, 3));
    loadWeights(model, original);
    expect(bytesOf(exportWeights(model))).toEqual(bytesOf(original));
    model.dispose();
  });

  it('reports every unknown, missing and mis-shaped tensor by name with both shapes, and changes nothing', () => {
    const original = parseSafetensors(readFileSync(join(REFERENCE, 'block_k3.weights.safetensors'))).tensors;
    const model = buildModel(blockIR(4, 2, 3));
    const before = bytesOf(exportWeights(model));
    const bad: TensorMap = new Map(original);
    bad.delete('conv2.bias');
    bad.set('conv1.weight', { dtype: 'F32', shape: [4, 1, 5, 5, 5], data: new Float32Array(500) });
    bad.set('stem.weight', { dtype: 'F32', shape: [4, 1, 1, 1, 1], data: new Float32Array(4) });
    let message = '';
    try {
      loadWeights(model, bad, 'w.safetensors');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^w\.safetensors: 3 problems/);
    expect(message).toContain('conv1.weight: shape [4, 1, 5, 5, 5] in the file, the model expects [4, 1, 3, 3, 3]');
    expect(message).toContain('missing tensor conv2.bias: the model expects [8]');
    expect(message).toContain('unexpected tensor stem.weight [4, 1, 1, 1, 1]');
    expect(bytesOf(exportWeights(model))).toEqual(before);
    model.dispose();
  });

  it('accepts dummy_tensor present or absent', () => {
    const original = parseSafetensors(readFileSync(join(REFERENCE, 'block_k3.weights.safetensors'))).tensors;
    const model = buildModel(blockIR(4, 2, 3));
    const withDummy: TensorMap = new Map(original);
    withDummy.set('dummy_tensor', { dtype: 'F32', shape: [1], data: new Float32Array([1]) });
    expect(() => loadWeights(model, withDummy)).not.toThrow();
    expect(exportWeights(model).has('dummy_tensor')).toBe(false);
    model.dispose();

    const meta = JSON.parse(readFileSync(join(REFERENCE, 'tiny_k3_ds.json'), 'utf8'));
    const set = Object.entries(meta.constructor_args as Record<string, unknown>).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    const full = buildModel(compileFile(join(ROOT, 'examples', 'mednext.mnx'), { set }).ir!);
    const noDummy = parseSafetensors(readFileSync(join(REFERENCE, 'tiny_k3_ds.weights.safetensors'))).tensors;
    noDummy.delete('dummy_tensor');
    expect(() => loadWeights(full, noDummy)).not.toThrow();
    const out = exportWeights(full).get('dummy_tensor')!;
    expect(out.shape).toEqual([1]);
    expect(Array.from(out.data as Float32Array)).toEqual([1]);
    full.dispose();
  });
});
