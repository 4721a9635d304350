/**
 * The rewrite passes (ir/rewrites/): what each matches and what it leaves alone (structure), and
 * that the rewritten graph computes the same values as the IR as compiled, on real TF.js kernels
 * (cpu; native and tensorflow, which have their own fused pointwise ops and product-with-epilogue
 * kernels), on hand-written blocks and on examples/tiny.mnx compiled.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers the gradients (the tfjs-core bundle has none)
import { compileFile } from '../../compiler/compile.js';
import { ROOT } from '../../tests/fixtures.js';
import { applyRewrites, dropCancelledBias, fuseNormGeluPointwise, fusePointwiseEpilogue, fusePointwisePrologue, PIPELINES, REWRITES, sumBeforePad, type Rewrite } from '../../ir/rewrites/index.js';
import type { IRModel, IRNode } from '../../ir/types.js';
import { verifyIR } from '../../ir/verify.js';
import { useBackend } from '../backend.js';
import { loadNativeBackend } from '../backends/native.js';
import { loadTensorflowBinding } from '../backends/tensorflow.js';
import { hasEpilogueKernels } from '../kernels/pointwise.js';
import { maxAbs, maxAbsDiff } from '../ops/test-helpers.js';
import { buildModel, type MnxModel } from './model.js';
import { blockIR, downIR, upIR } from './test-ir.js';

function tinyIR(): IRModel {
  const { ir, diagnostics } = compileFile(join(ROOT, 'examples', 'tiny.mnx'), { inputSize: [16, 16, 16] });
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return ir!;
}

/** `id op` of each node, in order. */
const ops = (ir: IRModel) => ir.nodes.map((n) => `${n.id} ${n.op}`);
const node = (ir: IRModel, id: string) => ir.nodes.find((n) => n.id === id)!;
const count = (ir: IRModel, pred: (n: IRNode) => boolean) => ir.nodes.filter(pred).length;

