import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../tests/fixtures.js';
import { compileFile } from './compile.js';
import { renderDiagnostics } from './diagnostics/render.js';
import { summarize } from './emit/summary.js';
import { verifyIR } from '../ir/verify.js';
import { fixtureOverrides } from '../tests/overrides.js';

const MEDNEXT = join(ROOT, 'examples', 'mednext.mnx');

describe('MedNeXt family against the official code', () => {
  const counts = JSON.parse(readFileSync(join(FIXTURES, 'mednext-reference', 'param_counts.json'), 'utf8'));
  for (const row of counts.rows as { model_id: string; kernel_size: number; deep_supervision: boolean; params_excl_dummy_tensor: number }[]) {
    it(`${row.model_id} k${row.kernel_size} ds=${row.deep_supervision} has the official parameter count`, () => {
      const r = compileFile(MEDNEXT, { variant: row.model_id, set: [`kernel_size=${row.kernel_size}`, `deep_supervision=${row.deep_supervision}`, 'in_channels=1', 'n_classes=3'], inputSize: [128, 128, 128] });
      expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
      expect(summarize(r.ir!).params).toBe(row.params_excl_dummy_tensor);
    });
  }
  for (const c of ['tiny_k3_ds', 'tiny_k5_nods']) {
    it(`${c}: --set overrides give exactly the official state_dict (names, shapes, order)`, () => {
      const meta = JSON.parse(readFileSync(join(FIXTURES, 'mednext-reference', `${c}.json`), 'utf8'));
      const r = compileFile(MEDNEXT, { set: fixtureOverrides(c), inputSize: meta.input.shape.slice(2) });
      expect(r.ir!.parameters.map((p) => [p.name, p.shape])).toEqual(meta.state_dict);
      expect(verifyIR(r.ir)).toEqual([]);
    });
  }
});

describe('compiler behaviour', () => {
  it('applies variants, then --set, and records the arguments', () => {
    const r = compileFile(MEDNEXT, { variant: 'M', set: ['kernel_size=5', 'n_classes=14'] });
    expect(r.ir!.arguments).toMatchObject({ kernel_size: 5, n_classes: 14, block_counts: [3, 4, 4, 4, 4, 4, 4, 4, 3], checkpoint_style: 'outside_block' });
    expect(r.ir!.hints.checkpointStyle).toBe('outside_block');
  });

  it('reports all errors of a file in one run', () => {
    const text = 'model M(c: int = 1) {\n  x = input(channels: c)\n  y = conv(x, out: wdth) as "a"\n  z = mednext_blok(x) as "b"\n  output 0 = conv(x, out: 2, kk: 3) as "h"\n}\n';
    const r = compileFile(join(ROOT, 'specs', 'inline.mnx'), { text });
    expect(r.diagnostics.map((d) => d.code)).toEqual(['MNX2001', 'MNX2002', 'MNX2003']);
  });

  it('points --set errors at the command line', () => {
    const r = compileFile(MEDNEXT, { set: ['kernel_size=[3'] });
    expect(r.diagnostics[0]!.span.file).toBe('<command line>');
    expect(r.ir).toBeNull();
  });

  it('never crashes or hangs on random bytes', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const alphabet = 'model(){}[]=:,.+-*/"#\n xyz0123456789 for in if then else repeat output as ?? .. é\u0000\t';
    for (let i = 0; i < 200; i++) {
      const text = Array.from({ length: 1 + Math.floor(rand() * 200) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
      const r = compileFile(join(ROOT, 'specs', 'fuzz.mnx'), { text });
      expect(r.ir === null ? r.diagnostics.length > 0 : true).toBe(true);
    }
  });

  it('refuses absurdly deep nesting with a diagnostic instead of overflowing the stack', () => {
    const deep = (n: number) => `model M(c: int = ${'('.repeat(n)}1${')'.repeat(n)}) { x = input(channels: c)\n output 0 = conv(x, out: 2) as "h" }`;
    for (const n of [100, 150, 20_000]) {
      const r = compileFile(join(ROOT, 'specs', 'deep.mnx'), { text: deep(n) });
      expect(r.diagnostics.map((d) => d.code)).toEqual(['MNX5002']);
    }
    expect(compileFile(join(ROOT, 'specs', 'deep.mnx'), { text: deep(40) }).ir).not.toBeNull();
  });

  it('expands user-defined blocks under their module path, repeated or not', () => {
    const r = compileFile(join(ROOT, 'specs', 'user_blocks.mnx'), { inputSize: [32, 32, 32] });
    expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
    const names = r.ir!.parameters.map((p) => p.name);
    expect(names).toContain('enc0.blocks.1.conv1.weight');
    expect(names).toContain('down0.resample.res_conv.weight');
    expect(names).toContain('enc1.1.blocks.0.conv1.weight');
    expect(r.ir!.parameters.find((p) => p.name === 'enc1.0.blocks.0.conv1.weight')!.shape).toEqual([16, 1, 5, 5, 5]);
  });

  it('reports user-block errors: recursion, missing return, bad arguments, output inside a block', () => {
    const text = [
      'block loop(x: tensor) { return loop(x) as "again" }',
      'block noret(x: tensor) { y = gelu(x) }',
      'block leaky(x: tensor) { output 0 = x\n return x }',
      'block typed(x: tensor, k: kernel = 3) { return mednext_block(x, k: k, exp_r: 2) }',
      'model M() {',
      '  x = input(channels: 4)',
      '  a = loop(x)\n  b = noret(x)\n  c = leaky(x)\n  d = typed(x, k: 4)\n  e = typed(x, q: 1)',
      '  output 0 = conv(x, out: 2) as "h"',
      '}',
    ].join('\n');
    const r = compileFile(join(ROOT, 'specs', 'blocks.mnx'), { text });
    expect(r.diagnostics.map((d) => d.code).sort()).toEqual(['MNX2003', 'MNX3003', 'MNX3011', 'MNX4006', 'MNX5002']);
    expect(renderDiagnostics(r.diagnostics, r.sources)).toMatch(/… \d+ more steps/);
  });

  it('keeps huge repeat counts and lists within limits', () => {
    const r = compileFile(MEDNEXT, { set: ['block_counts=[100000,1,1,1,1,1,1,1,1]'] });
    expect(r.diagnostics.some((d) => d.code === 'MNX5002')).toBe(true);
  });
});
