import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../tests/fixtures.js';
import { baselineOverrides, transunetOverrides } from '../tests/overrides.js';
import { compileFile } from './compile.js';
import { renderDiagnostics } from './diagnostics/render.js';
import { summarize } from './emit/summary.js';
import { verifyIR } from '../ir/verify.js';

/** The paper's baselines written in the language: official parameter names, shapes and counts. */
const REF = join(FIXTURES, 'baselines-reference');
const SPECS: Record<string, { spec: string; cases: string[]; rows: string[]; overrides?: (a: Record<string, unknown>) => string[] }> = {
  UNETR: { spec: 'examples/baselines/unetr.mnx', cases: ['unetr_tiny'], rows: ['UNETR_96', 'UNETR_96_conv', 'UNETR_128'] },
  UXNET: { spec: 'examples/baselines/uxnet.mnx', cases: ['uxnet_tiny'], rows: ['3DUXNET'] },
  TransBTS: { spec: 'examples/baselines/transbts.mnx', cases: ['transbts_tiny'], rows: ['TransBTS'] },
  nnFormer: { spec: 'examples/baselines/nnformer.mnx', cases: ['nnformer_tiny'], rows: ['nnFormer_synapse', 'nnFormer_3duxnet'] },
  TransUNet: { spec: 'examples/baselines/transunet.mnx', cases: ['transunet_tiny'], rows: ['TransUNet_R50_ViT_B16_224'], overrides: transunetOverrides },
  SwinUNETR: { spec: 'examples/baselines/swin_unetr.mnx', cases: ['swin_unetr_tiny'], rows: ['SwinUNETR_48', 'SwinUNETR_48_v2'] },
};

const counts = JSON.parse(readFileSync(join(REF, 'param_counts.json'), 'utf8')) as { rows: { name: string; constructor_args: Record<string, unknown>; num_parameters: number }[] };

for (const [network, s] of Object.entries(SPECS)) {
  describe(`${network} (${s.spec})`, () => {
    for (const c of s.cases) {
      it(`${c}: every state_dict key with its shape, and the parameter count`, () => {
        const meta = JSON.parse(readFileSync(join(REF, `${c}.json`), 'utf8'));
        const r = compileFile(join(ROOT, s.spec), { set: (s.overrides ?? baselineOverrides)(meta.constructor_args), inputSize: meta.input.shape.slice(2) });
        expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
        expect(verifyIR(r.ir)).toEqual([]);
        const want = new Map((meta.state_dict as [string, number[]][]).map(([k, shape]) => [k, shape]));
        expect(r.ir!.parameters.map((p) => p.name).sort()).toEqual([...want.keys()].sort());
        for (const p of r.ir!.parameters) expect(p.shape, p.name).toEqual(want.get(p.name));
        expect(summarize(r.ir!).params).toBe(meta.num_parameters);
        const outs = r.ir!.outputs.map((o) => r.ir!.nodes.find((n) => n.id === o)!.out);
        expect(outs.map((o) => [o.channels, ...(o.spatial ?? [])])).toEqual(meta.outputs.map((o: { shape: number[] }) => o.shape.slice(1)));
      });
    }
    for (const name of s.rows) {
      it(`${name}: the paper configuration's parameter count`, () => {
        const row = counts.rows.find((x) => x.name === name)!;
        const r = compileFile(join(ROOT, s.spec), { set: (s.overrides ?? baselineOverrides)(row.constructor_args) });
        expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
        expect(summarize(r.ir!).params).toBe(row.num_parameters);
      });
    }
  });
}

/** examples/baselines/paper/: the paper configurations as derived models, with the official counts. */
describe('paper configurations (examples/baselines/paper/)', () => {
  const files: Record<string, string> = {
    'unetr_96.mnx': 'UNETR_96',
    'swin_unetr_48.mnx': 'SwinUNETR_48',
    'uxnet.mnx': '3DUXNET',
    'nnformer_synapse.mnx': 'nnFormer_synapse',
    'transbts.mnx': 'TransBTS',
    'transunet_r50_vit_b16_224.mnx': 'TransUNet_R50_ViT_B16_224',
  };
  for (const [file, name] of Object.entries(files)) {
    it(`${file}: ${name}'s parameter count`, () => {
      const r = compileFile(join(ROOT, 'examples', 'baselines', 'paper', file));
      expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
      expect(summarize(r.ir!).params).toBe(counts.rows.find((x) => x.name === name)!.num_parameters);
    });
  }
});
