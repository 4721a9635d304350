import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../tests/fixtures.js';
import { compileFile } from './compile.js';
import { renderDiagnostics } from './diagnostics/render.js';
import { summarize } from './emit/summary.js';
import { verifyIR } from './ir/verify.js';
import { resencOverrides } from '../tests/overrides.js';

const RESENC = join(ROOT, 'examples', 'resenc.mnx');
const REF = join(FIXTURES, 'resenc-reference');

describe('avg_pool and the initialisation arguments', () => {
  const spec = (body: string) => `model M(n: posint = 4) {\n  x = input(channels: 2)\n${body}\n}\n`;

  it('avg_pool: window = stride, floor sizes, no parameters; 2-D and per-axis strides', () => {
    const r = compileFile('inline.mnx', { text: spec('  y = avg_pool(x, stride: [1, 2, 2]) as "p"\n  output 0 = conv(y, out: 3) as "h"'), inputSize: [5, 8, 6] });
    expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
    const pool = r.ir!.nodes.find((n) => n.op === 'avg_pool')!;
    expect(pool.attrs).toEqual({ stride: [1, 2, 2] });
    expect(pool.out).toEqual({ channels: 2, spatial: [5, 4, 3] });
    expect(pool.params).toEqual({});
    expect(verifyIR(r.ir)).toEqual([]);
    const two = compileFile('inline.mnx', { text: 'model M() {\n  x = input(channels: 1, dims: 2)\n  output 0 = conv(avg_pool(x, stride: 2) as "p", out: 2) as "h"\n}\n', inputSize: [6, 4] });
    expect(two.ir!.nodes.find((n) => n.op === 'avg_pool')!.out.spatial).toEqual([3, 2]);
  });

  it('an odd size along a strided axis (the strided conv gives ceil, the pooling floor) is refused up front (MNX4001)', () => {
    const text = spec('  a = conv(x, out: 2, k: 3, stride: 2) as "c"\n  b = avg_pool(x, stride: 2) as "p"\n  output 0 = a + b');
    const r = compileFile('inline.mnx', { text, inputSize: [8, 8, 7] });
    expect(renderDiagnostics(r.diagnostics, r.sources)).toMatch(/MNX4001: input size 8×8×7 is not divisible/);
    expect(compileFile('inline.mnx', { text, inputSize: [8, 8, 8] }).diagnostics).toEqual([]);
    // The pooling alone counts as down-sampling too.
    const pooled = compileFile('inline.mnx', { text: spec('  output 0 = conv(avg_pool(x, stride: [1, 2, 4]) as "p", out: 2) as "h"'), inputSize: [3, 6, 6] });
    expect(renderDiagnostics(pooled.diagnostics, pooled.sources)).toMatch(/MNX4001: input size 3×6×6 is not divisible by 1×2×4/);
  });

  it('a pooling window larger than the input is reported (MNX4007)', () => {
    const r = compileFile('inline.mnx', { text: spec('  output 0 = avg_pool(x, stride: 4) as "p"'), inputSize: [2, 8, 8] });
    expect(renderDiagnostics(r.diagnostics, r.sources)).toMatch(/MNX4007/);
  });

  it("init: 'he' records kaiming_normal (a, fan_in) and zero biases; norm init 'zeros' zeroes the scale", () => {
    const r = compileFile('inline.mnx', { text: spec('  y = conv(x, out: 4, k: 3, init: "he") as "c"\n  y = norm(y, type: "instance", init: "zeros") as "n"\n  y = conv_transpose(y, out: 3, init: "he", init_a: 0.2) as "t"\n  output 0 = conv_norm_act(y, out: 2, nonlin: false, init: "he", norm_init: "zeros") as "b"') });
    expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
    const p = new Map(r.ir!.parameters.map((q) => [q.name, q]));
    expect(p.get('c.weight')).toMatchObject({ init: 'kaiming_normal', fanIn: 54, initA: 0.01 });
    expect(p.get('c.bias')).toMatchObject({ init: 'zeros' });
    expect(p.get('n.norm.weight')).toMatchObject({ init: 'zeros' });
    // PyTorch's fan_in of a transposed conv weight [in, out, *k] is out · prod(k).
    expect(p.get('t.weight')).toMatchObject({ init: 'kaiming_normal', fanIn: 24, initA: 0.2 });
    expect(p.get('b.norm.weight')).toMatchObject({ init: 'zeros' });
    expect(r.ir!.nodes.filter((n) => n.block === 'b' && n.op !== 'output').map((n) => n.op)).toEqual(['conv', 'group_norm']);
    expect(verifyIR(r.ir)).toEqual([]);
  });
});