describe('rewrite passes: what they match and what they leave alone', () => {
  it('drop_cancelled_bias drops the bias of a conv read only by a per-channel GroupNorm', () => {
    const ir = blockIR(4, 2, 3);
    const out = dropCancelledBias.apply(ir);
    expect(node(out, 'conv1').params).toEqual({ weight: 'conv1.weight' });
    expect(node(out, 'conv1').attrs.bias).toBe(false);
    expect(out.nodes.filter((n) => n.id !== 'conv1')).toEqual(ir.nodes.filter((n) => n.id !== 'conv1'));
    expect(out.parameters).toBe(ir.parameters);
    expect(node(ir, 'conv1').params.bias).toBe('conv1.bias'); // the input is not changed
    // Left alone: groups spanning several channels; a conv read by another node too; one that is an output.
    const grouped = blockIR(4, 2, 3);
    node(grouped, 'norm').attrs.groups = 2;
    expect(dropCancelledBias.apply(grouped).nodes).toEqual(grouped.nodes);
    const shared = blockIR(4, 2, 3);
    node(shared, 'residual').inputs = ['input', 'conv3', 'conv1'];
    expect(dropCancelledBias.apply(shared).nodes).toEqual(shared.nodes);
    const output = { ...blockIR(4, 2, 3), outputs: ['output', 'conv1'] };
    expect(dropCancelledBias.apply(output).nodes).toEqual(output.nodes);
    // MedNeXt: every conv1 (depthwise, transposed in the up blocks) and nothing else.
    const tiny = tinyIR();
    const after = dropCancelledBias.apply(tiny);
    const dropped = tiny.nodes.filter((n, i) => n.params.bias !== undefined && after.nodes[i]!.params.bias === undefined).map((n) => n.id);
    expect(dropped).toEqual(tiny.nodes.filter((n) => n.id.endsWith('.conv1')).map((n) => n.id));
    expect(dropped.length).toBe(9 + 4 + 4);
  });

  it('fuse_norm_gelu_pointwise makes a block tail one node, not when a link is read elsewhere or is a LayerNorm', () => {
    const ir = blockIR(4, 2, 3);
    const out = fuseNormGeluPointwise.apply(ir);
    expect(ops(out)).toEqual(['input input', 'conv1 conv', 'conv3 fused_norm_gelu_pointwise', 'residual add', 'output output']);
    const f = node(out, 'conv3');
    expect(f.inputs).toEqual(['conv1']);
    expect(f.attrs).toEqual({ norm_groups: 4, norm_eps: 1e-5 });
    expect(f.params).toEqual({
      'norm.weight': 'norm.weight',
      'norm.bias': 'norm.bias',
      'conv2.weight': 'conv2.weight',
      'conv2.bias': 'conv2.bias',
      'conv3.weight': 'conv3.weight',
      'conv3.bias': 'conv3.bias',
    });
    expect(f.out).toEqual(node(ir, 'conv3').out);
    expect(f.origin.at(-1)!.what).toBe('rewrite fuse_norm_gelu_pointwise: group_norm norm → conv conv2 → gelu act → conv conv3');
    // The GELU also an output: no tail.
    const gelu = { ...blockIR(4, 2, 3), outputs: ['output', 'act'] };
    expect(fuseNormGeluPointwise.apply(gelu).nodes).toEqual(gelu.nodes);
    // conv2 not 1×1×1 (stride 2): no tail.
    const strided = blockIR(4, 2, 3);
    node(strided, 'conv2').attrs.stride = [2, 2, 2];
    expect(fuseNormGeluPointwise.apply(strided).nodes).toEqual(strided.nodes);
    expect(count(fuseNormGeluPointwise.apply(tinyIR()), (n) => n.op === 'fused_norm_gelu_pointwise')).toBe(17);
    // A LayerNorm (MedNeXt's norm_type="layer") is not a GroupNorm.
    const { ir: layer } = compileFile(join(ROOT, 'examples', 'tiny.mnx'), { set: ['norm_type="layer"'], inputSize: [16, 16, 16] });
    expect(fuseNormGeluPointwise.apply(layer!).nodes).toEqual(layer!.nodes);
  });

  it('fuse_pointwise_prologue folds a GroupNorm or GELU into the 1×1×1 conv reading it', () => {
    const out = fusePointwisePrologue.apply(blockIR(4, 2, 3));
    expect(ops(out)).toEqual(['input input', 'conv1 conv', 'conv2 fused_pointwise', 'conv3 fused_pointwise', 'residual add', 'output output']);
    expect(node(out, 'conv2')).toMatchObject({ inputs: ['conv1'], attrs: { prologue: 'group_norm', epilogue: 'none', norm_groups: 4, norm_eps: 1e-5 } });
    expect(node(out, 'conv3')).toMatchObject({ inputs: ['conv2'], attrs: { prologue: 'gelu', epilogue: 'none' } });
    expect(Object.keys(node(out, 'conv3').params)).toEqual(['conv.weight', 'conv.bias']);
    // The norm read by another node too: only the GELU is folded.
    const shared = blockIR(4, 2, 3);
    node(shared, 'residual').inputs = ['input', 'conv3', 'norm'];
    expect(ops(fusePointwisePrologue.apply(shared))).toContain('norm group_norm');
    expect(ops(fusePointwisePrologue.apply(shared))).toContain('conv3 fused_pointwise');
    // A GroupNorm before a conv that is not 1×1×1 (the down block's first conv reads the input).
    const down = fusePointwisePrologue.apply(downIR(4, 8, 2, 3));
    expect(node(down, 'res_conv').op).toBe('conv');
  });

  it('fuse_pointwise_epilogue puts GELU or a residual sum on the 1×1×1 conv before it', () => {
    const ir = blockIR(4, 2, 3);
    const out = fusePointwiseEpilogue.apply(ir);
    expect(ops(out)).toEqual(['input input', 'conv1 conv', 'act fused_pointwise', 'residual fused_pointwise', 'output output']);
    expect(node(out, 'act')).toMatchObject({ inputs: ['conv1'], attrs: { prologue: 'group_norm', epilogue: 'gelu' } });
    expect(node(out, 'residual')).toMatchObject({ inputs: ['act', 'input'], attrs: { prologue: 'none', epilogue: 'add' } });
    expect(node(out, 'residual').out).toEqual(node(ir, 'residual').out);
    // The up block: conv3's sum comes after a pad, so conv3 stays a conv.
    expect(ops(fusePointwiseEpilogue.apply(upIR(8, 4, 2, 3)))).toEqual([
      'input input',
      'conv1 conv_transpose',
      'act fused_pointwise',
      'conv3 conv',
      'pad pad',
      'res_conv conv_transpose',
      'res_pad pad',
      'sum add',
      'output output',
    ]);
    // Left alone: a sum of three, a sum of a tensor with itself, a conv result that is an output.
    const three = blockIR(4, 2, 3);
    node(three, 'residual').inputs = ['input', 'conv3', 'input'];
    expect(node(fusePointwiseEpilogue.apply(three), 'residual').op).toBe('add');
    const twice = blockIR(4, 2, 3);
    node(twice, 'residual').inputs = ['conv3', 'conv3'];
    expect(node(fusePointwiseEpilogue.apply(twice), 'residual').op).toBe('add');
    const output = { ...blockIR(4, 2, 3), outputs: ['output', 'conv3'] };
    expect(node(fusePointwiseEpilogue.apply(output), 'residual').op).toBe('add');
    // Two 1×1×1 convs feeding one sum: the first one takes it, the second stays a conv.
    const two = blockIR(4, 2, 3);
    const extra: IRNode = { ...node(two, 'conv3'), id: 'conv3b', inputs: ['act'] };
    two.nodes.splice(two.nodes.indexOf(node(two, 'residual')), 0, extra);
    node(two, 'act').inputs = ['conv2'];
    node(two, 'residual').inputs = ['conv3', 'conv3b'];
    const fusedTwo = fusePointwiseEpilogue.apply(two);
    expect(node(fusedTwo, 'residual').inputs).toEqual(['act', 'conv3b']);
    expect(node(fusedTwo, 'conv3b').op).toBe('conv');
    expect(verifyIR(fusedTwo)).toEqual([]);
  });

  it('sum_before_pad sums two equally padded tensors before one pad, not when the pads differ or one is read elsewhere', () => {
    const ir = upIR(8, 4, 2, 3);
    const out = sumBeforePad.apply(ir);
    expect(ops(out)).toEqual(['input input', 'conv1 conv_transpose', 'norm group_norm', 'conv2 conv', 'act gelu', 'conv3 conv', 'res_conv conv_transpose', 'pad add', 'sum pad', 'output output']);
    expect(node(out, 'pad')).toMatchObject({ inputs: ['conv3', 'res_conv'], out: node(ir, 'conv3').out });
    expect(node(out, 'sum')).toMatchObject({ inputs: ['pad'], attrs: node(ir, 'pad').attrs, out: node(ir, 'sum').out });
    expect(verifyIR(out)).toEqual([]);
    // Then conv3's only reader is the sum: the residual rides on its product.
    expect(ops(fusePointwiseEpilogue.apply(out))).toContain('pad fused_pointwise');
    const unequal = upIR(8, 4, 2, 3);
    node(unequal, 'res_pad').attrs = { before: [1, 1, 0], after: [0, 0, 1] };
    expect(ops(sumBeforePad.apply(unequal))).toEqual(ops(unequal));
    const shared = { ...upIR(8, 4, 2, 3), outputs: ['output', 'res_pad'] };
    expect(ops(sumBeforePad.apply(shared))).toEqual(ops(shared));
    // Exact: the same values and the same gradients, bit for bit.
    const m = randomModel(ir, 7);
    const x = tf.randomNormal([1, 5, 5, 5, 8], 0, 1, 'float32', 8);
    const grads = (rewrites: readonly Rewrite[]) =>
      tf.variableGrads(() => tf.sum(tf.square(m.forward(x, { training: true, rewrites })[0]!)) as tf.Scalar, m.trainableVariables());
    const want = grads([]);
    const got = grads([sumBeforePad]);
    expect(got.value.dataSync()[0]).toBe(want.value.dataSync()[0]);
    for (const [name, g] of Object.entries(want.grads)) expect(Array.from(got.grads[name]!.dataSync()), name).toEqual(Array.from(g.dataSync()));
    tf.dispose([x, want.value, got.value, ...Object.values(want.grads), ...Object.values(got.grads)]);
    m.dispose();
  });

  it('each pipeline gives valid IR on a compiled MedNeXt, with the same parameters and outputs and no norm or GELU left', () => {
    const tiny = tinyIR();
    for (const [name, pipeline] of Object.entries(PIPELINES)) {
      const out = applyRewrites(tiny, pipeline);
      expect(verifyIR(out), name).toEqual([]);
      expect(out.parameters).toEqual(tiny.parameters);
      expect(out.outputs).toEqual(tiny.outputs);
      for (const id of out.outputs) expect(out.nodes.some((n) => n.id === id)).toBe(true);
      expect(count(out, (n) => n.op === 'gelu' || n.op === 'group_norm'), name).toBe(0);
    }
    const epi = applyRewrites(tiny, PIPELINES.inference_epilogues);
    const kinds = epi.nodes.filter((n) => n.op === 'fused_pointwise').map((n) => `${n.attrs.prologue}+${n.attrs.epilogue}`);
    expect(kinds.filter((k) => k === 'group_norm+gelu').length).toBe(17);
    // 13 conv3 + residual, and the 4 up blocks' conv3 + res_conv (their sum before the pad).
    expect(kinds.filter((k) => k === 'none+add').length).toBe(17);
    expect(count(epi, (n) => n.op === 'pad')).toBe(4);
    expect(count(tiny, (n) => n.op === 'pad')).toBe(8);
    expect(Object.keys(REWRITES).sort()).toEqual(['drop_cancelled_bias', 'fuse_norm_gelu_pointwise', 'fuse_pointwise_epilogue', 'fuse_pointwise_prologue', 'sum_before_pad']);
  });

  it('the verifier refuses malformed fused nodes', () => {
    const out = fusePointwiseEpilogue.apply(blockIR(4, 2, 3));
    node(out, 'residual').inputs = ['act'];
    node(out, 'act').attrs.prologue = 'gelu';
    delete node(out, 'act').params['conv.weight'];
    expect(verifyIR(out)).toEqual([
      'node act (fused_pointwise): a GELU prologue has no kernel with an epilogue',
      'node act (fused_pointwise): needs a conv.weight parameter',
      'node residual (fused_pointwise): takes 2 input(s), has 1',
    ]);
  });
});

