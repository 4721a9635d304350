import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { parseSafetensors } from '../io/safetensors.js';
import { buildModel } from '../model/model.js';
import { FIXTURES, ROOT } from '../../tests/fixtures.js';
import { baselineOverrides } from '../../tests/overrides.js';
import { exportWeights, loadWeights } from './state-dict.js';

/** Official checkpoints of the baselines load by name and come back out unchanged (int64 buffers included). */
describe('baseline weights round trip', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  const ref = join(FIXTURES, 'baselines-reference');

  it("swin_unetr_tiny: a new model computes MONAI's relative_position_index; the official state_dict round-trips exactly", () => {
    const meta = JSON.parse(readFileSync(join(ref, 'swin_unetr_tiny.json'), 'utf8'));
    const ir = compileFile(join(ROOT, 'examples', 'baselines', 'swin_unetr.mnx'), { set: baselineOverrides(meta.constructor_args), inputSize: meta.input.shape.slice(2) }).ir!;
    const official = parseSafetensors(readFileSync(join(ref, 'swin_unetr_tiny.weights.safetensors'))).tensors;
    const fresh = buildModel(ir, { seed: 1 });
    const init = exportWeights(fresh);
    const buffers = [...official.keys()].filter((k) => k.endsWith('relative_position_index'));
    expect(buffers.length).toBe(8);
    for (const k of buffers) {
      expect(init.get(k)!.dtype, k).toBe('I64');
      expect(Array.from(init.get(k)!.data as BigInt64Array), k).toEqual(Array.from(official.get(k)!.data as BigInt64Array));
    }
    loadWeights(fresh, official, 'swin_unetr_tiny.weights.safetensors');
    const back = exportWeights(fresh);
    expect([...back.keys()].sort()).toEqual([...official.keys()].sort());
    for (const [k, t] of official) {
      expect(back.get(k)!.dtype, k).toBe(t.dtype);
      expect(back.get(k)!.shape, k).toEqual(t.shape);
      const bytes = (d: ArrayBufferView) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);
      expect(bytes(back.get(k)!.data).equals(bytes(t.data)), k).toBe(true);
    }
    fresh.dispose();
  });
});
