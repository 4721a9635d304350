import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../tests/fixtures.js';
import { compileFile } from './compile.js';
import { renderDiagnostics } from './diagnostics/render.js';
import { summarize } from './emit/summary.js';
import { verifyIR } from '../ir/verify.js';
import { importPlans } from './import-plans.js';
import type { IRModel } from '../ir/types.js';
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

interface CountRow {
  fingerprint: string;
  preset: string;
  configuration: string;
  deep_supervision: boolean;
  patch_size: number[];
  batch_size: number;
  constructor_args: Record<string, unknown>;
  num_parameters: number;
}

describe("nnU-Net's ResidualEncoderUNet in the language (examples/resenc.mnx)", () => {
  const counts = JSON.parse(readFileSync(join(REF, 'param_counts.json'), 'utf8'));
  for (const row of counts.rows as CountRow[]) {
    it(`${row.fingerprint} ${row.preset} ${row.configuration} ds=${row.deep_supervision}: the official parameter count`, () => {
      const r = compileFile(RESENC, { set: resencOverrides(row.constructor_args) });
      expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
      expect(r.ir!.spatialDims).toBe(String(row.constructor_args.conv_op).endsWith('Conv2d') ? 2 : 3);
      expect(summarize(r.ir!).params).toBe(row.num_parameters);
    });
  }

  it('variants M, L and XL are the 3d_fullres networks the presets plan for the liver-CT fingerprint', () => {
    for (const preset of ['M', 'L', 'XL']) {
      const row = (counts.rows as CountRow[]).find((x) => x.fingerprint === 'liver_ct_1mm' && x.preset === preset && x.configuration === '3d_fullres' && !x.deep_supervision)!;
      const r = compileFile(RESENC, { variant: preset, inputSize: row.patch_size });
      expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
      for (const k of ['n_stages', 'features_per_stage', 'kernel_sizes', 'strides', 'n_blocks_per_stage', 'n_conv_per_stage_decoder']) expect(r.ir!.arguments[k], `${preset} ${k}`).toEqual(row.constructor_args[k]);
      expect(summarize(r.ir!).params).toBe(row.num_parameters);
    }
  });

  for (const c of ['resenc_iso', 'resenc_aniso']) {
    it(`${c}: the parameters are the official distinct tensors, by name and shape; outputs and skips have the official shapes`, () => {
      const meta = JSON.parse(readFileSync(join(REF, `${c}.json`), 'utf8'));
      const r = compileFile(RESENC, { set: resencOverrides(meta.constructor_args), inputSize: meta.input.shape.slice(2) });
      expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
      expect(verifyIR(r.ir)).toEqual([]);
      const shapes = new Map((meta.state_dict as [string, number[]][]).map(([k, s]) => [k, s]));
      expect(r.ir!.parameters.map((p) => p.name).sort()).toEqual([...meta.weights_file_keys].sort());
      for (const p of r.ir!.parameters) expect(p.shape, p.name).toEqual(shapes.get(p.name));
      expect(summarize(r.ir!).params).toBe(meta.num_parameters);
      const outs = r.ir!.outputs.map((o) => r.ir!.nodes.find((n) => n.id === o)!.out);
      expect(outs.map((o) => [o.channels, ...(o.spatial ?? [])])).toEqual(meta.outputs.map((o: { shape: number[] }) => o.shape.slice(1)));
      // Every residual block's skip path as the official code builds it: identity, pooling, or pooling + projection.
      for (const b of meta.residual_blocks as { block: string; stride: number[]; skip: string }[]) {
        const ops = r.ir!.nodes.filter((n) => n.block.startsWith(`${b.block}.skip.`)).map((n) => n.op);
        const want = b.skip === 'identity' ? [] : b.skip.includes('conv1x1') ? ['avg_pool', 'conv', 'group_norm'] : ['avg_pool'];
        expect(ops, b.block).toEqual(want);
        const pool = r.ir!.nodes.find((n) => n.block === `${b.block}.skip.0`);
        if (pool) expect(pool.attrs.stride).toEqual(b.stride);
      }
      // The nonlinearity comes after the addition, and conv2 has none.
      const blockOps = (name: string) => r.ir!.nodes.filter((n) => n.block === name || n.block.startsWith(`${name}.`)).map((n) => `${n.block.slice(name.length + 1)}:${n.op}`);
      expect(blockOps('encoder.stages.1.blocks.0')).toEqual(['conv1:conv', 'conv1:group_norm', 'conv1:leaky_relu', 'conv2:conv', 'conv2:group_norm', 'skip.0:avg_pool', 'skip.1:conv', 'skip.1:group_norm', ':add', 'nonlin2:leaky_relu']);
    });
  }
});

/** The IR without source positions and the model's name: what the runtime computes with. */
function essence(ir: IRModel) {
  return {
    spatialDims: ir.spatialDims,
    input: ir.input,
    parameters: ir.parameters,
    nodes: ir.nodes.map((n) => [n.id, n.op, n.inputs, n.attrs, n.params, n.out, n.block]),
    outputs: ir.outputs,
    hints: ir.hints,
  };
}

