import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../tests/fixtures.js';
import { parseSafetensors, type TensorMap } from '../io/safetensors.js';
import { foldNnunetAliases } from './aliases.js';

describe('nnU-Net state_dict aliases', () => {
  for (const [kind, c] of [['nnunet-reference', 'plain_unet_iso'], ['nnunet-reference', 'plain_unet_aniso'], ['resenc-reference', 'resenc_iso'], ['resenc-reference', 'resenc_aniso']] as const) {
    it(`${c}: the full state_dict (every alias) folds back onto the stored tensors`, () => {
      const dir = join(FIXTURES, kind);
      const meta = JSON.parse(readFileSync(join(dir, `${c}.json`), 'utf8'));
      const stored = parseSafetensors(readFileSync(join(dir, `${c}.weights.safetensors`))).tensors;
      // Rebuild what network.state_dict() holds, in PyTorch's order: every key, aliases included.
      const full: TensorMap = new Map();
      for (const [key] of meta.state_dict as [string, number[]][]) full.set(key, stored.get(meta.state_dict_aliases[key] ?? key)!);
      expect(full.size).toBeGreaterThan(stored.size);
      const { tensors, folded } = foldNnunetAliases(full, c);
      expect(folded).toBe(full.size - stored.size);
      expect([...tensors.keys()].sort()).toEqual([...stored.keys()].sort());
      expect(tensors.size).toBe(meta.state_dict_num_distinct_tensors ?? stored.size);
    });
  }
  it('refuses aliases that disagree', () => {
    const dir = join(FIXTURES, 'nnunet-reference');
    const stored = parseSafetensors(readFileSync(join(dir, 'plain_unet_iso.weights.safetensors'))).tensors;
    const w = stored.get('encoder.stages.0.0.convs.0.conv.weight')!;
    const bad: TensorMap = new Map(stored);
    bad.set('encoder.stages.0.0.convs.0.all_modules.0.weight', { ...w, data: new Float32Array(w.data.length) });
    expect(() => foldNnunetAliases(bad, 'ckpt')).toThrow(/alias of 'encoder\.stages\.0\.0\.convs\.0\.conv\.weight' but holds different values/);
  });
});
