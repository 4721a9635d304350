import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { useBackend } from '../../runtime/backend.js';
import { readNifti } from '../../runtime/data/nifti/index.js';
import { buildModel } from '../../runtime/model/model.js';
import { loadPlans } from '../../runtime/data/plan/index.js';
import { planResEnc } from '../../runtime/data/plan/resenc-planner.js';
import { exportWeights, loadWeights } from '../../runtime/weights/state-dict.js';
import { mnxcInProcess as mnxc } from '../../tests/cli.js';
import { ROOT } from '../../tests/fixtures.js';

/**
 * nnU-Net's ResidualEncoderUNet (examples/resenc.mnx) through the whole pipeline: nnU-Net's
 * initialisation for a new model, then a small ResEnc trained on the example data with a falling
 * loss, and predictions written for the test cases.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-resenc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SMALL = `import "${join(ROOT, 'examples', 'resenc.mnx').split('\\').join('/')}"
model SmallResEnc = ResidualEncoderUNet {
  n_stages = 4
  features_per_stage = [8, 16, 32, 64]
  kernel_sizes = [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
  strides = [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]]
  n_blocks_per_stage = [1, 2, 2, 2]
  n_conv_per_stage_decoder = [1, 1, 1]
  num_classes = 4
  deep_supervision = true
}
`;

describe("a new ResEnc starts from nnU-Net's initialisation", () => {
  it('He init (kaiming_normal_, a = 1e-2) on every conv and transposed conv, zero biases, conv2.norm of every block zeroed, other norms 1/0', async () => {
    await useBackend('cpu');
    const ir = compileFile(join(ROOT, 'examples', 'resenc.mnx'), { set: ['n_stages=4', 'features_per_stage=[16, 32, 48, 64]', 'kernel_sizes=[[3, 3, 3]] * 4', 'strides=[[1, 1, 1]] + [[2, 2, 2]] * 3', 'n_blocks_per_stage=[1, 3, 4, 6]', 'n_conv_per_stage_decoder=[1, 1, 1]'] }).ir!;
    const w = exportWeights(buildModel(ir, { seed: 3 }));
    const values = (k: string) => w.get(k)!.data as Float32Array;
    let convs = 0;
    for (const p of ir.parameters) {
      const v = values(p.name);
      if (p.role === 'conv_weight' || p.role === 'conv_transpose_weight') {
        convs++;
        // fan_in as PyTorch computes it: dim 1 × kernel volume (a transposed conv's dim 1 is its output channels).
        expect(p.fanIn, p.name).toBe(p.shape.slice(1).reduce((a, b) => a * b, 1));
        const std = Math.sqrt(2 / (1 + 1e-4)) / Math.sqrt(p.fanIn!);
        let s = 0;
        let s2 = 0;
        for (const x of v) (s += x), (s2 += x * x);
        const mean = s / v.length;
        const sd = Math.sqrt(s2 / v.length - mean * mean);
        if (v.length >= 2000) {
          expect(Math.abs(mean), p.name).toBeLessThan((4 * std) / Math.sqrt(v.length));
          expect(Math.abs(sd / std - 1), p.name).toBeLessThan(0.06);
        }
      } else if (p.role === 'bias' || p.role === 'norm_bias') {
        expect(v.every((x) => x === 0), p.name).toBe(true);
      } else if (p.role === 'norm_weight') {
        const zero = /\.blocks\.\d+\.conv2\.norm\.weight$/.test(p.name);
        expect(v.every((x) => x === (zero ? 0 : 1)), p.name).toBe(true);
      }
    }
    expect(convs).toBeGreaterThan(30);
    expect(ir.parameters.filter((p) => /conv2\.norm\.weight$/.test(p.name))).toHaveLength(1 + 3 + 4 + 6);
    // So a fresh block computes LeakyReLU(skip(x)): a strided, projecting block against its skip path alone.
    const one = (body: string) => compileFile(join(ROOT, 'examples', 'one_block.mnx'), { text: `import "resenc.mnx"\nmodel One() {\n  x = input(channels: 2)\n${body}\n}\n` }).ir!;
    const block = one('  output 0 = basic_block_d(x, out: 4, k: [3, 3, 3], stride: [2, 2, 2]) as "b"');
    const skip = one('  r = avg_pool(x, stride: [2, 2, 2]) as "b.skip.0"\n  r = conv_norm_act(r, out: 4, k: 1, bias: false, nonlin: false) as "b.skip.1"\n  output 0 = leaky_relu(r) as "b.nonlin2"');
    const fresh = buildModel(block, { seed: 9 });
    const skipOnly = buildModel(skip, { seed: 1 });
    const trained = exportWeights(fresh);
    loadWeights(skipOnly, new Map([...trained].filter(([k]) => k.startsWith('b.skip.'))));
    const x = tf.randomNormal([1, 8, 8, 8, 2], 0, 1, 'float32', 5);
    const [a] = fresh.forward(x) as tf.Tensor[];
    const [b] = skipOnly.forward(x) as tf.Tensor[];
    expect(a!.shape).toEqual([1, 4, 4, 4, 4]);
    expect(tf.max(tf.abs(tf.sub(a!, b!))).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.max(tf.abs(a!)).dataSync()[0]).toBeGreaterThan(0.1);
    tf.dispose([x, a!, b!]);
    const off = compileFile(join(ROOT, 'examples', 'resenc.mnx'), { set: ['nnunet_init=false'] }).ir!;
    expect(new Set(off.parameters.map((p) => p.init))).toEqual(new Set(['fan_in_uniform', 'ones', 'zeros']));
  });
});

describe('ResEnc trains and predicts on the example data', () => {
  it('example-data → plan → preprocess → train (falling loss) → predict', async () => {
    writeFileSync(join(root, 'small_resenc.mnx'), SMALL);
    const data = join(root, 'data');
    const ds = join(data, 'Dataset900_Phantom');
    const plans = join(root, 'plans.yaml');
    const run = join(root, 'run');
    for (const args of [
      ['example-data', data, '--cases', '5', '--test-cases', '1'],
      ['plan', ds, '-o', plans, '--spec', join(root, 'small_resenc.mnx'), '--target-spacing', '2.5,1.5,1.5', '--patch', '16,48,48'],
      ['preprocess', ds, '--plans', plans, '-o', join(root, 'pre')],
      ['train', join(root, 'pre'), '--plans', plans, '--fold', '0', '-o', run, '--epochs', '4', '--iterations', '4', '--val-iterations', '1', '--workers', '0'],
      ['predict', '-i', join(ds, 'imagesTs'), '-o', join(root, 'pred'), '-m', run, '--folds', '0', '--no-tta'],
    ]) {
      const r = await mnxc(...args);
      expect(r.code, `${args[0]}: ${r.err}`).toBe(0);
    }
    const ir = JSON.parse(readFileSync(join(run, 'model.ir.json'), 'utf8'));
    expect(ir.name).toBe('SmallResEnc');
    expect(ir.outputs).toHaveLength(3); // deep supervision: one head per decoder stage
    const history = JSON.parse(readFileSync(join(run, 'fold_0', 'checkpoint_latest.json'), 'utf8')).history as { train_loss: number }[];
    expect(history).toHaveLength(4);
    expect(history.every((h) => Number.isFinite(h.train_loss))).toBe(true);
    expect(history[3]!.train_loss).toBeLessThan(history[0]!.train_loss);
    const preds = readdirSync(join(root, 'pred')).filter((f) => f.endsWith('.nii.gz'));
    expect(preds).toEqual(['phantom_500.nii.gz']);
    const seg = readNifti(join(root, 'pred', preds[0]!));
    const image = readNifti(join(ds, 'imagesTs', 'phantom_500_0000.nii.gz'));
    expect(seg.shape).toEqual(image.shape);
    expect([...new Set(seg.data)].every((v) => [0, 1, 2, 3].includes(v))).toBe(true);
  });
});

describe('mnxc summary prints the presets\' official parameter counts', () => {
  it.each([
    ['M', '102,350,575'],
    ['L', '102,350,575'],
    ['XL', '141,481,138'],
  ])('variant %s: %s', async (variant, count) => {
    const r = await mnxc('summary', join(ROOT, 'examples', 'resenc.mnx'), '--variant', variant);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^total\\s+${count}\\s`, 'm'));
  });
});

describe('mnxc plan --preset resenc-m|l|xl', () => {
  it("plans the ResEnc presets' network, patch and batch for the example data, and the written spec compiles at that patch", async () => {
    const data = join(root, 'data-preset');
    expect((await mnxc('example-data', data, '--cases', '3', '--test-cases', '0')).code).toBe(0);
    const ds = join(data, 'Dataset900_Phantom');
    const seen = new Map<string, string>();
    for (const preset of ['resenc-m', 'resenc-l', 'resenc-xl']) {
      const out = join(root, preset, 'plans.yaml');
      const r = await mnxc('plan', ds, '-o', out, '--preset', preset);
      expect(r.code, r.err).toBe(0);
      const plans = loadPlans(out);
      const p = plans.preprocessing;
      expect(p.target_spacing_rule).toBe('median');
      const want = planResEnc(preset === 'resenc-m' ? 'M' : preset === 'resenc-l' ? 'L' : 'XL', { spacing: p.target_spacing, medianShape: p.median_shape, numClasses: 4, datasetVoxels: p.median_shape.reduce((a, b) => a * b, 1) * 3 });
      expect(plans.training.patch_size).toEqual(want.patch_size);
      expect(plans.training.batch_size).toBe(want.batch_size);
      expect(plans.model.set).toEqual({ deep_supervision: true });
      // One deep-supervision weight per head, nnU-Net's: 1/2^i, the coarsest 0, normalised.
      const w = plans.training.deep_supervision.weights;
      expect(w).toHaveLength(want.architecture.n_stages - 1);
      expect(w[w.length - 1]).toBe(0);
      expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(w[0]! / w[1]!).toBeCloseTo(2, 12);
      const spec = join(root, preset, plans.model.spec);
      const c = compileFile(spec, { set: ['deep_supervision=true'], inputSize: plans.training.patch_size });
      expect(c.diagnostics, preset).toEqual([]);
      expect(c.ir!.name).toMatch(/^Phantom_3d_fullres$/);
      for (const k of ['n_stages', 'features_per_stage', 'kernel_sizes', 'strides', 'n_blocks_per_stage'] as const) expect(c.ir!.arguments[k]).toEqual(want.architecture[k]);
      expect(r.err).toContain(`patch ${want.patch_size.join(' × ')}, batch ${want.batch_size}`);
      seen.set(preset, `${want.patch_size.join('x')} ${want.batch_size}`);
    }
    // A larger memory target never plans a smaller batch × patch.
    const volume = (v: string) => v.split(' ')[0]!.split('x').map(Number).reduce((a, b) => a * b, 1) * Number(v.split(' ')[1]);
    expect(volume(seen.get('resenc-l')!)).toBeGreaterThanOrEqual(volume(seen.get('resenc-m')!));
    expect(volume(seen.get('resenc-xl')!)).toBeGreaterThanOrEqual(volume(seen.get('resenc-l')!));
    const clash = await mnxc('plan', ds, '--preset', 'resenc-m', '--patch', '16,48,48');
    expect(clash.code).toBe(2);
    expect(clash.err).toMatch(/leave out --patch/);
    expect((await mnxc('plan', ds, '--preset', 'resenc-s')).err).toMatch(/--preset expects one of resenc-m, resenc-l, resenc-xl/);
  });
});