/** A model with every parameter random (norm affines too, biases large), so a wrong rewrite shows. */
function randomModel(ir: IRModel, seed: number): MnxModel {
  const m = buildModel(ir, { seed });
  let s = seed * 100;
  for (const [name, v] of m.variables) {
    if (name.endsWith('dummy_tensor')) continue;
    const r = tf.randomNormal(v.shape, name.endsWith('.bias') ? 1 : 0, 0.5, 'float32', s++);
    v.assign(tf.add(v, r));
    r.dispose();
  }
  return m;
}

/** max |a − b| over max(1, max |b|), per output, between `rewrites` and the IR as compiled. */
function rewrittenError(m: MnxModel, x: tf.Tensor, rewrites: readonly Rewrite[]): number {
  const want = m.forward(x, { rewrites: [] });
  const got = m.forward(x, { rewrites });
  const err = Math.max(...got.map((y, i) => maxAbsDiff(y.dataSync(), want[i]!.dataSync()) / Math.max(1, maxAbs(want[i]!.dataSync()))));
  tf.dispose([...want, ...got]);
  return err;
}

const nativeWhy = await loadNativeBackend();
const tensorflowWhy = await loadTensorflowBinding();

describe.each(['cpu', 'native', 'tensorflow'] as const)('rewritten graphs compute the same values on %s', (backend) => {
  beforeAll(async () => {
    // Both fast backends are built on this project's machines (mnxc setup); a test here fails without them.
    expect(backend === 'native' ? nativeWhy : backend === 'tensorflow' ? tensorflowWhy : null).toBeNull();
    await useBackend(backend);
    if (backend !== 'cpu') expect(hasEpilogueKernels()).toBe(true);
  });

  const cases = [
    { name: 'block', ir: () => blockIR(4, 2, 3), shape: [2, 6, 6, 6, 4] },
    { name: 'down', ir: () => downIR(4, 8, 2, 3), shape: [2, 6, 6, 6, 4] },
    { name: 'up', ir: () => upIR(8, 4, 2, 3), shape: [2, 5, 5, 5, 8] },
  ];
  it.each(Object.values(REWRITES).map((r) => ({ r, name: r.name })))('$name on hand-written blocks and on tiny.mnx', ({ r }) => {
    for (const c of [...cases, { name: 'tiny', ir: tinyIR, shape: [1, 16, 16, 16, 1] }]) {
      const m = randomModel(c.ir(), 3);
      const x = tf.randomNormal(c.shape, 0, 1, 'float32', 4);
      // Bias dropping differs by the rounding of the (large) bias; the fusions by float32 reordering.
      const tol = r === dropCancelledBias ? 1e-4 : 1e-5;
      expect(rewrittenError(m, x, [r]), `${r.name} on ${c.name}`).toBeLessThan(tol);
      x.dispose();
      m.dispose();
    }
  });

  it('each pipeline on tiny.mnx', () => {
    const m = randomModel(tinyIR(), 5);
    const x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 6);
    for (const [name, pipeline] of Object.entries(PIPELINES)) expect(rewrittenError(m, x, pipeline), name).toBeLessThan(1e-4);
    x.dispose();
    m.dispose();
  });

  it('the training pipeline gives the same gradients, and forward-only rewrites are refused under a gradient', () => {
    const m = randomModel(downIR(4, 8, 2, 3), 7);
    const x = tf.randomNormal([1, 6, 6, 6, 4], 0, 1, 'float32', 8);
    const grads = (rewrites: readonly Rewrite[]) =>
      tf.variableGrads(() => tf.sum(tf.square(m.forward(x, { training: true, rewrites })[0]!)) as tf.Scalar, m.trainableVariables());
    const want = grads([]);
    const got = grads(PIPELINES.training);
    expect(Math.abs(got.value.dataSync()[0]! - want.value.dataSync()[0]!) / Math.abs(want.value.dataSync()[0]!)).toBeLessThan(1e-5);
    for (const [name, g] of Object.entries(want.grads)) {
      expect(maxAbsDiff(got.grads[name]!.dataSync(), g.dataSync()) / Math.max(1, maxAbs(g.dataSync())), name).toBeLessThan(1e-4);
    }
    expect(() => m.forward(x, { training: true, rewrites: [fusePointwiseEpilogue] })).toThrow(/fuse_pointwise_epilogue are for forward passes without gradients/);
    tf.dispose([x, want.value, got.value, ...Object.values(want.grads), ...Object.values(got.grads)]);
    m.dispose();
  });

  it('a forward pass runs the pipeline its backend calls for, with the epilogue kernels where they exist', async () => {
    const m = randomModel(tinyIR(), 9);
    const x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 10);
    const profile = await tf.profile(() => m.forward(x));
    const names = profile.kernels.map((k) => k.name);
    const epilogue = (name: string) => names.filter((n) => n === name).length;
    // tiny.mnx: 17 norm → conv2 → GELU, 17 conv3 + residual (the up blocks' after sum_before_pad; one sample: one kernel each).
    // cpu has no such kernels: it runs the `inference` pipeline (block tails as one op each).
    if (backend === 'cpu') expect(names.some((n) => n.startsWith('MnxcMatMulBias'))).toBe(false);
    // native runs the normed products as MnxcMatMulCentred (x − μ subtracted inside the product: no centred tensor).
    else if (backend === 'native') expect([epilogue('MnxcMatMulCentred'), epilogue('MnxcMatMulBiasGelu'), epilogue('MnxcMatMulBiasAdd')]).toEqual([17, 0, 17]);
    else expect([epilogue('MnxcMatMulBiasGelu'), epilogue('MnxcMatMulBiasAdd')]).toEqual([17, 17]);
    tf.dispose([x, ...(profile.result as tf.Tensor[])]);
    m.dispose();
  });
});
