import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../tests/fixtures.js';
import type { IRParam } from '../../ir/types.js';
import { computeWeightMap } from '../../compiler/passes/upkern.js';
import { compileFile } from '../../compiler/compile.js';
import { ROOT } from '../../tests/fixtures.js';
import { readSafetensors, type TensorMap } from '../io/safetensors.js';
import { applyWeightMap, initFresh, linearTaps, resampleKernel } from './upkern-apply.js';

const close = (a: ArrayLike<number>, b: number[], tol = 1e-6): void => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!), `index ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol);
};

describe('kernel resampling = F.interpolate(..., align_corners=False)', () => {
  it('1-D, 3 → 5 (linear)', () => {
    // scale = 3/5 = 0.6; src = max(0, (dst + 0.5)·0.6 − 0.5):
    //   dst 0: −0.2 → 0         → x0                     = 1
    //   dst 1:  0.4             → 0.6·x0 + 0.4·x1         = 0.6 + 0.8 = 1.4
    //   dst 2:  1.0             → x1                     = 2
    //   dst 3:  1.6             → 0.4·x1 + 0.6·x2         = 0.8 + 2.4 = 3.2
    //   dst 4:  2.2 → taps 2, 2 (clamped at the last tap) → x2 = 4
    const out = resampleKernel(new Float32Array([1, 2, 4]), [1, 1, 3], [1, 1, 5]);
    close(out, [1, 1.4, 2, 3.2, 4]);
  });

  it('1-D, 5 → 3 (shrinking)', () => {
    // scale = 5/3; src: dst 0: 0.5·5/3 − 0.5 = 1/3 → (2/3)·x0 + (1/3)·x1
    //                   dst 1: 1.5·5/3 − 0.5 = 2   → x2
    //                   dst 2: 2.5·5/3 − 0.5 = 11/3 → (1/3)·x3 + (2/3)·x4
    // x = [0, 3, 6, 9, 12] → [1, 6, 11]
    close(resampleKernel(new Float32Array([0, 3, 6, 9, 12]), [1, 1, 5], [1, 1, 3]), [1, 6, 11]);
  });

  it('2-D, 2×2 → 3×3 (bilinear), dims 0 and 1 kept apart', () => {
    // per axis, scale 2/3: dst 0: −1/6 → 0 → tap 0; dst 1: 0.5 → half/half; dst 2: 7/6 → taps 1, 1.
    // [[1, 2], [3, 4]] → rows [1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]; the second channel is
    // the first plus 10, the second batch item the first times −1.
    const x = [1, 2, 3, 4, 11, 12, 13, 14, -1, -2, -3, -4, -11, -12, -13, -14];
    const one = [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4];
    const out = resampleKernel(new Float32Array(x), [2, 2, 2, 2], [2, 2, 3, 3]);
    close(out, [...one, ...one.map((v) => v + 10), ...one.map((v) => -v), ...one.map((v) => -v - 10)]);
  });

  it('3-D, 2×2×2 → 3×3×3 (trilinear)', () => {
    // x[d][h][w] = 4d + 2h + w is linear, so the result is 4·c(d) + 2·c(h) + c(w) with each
    // axis's source coordinates c = [0, 0.5, 1] (worked out in the 2-D case); e.g. the centre
    // is 2 + 1 + 0.5 = 3.5 and the far corner 7.
    const x = Float32Array.from({ length: 8 }, (_, i) => i);
    const c = [0, 0.5, 1];
    const want: number[] = [];
    for (const d of c) for (const h of c) for (const w of c) want.push(4 * d + 2 * h + w);
    close(resampleKernel(x, [1, 1, 2, 2, 2], [1, 1, 3, 3, 3]), want);
  });

  it('3-D, 3×3×3 → 5×5×5 matches per-axis taps, and axes of equal size are untouched', () => {
    // taps for 3 → 5 as in the 1-D case: (0,1,0), (0,1,0.4), (1,2,0), (1,2,0.6), (2,2,·)
    const t = linearTaps(3, 5).map(({ i0, i1, w1 }) => [i0, i1, i0 === i1 ? 0 : Math.round(w1 * 10) / 10]);
    expect(t).toEqual([[0, 1, 0], [0, 1, 0.4], [1, 2, 0], [1, 2, 0.6], [2, 2, 0]]);
    // a kernel varying only along W, resized only along D and H: every output row equals the input row
    const x = Float32Array.from({ length: 27 }, (_, i) => [5, -7, 9][i % 3]!);
    const out = resampleKernel(x, [1, 1, 3, 3, 3], [1, 1, 5, 5, 3]);
    close(out, Array.from({ length: 75 }, (_, i) => [5, -7, 9][i % 3]!), 0);
  });
});

describe('fresh tensors', () => {
  const p = (init: IRParam['init'], fanIn?: number): IRParam => ({ name: 'x.weight', shape: [4, 2, 3], role: 'conv_weight', init, fanIn, trainable: true });

  it('follow PyTorch default init: uniform ±1/√fan_in, ones, zeros; reproducible per seed', () => {
    const a = initFresh(p('kaiming_uniform', 16), 7);
    expect(a.every((v) => Math.abs(v) <= 0.25)).toBe(true);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.15); // spread over the range
    expect(initFresh(p('kaiming_uniform', 16), 7)).toEqual(a);
    expect(initFresh(p('kaiming_uniform', 16), 8)).not.toEqual(a);
    expect([...initFresh(p('ones'), 0)]).toEqual(new Array(24).fill(1));
    expect([...initFresh(p('zeros'), 0)]).toEqual(new Array(24).fill(0));
    expect(() => initFresh(p('fan_in_uniform'), 0)).toThrow(/no fan_in/);
  });
});

/** IRParams made from a reference case's state_dict listing (until the compiler builds them). */
function paramsOf(caseName: string): IRParam[] {
  const meta = JSON.parse(readFileSync(join(FIXTURES, 'mednext-reference', `${caseName}.json`), 'utf8')) as { state_dict: [string, number[]][] };
  return meta.state_dict.map(([name, shape]) => {
    const isWeight = name.endsWith('.weight') && shape.length === 5;
    // (transposed-conv weights are called conv weights here: the role does not change the map)
    const role: IRParam['role'] = name === 'dummy_tensor' ? 'dummy' : name.includes('norm') ? (name.endsWith('weight') ? 'norm_weight' : 'norm_bias') : isWeight ? 'conv_weight' : 'bias';
    const init: IRParam['init'] = role === 'norm_weight' || role === 'dummy' ? 'ones' : role === 'norm_bias' ? 'zeros' : role === 'conv_weight' ? 'kaiming_uniform' : 'fan_in_uniform';
    return { name, shape, role, init, fanIn: 8, trainable: role !== 'dummy' };
  });
}

describe('UpKern k3 → k5 on the reference tiny network', () => {
  it('maps and applies to exactly the official upkern_load_weights result', () => {
    const meta = JSON.parse(readFileSync(join(FIXTURES, 'mednext-reference', 'tiny_k3_upkern_to_k5.json'), 'utf8')) as {
      upkern: { per_key_action: Record<string, string> };
    };
    const map = computeWeightMap({ parameters: paramsOf('tiny_k3_ds') }, { parameters: paramsOf('tiny_k3_upkern_to_k5') });
    expect(map.errors).toEqual([]);
    expect(map.warnings).toEqual([]);
    // same decision per key as the official function
    const official = Object.fromEntries(
      Object.entries(meta.upkern.per_key_action).map(([k, v]) => [k, v === 'interpolated' ? 'resample' : 'copy']),
    );
    expect(Object.fromEntries(map.entries.map((e) => [e.name, e.action]))).toEqual(official);

    const source = readSafetensors(join(FIXTURES, 'mednext-reference', 'tiny_k3_ds.weights.safetensors'));
    const expected = readSafetensors(join(FIXTURES, 'mednext-reference', 'tiny_k3_upkern_to_k5.weights.safetensors'));
    const { tensors, warnings } = applyWeightMap(map, source, paramsOf('tiny_k3_upkern_to_k5'));
    expect(warnings).toEqual([]);
    expect([...tensors.keys()].sort()).toEqual([...expected.keys()].sort());
    let maxResampleErr = 0;
    for (const e of map.entries) {
      const got = tensors.get(e.name)!.data as Float32Array;
      const want = expected.get(e.name)!.data as Float32Array;
      expect(tensors.get(e.name)!.shape).toEqual(expected.get(e.name)!.shape);
      if (e.action === 'copy') expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer.slice(want.byteOffset, want.byteOffset + want.byteLength))), e.name).toBe(true);
      else for (let i = 0; i < want.length; i++) maxResampleErr = Math.max(maxResampleErr, Math.abs(got[i]! - want[i]!));
    }
    expect(maxResampleErr).toBeLessThanOrEqual(1e-6);
  });

  it('refuses source weights that do not fit the source network', () => {
    const map = computeWeightMap({ parameters: paramsOf('tiny_k3_ds') }, { parameters: paramsOf('tiny_k3_upkern_to_k5') });
    const wrong: TensorMap = readSafetensors(join(FIXTURES, 'mednext-reference', 'tiny_k5_nods.weights.safetensors'));
    expect(() => applyWeightMap(map, wrong, paramsOf('tiny_k3_upkern_to_k5'), { what: 'k5.safetensors' })).toThrow(
      /k5\.safetensors: tensor '[^']+' has shape \[[\d, ]+\] but the source network expects \[[\d, ]+\]|k5\.safetensors: no tensor/,
    );
  });
});

describe('UpKern between two compiled specs (examples/tiny.mnx, kernel 3 → 5)', () => {
  const compile = (set: string[]) => {
    const r = compileFile(join(ROOT, 'examples', 'tiny.mnx'), { set });
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    return r.ir!;
  };

  it('gives the official weights, and the same map as the state_dict listings', () => {
    const k3 = compile([]);
    const k5 = compile(['kernel_size=5']);
    const map = computeWeightMap(k3, k5);
    expect(map.errors).toEqual([]);
    const fromListings = computeWeightMap({ parameters: paramsOf('tiny_k3_ds') }, { parameters: paramsOf('tiny_k3_upkern_to_k5') });
    expect(map.entries).toEqual(fromListings.entries);

    const source = readSafetensors(join(FIXTURES, 'mednext-reference', 'tiny_k3_ds.weights.safetensors'));
    const expected = readSafetensors(join(FIXTURES, 'mednext-reference', 'tiny_k3_upkern_to_k5.weights.safetensors'));
    const { tensors } = applyWeightMap(map, source, k5.parameters);
    for (const e of map.entries) {
      const got = tensors.get(e.name)!.data as Float32Array;
      const want = expected.get(e.name)!.data as Float32Array;
      for (let i = 0; i < want.length; i++) {
        if (e.action === 'copy') expect(Object.is(got[i], want[i]), e.name).toBe(true);
        else expect(Math.abs(got[i]! - want[i]!), e.name).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('initialises parameters only the target has from the IR (here: the deep-supervision heads)', () => {
    const plain = compile(['deep_supervision=false']);
    const ds = compile(['deep_supervision=true', 'kernel_size=5']);
    const map = computeWeightMap(plain, ds);
    const fresh = map.entries.filter((e) => e.action === 'fresh').map((e) => e.name);
    expect(fresh).toEqual(['out_1.conv_out.weight', 'out_1.conv_out.bias', 'out_2.conv_out.weight', 'out_2.conv_out.bias', 'out_3.conv_out.weight', 'out_3.conv_out.bias', 'out_4.conv_out.weight', 'out_4.conv_out.bias']);
    const source = readSafetensors(join(FIXTURES, 'mednext-reference', 'tiny_k3_ds.weights.safetensors'));
    for (const k of [...source.keys()]) if (/^out_[1-4]\./.test(k)) source.delete(k);
    const { tensors } = applyWeightMap(map, source, ds.parameters, { seed: 3 });
    const head = ds.parameters.find((p) => p.name === 'out_4.conv_out.weight')!;
    const w = tensors.get('out_4.conv_out.weight')!.data as Float32Array;
    expect(w.length).toBe(64 * 2);
    const bound = 1 / Math.sqrt(head.fanIn!);
    expect(w.every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(w.some((v) => v !== 0)).toBe(true);
  });
});