describe('mnxc import-plans with ResEnc plans files', () => {
  const NNUNET = join(ROOT, 'examples', 'nnunet.mnx');
  const imported = (plans: Record<string, unknown>, cfg: string, channels: number, classes: number) => {
    const out = join(mkdtempSync(join(tmpdir(), 'mnxc-plans-')), 'imported.mnx');
    writeFileSync(out, importPlans(plans, { configuration: cfg, inputChannels: channels, numClasses: classes, outputPath: out, familyPath: NNUNET, source: 'nnUNetResEncUNetMPlans.json' }));
    return out;
  };

  for (const c of ['resenc_iso', 'resenc_aniso']) {
    it(`${c}: the plans form imports to the same network (identical IR)`, () => {
      const meta = JSON.parse(readFileSync(join(REF, `${c}.json`), 'utf8'));
      const plans = { dataset_name: 'Dataset042_Test', plans_name: 'nnUNetResEncUNetMPlans', configurations: { '3d_fullres': { patch_size: meta.input.shape.slice(2), architecture: meta.nnunet_plans_equivalent } } };
      const out = imported(plans, '3d_fullres', meta.constructor_args.input_channels, meta.constructor_args.num_classes);
      expect(readFileSync(out, 'utf8')).toMatch(/import "[^"]*resenc\.mnx"[\s\S]*= ResidualEncoderUNet \{[\s\S]*n_blocks_per_stage = \[/);
      const a = compileFile(out, { set: [`deep_supervision=${meta.constructor_args.deep_supervision}`], inputSize: meta.input.shape.slice(2) });
      const b = compileFile(RESENC, { set: resencOverrides(meta.constructor_args), inputSize: meta.input.shape.slice(2) });
      expect(renderDiagnostics(a.diagnostics, a.sources)).toBe('');
      expect(essence(a.ir!)).toEqual(essence(b.ir!));
    });
  }

  it('the presets\' plans (3d_fullres and 2d of every fingerprint) import to the official networks', () => {
    const counts = JSON.parse(readFileSync(join(REF, 'param_counts.json'), 'utf8'));
    for (const row of (counts.rows as CountRow[]).filter((r) => !r.deep_supervision)) {
      const arch_kwargs = Object.fromEntries(Object.entries(row.constructor_args).filter(([k]) => !['input_channels', 'num_classes', 'deep_supervision'].includes(k)));
      const plans = { dataset_name: 'Dataset001', configurations: { [row.configuration]: { patch_size: row.patch_size, batch_size: row.batch_size, architecture: { network_class_name: 'dynamic_network_architectures.architectures.unet.ResidualEncoderUNet', arch_kwargs, _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'] } } } };
      const out = imported(plans, row.configuration, row.constructor_args.input_channels as number, row.constructor_args.num_classes as number);
      const a = compileFile(out);
      const what = `${row.fingerprint} ${row.preset} ${row.configuration}`;
      expect(readFileSync(out, 'utf8'), what).toContain(`configuration ${row.configuration} (patch ${row.patch_size.join('×')}, batch ${row.batch_size}).`);
      expect(renderDiagnostics(a.diagnostics, a.sources), what).toBe('');
      expect(summarize(a.ir!).params, what).toBe(row.num_parameters);
      expect(essence(a.ir!), what).toEqual(essence(compileFile(RESENC, { set: resencOverrides(row.constructor_args) }).ir!));
    }
  });

  it('refuses what ResidualEncoderUNet cannot express, naming each field', () => {
    const meta = JSON.parse(readFileSync(join(REF, 'resenc_iso.json'), 'utf8'));
    const arch = structuredClone(meta.nnunet_plans_equivalent);
    arch.arch_kwargs.block = 'dynamic_network_architectures.building_blocks.residual.BottleneckD';
    arch.arch_kwargs.bottleneck_channels = [1, 2, 4, 6, 6];
    arch.arch_kwargs.n_conv_per_stage = [2, 2, 2, 2, 2];
    const o = { inputChannels: 1, numClasses: 3, outputPath: 'x.mnx', familyPath: NNUNET, source: 'p.json' };
    expect(() => importPlans({ configurations: { '3d_fullres': { architecture: arch } } }, o)).toThrow(
      /n_conv_per_stage: unknown argument of ResidualEncoderUNet[\s\S]*block: '.*BottleneckD' is not supported[\s\S]*bottleneck_channels/,
    );
  });

  it('through the CLI: plans.json + dataset.json → spec that compiles to the official network', () => {
    const meta = JSON.parse(readFileSync(join(REF, 'resenc_aniso.json'), 'utf8'));
    const dir = mkdtempSync(join(tmpdir(), 'mnxc-plans-'));
    writeFileSync(join(dir, 'nnUNetResEncUNetLPlans.json'), JSON.stringify({ dataset_name: 'Dataset009_Spleen', configurations: { '3d_fullres': { architecture: meta.nnunet_plans_equivalent } } }));
    writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ channel_names: { 0: 'CT' }, labels: { background: 0, a: 1, b: 2, c: 3 } }));
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'import-plans', join(dir, 'nnUNetResEncUNetLPlans.json'), '-o', join(dir, 'resenc_l.mnx')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const a = compileFile(join(dir, 'resenc_l.mnx'), { inputSize: meta.input.shape.slice(2) });
    expect(renderDiagnostics(a.diagnostics, a.sources)).toBe('');
    expect(essence(a.ir!)).toEqual(essence(compileFile(RESENC, { set: resencOverrides(meta.constructor_args), inputSize: meta.input.shape.slice(2) }).ir!));
  });
});
