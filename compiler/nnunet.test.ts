import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../tests/fixtures.js';
import { compileFile } from './compile.js';
import { renderDiagnostics } from './diagnostics/render.js';
import { summarize } from './emit/summary.js';
import { importPlans } from './import-plans.js';
import { nnunetOverrides } from '../tests/overrides.js';

const NNUNET = join(ROOT, 'examples', 'nnunet.mnx');
describe("nnU-Net's PlainConvUNet in the language", () => {
  const dir = join(FIXTURES, 'nnunet-reference');
  const counts = JSON.parse(readFileSync(join(dir, 'param_counts.json'), 'utf8'));
  for (const row of counts.rows as { name: string; deep_supervision: boolean; constructor_args: Record<string, unknown>; num_parameters: number }[]) {
    it(`${row.name} ds=${row.deep_supervision}: official parameter count`, () => {
      const r = compileFile(NNUNET, { set: nnunetOverrides(row.constructor_args) });
      expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
      expect(summarize(r.ir!).params).toBe(row.num_parameters);
    });
  }
  for (const c of ['plain_unet_iso', 'plain_unet_aniso']) {
    it(`${c}: the parameters are the official distinct tensors, by name and shape`, () => {
      const meta = JSON.parse(readFileSync(join(dir, `${c}.json`), 'utf8'));
      const r = compileFile(NNUNET, { set: nnunetOverrides(meta.constructor_args), inputSize: meta.input.shape.slice(2) });
      const shapes = new Map((meta.state_dict as [string, number[]][]).map(([k, s]) => [k, s]));
      expect(r.ir!.parameters.map((p) => p.name).sort()).toEqual([...meta.weights_file_keys].sort());
      for (const p of r.ir!.parameters) expect(p.shape, p.name).toEqual(shapes.get(p.name));
      expect(summarize(r.ir!).params).toBe(meta.num_parameters);
      const outs = r.ir!.outputs.map((o) => r.ir!.nodes.find((n) => n.id === o)!.out);
      expect(outs.map((o) => [o.channels, ...(o.spatial ?? [])])).toEqual(meta.outputs.map((o: { shape: number[] }) => o.shape.slice(1)));
    });

    it(`${c}: import-plans round-trips the plans form to the same network`, () => {
      const meta = JSON.parse(readFileSync(join(dir, `${c}.json`), 'utf8'));
      const plans = { dataset_name: 'Dataset042_Test', configurations: { '3d_fullres': { patch_size: meta.input.shape.slice(2), architecture: meta.nnunet_plans_equivalent } } };
      const out = join(mkdtempSync(join(tmpdir(), 'mnxc-plans-')), 'imported.mnx');
      const text = importPlans(plans, { inputChannels: meta.constructor_args.input_channels, numClasses: meta.constructor_args.num_classes, outputPath: out, familyPath: NNUNET, source: 'nnUNetPlans.json' });
      writeFileSync(out, text);
      const a = compileFile(out, { set: [`deep_supervision=${meta.constructor_args.deep_supervision}`], inputSize: meta.input.shape.slice(2) });
      const b = compileFile(NNUNET, { set: nnunetOverrides(meta.constructor_args), inputSize: meta.input.shape.slice(2) });
      expect(renderDiagnostics(a.diagnostics, a.sources)).toBe('');
      expect(a.ir!.parameters).toEqual(b.ir!.parameters);
      expect(a.ir!.nodes.map((n) => [n.id, n.op, n.attrs, n.out])).toEqual(b.ir!.nodes.map((n) => [n.id, n.op, n.attrs, n.out]));
    });
  }

  it('import-plans refuses what PlainConvUNet cannot express, naming each field', () => {
    const meta = JSON.parse(readFileSync(join(dir, 'plain_unet_iso.json'), 'utf8'));
    const arch = structuredClone(meta.nnunet_plans_equivalent);
    arch.arch_kwargs.nonlin = 'torch.nn.ReLU';
    arch.arch_kwargs.dropout_op = 'torch.nn.Dropout3d';
    arch.arch_kwargs.stem_width = 3;
    const plans = { configurations: { '3d_fullres': { architecture: arch } } };
    const o = { inputChannels: 1, numClasses: 3, outputPath: 'x.mnx', familyPath: NNUNET, source: 'p.json' };
    expect(() => importPlans(plans, o)).toThrow(/arch_kwargs\.stem_width: unknown argument[\s\S]*dropout_op[\s\S]*nonlin: 'torch\.nn\.ReLU'/);
    const other = { configurations: { '3d_fullres': { architecture: { ...arch, network_class_name: 'dynamic_network_architectures.architectures.primus.Primus' } } } };
    expect(() => importPlans(other, o)).toThrow(/Primus' is not supported/);
  });
});
