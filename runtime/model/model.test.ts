import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { compileFile } from '../../compiler/compile.js';
import { ROOT } from '../../tests/fixtures.js';
import { useBackend } from '../backend.js';
import { activation, loadCase, maxAbs, maxAbsDiff } from '../ops/test-helpers.js';
import { exportWeights, loadWeights } from '../weights/state-dict.js';
import { checkpointSegments } from './checkpoint.js';
import { buildModel } from './model.js';
import { dropCancelledBias, PIPELINES } from '../../ir/rewrites/index.js';
import type { IRModel } from '../../ir/types.js';
import { blockIR, downIR, upIR } from './test-ir.js';

/** Ids of the convolutions whose bias `drop_cancelled_bias` leaves out. */
function cancelledBiases(ir: IRModel): string[] {
  const after = dropCancelledBias.apply(ir);
  return ir.nodes.filter((n, i) => Object.keys(n.params).length !== Object.keys(after.nodes[i]!.params).length).map((n) => n.id).sort();
}

/** compile args for the model fixtures, from their constructor_args. */
function setArgs(args: Record<string, unknown>): string[] {
  return Object.entries(args).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`);
}

function checkOutputs(name: string, outputs: tf.Tensor[], io: ReturnType<typeof loadCase>['io'], names: string[]): void {
  expect(outputs.length).toBe(names.length);
  outputs.forEach((y, i) => {
    const ref = activation(io, names[i]!);
    expect(y.shape).toEqual(ref.shape);
    const refData = ref.dataSync();
    const err = maxAbsDiff(y.dataSync(), refData);
    const tol = 2e-5 + 2e-5 * maxAbs(refData);
    expect(err, `${name} ${names[i]}: max abs err ${err} > ${tol}`).toBeLessThanOrEqual(tol);
    ref.dispose();
  });
}

describe.each(['cpu', 'wasm'] as const)('model builder on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each([
    { name: 'block_k3', ir: () => blockIR(4, 2, 3) },
    { name: 'block_k5', ir: () => blockIR(4, 2, 5) },
    { name: 'down_k3', ir: () => downIR(4, 8, 2, 3) },
    { name: 'up_k3', ir: () => upIR(8, 4, 2, 3) },
  ])('runs a hand-written IR of $name with the official weights', ({ name, ir }) => {
    const c = loadCase(name);
    const model = buildModel(ir());
    loadWeights(model, c.weights, name);
    const x = activation(c.io, 'input');
    const ys = model.forward(x);
    checkOutputs(name, ys, c.io, ['output']);
    tf.dispose([x, ...ys]);
    model.dispose();
  });

  it.each([
    { name: 'tiny_k3_ds', outs: ['out_0', 'out_1', 'out_2', 'out_3', 'out_4'] },
    { name: 'tiny_k5_nods', outs: ['out_0'] },
  ])('compiles examples/mednext.mnx as $name and reproduces every official output', ({ name, outs }) => {
    const c = loadCase(name);
    const { ir, diagnostics } = compileFile(join(ROOT, 'examples', 'mednext.mnx'), { set: setArgs(c.meta.constructor_args), inputSize: [32, 32, 32] });
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const model = buildModel(ir!);
    loadWeights(model, c.weights, name);
    const x = activation(c.io, 'input');
    const before = tf.memory().numTensors;
    const ys = model.forward(x);
    // Only the outputs survive the forward pass.
    expect(tf.memory().numTensors - before).toBe(outs.length);
    checkOutputs(name, ys, c.io, outs);
    tf.dispose([x, ...ys]);
    model.dispose();
  });
});

describe('model builder', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('initialises new parameters as PyTorch does, reproducibly from a seed', () => {
    const ir = downIR(4, 8, 2, 3);
    const a = buildModel(ir, { seed: 7 });
    const b = buildModel(ir, { seed: 7 });
    const c = buildModel(ir, { seed: 8 });
    const w = (m: typeof a, n: string) => Array.from(m.variables.get(n)!.dataSync());
    expect(w(a, 'conv1.weight')).toEqual(w(b, 'conv1.weight'));
    expect(w(a, 'conv1.weight')).not.toEqual(w(c, 'conv1.weight'));
    // conv1 fan_in = 1·27: U(−1/√27, 1/√27)
    const bound = 1 / Math.sqrt(27);
    const v = w(a, 'conv1.weight');
    expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    expect(w(a, 'norm.weight')).toEqual([1, 1, 1, 1]);
    expect(w(a, 'norm.bias')).toEqual([0, 0, 0, 0]);
    expect(a.trainableVariables().length).toBe(ir.parameters.length);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('runs a 2-D MedNeXt with GRN and LayerNorm (NHWC in and out) and reproduces it after a weights round trip', () => {
    const set = ['dim="2d"', 'n_channels=4', 'kernel_size=3', 'exp_r=2', 'block_counts=[1,1,1,1,1,1,1,1,1]', 'deep_supervision=true', 'grn=true', 'norm_type="layer"'];
    const { ir } = compileFile(join(ROOT, 'examples', 'mednext.mnx'), { set });
    const a = buildModel(ir!, { seed: 1 });
    const b = buildModel(ir!, { seed: 2 });
    const x = tf.randomNormal([2, 32, 32, 1], 0, 1, 'float32', 3);
    const ya = a.forward(x);
    expect(ya.map((y) => y.shape)).toEqual([32, 16, 8, 4, 2].map((n) => [2, n, n, 2]));
    const yb0 = b.forward(x);
    expect(maxAbsDiff(yb0[0]!.dataSync(), ya[0]!.dataSync())).toBeGreaterThan(1e-3);
    loadWeights(b, exportWeights(a));
    const yb = b.forward(x);
    yb.forEach((y, i) => expect(maxAbsDiff(y.dataSync(), ya[i]!.dataSync())).toBe(0));
    tf.dispose([x, ...ya, ...yb0, ...yb]);
    [a, b].forEach((m) => m.dispose());
  });

  it('leaves out exactly the conv biases a per-channel GroupNorm cancels, with the same outputs', () => {
    // Every MedNeXt depthwise conv1 (and the transposed ones of the up blocks) feeds its norm.
    const { ir } = compileFile(join(ROOT, 'examples', 'mednext.mnx'), { set: ['n_channels=4', 'block_counts=[1,1,1,1,1,1,1,1,1]', 'deep_supervision=true'], inputSize: [16, 16, 16] });
    const m = buildModel(ir!, { seed: 4 });
    const listed = cancelledBiases(ir!);
    expect(listed).toEqual(ir!.nodes.filter((n) => n.id.endsWith('.conv1')).map((n) => n.id).sort());
    expect(listed.length).toBe(9 + 4 + 4);
    // Large biases: a skipped one that mattered would show.
    for (const id of listed) {
      const v = m.variables.get(m.paramName(ir!.nodes.find((n) => n.id === id)!, 'bias')!)!;
      v.assign(tf.add(v, 3));
    }
    const x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 6);
    const inference = m.forward(x);
    const training = m.forward(x, { training: true });
    inference.forEach((y, i) => expect(maxAbsDiff(y.dataSync(), training[i]!.dataSync())).toBeLessThan(1e-4));
    tf.dispose([x, ...inference, ...training]);
    m.dispose();
    // Not when a group spans several channels (a per-channel bias shifts the group's channels apart).
    const grouped = blockIR(4, 2, 3);
    grouped.nodes.find((n) => n.op === 'group_norm')!.attrs.groups = 2;
    const g = buildModel(grouped);
    expect(cancelledBiases(grouped)).toEqual([]);
    expect(cancelledBiases(blockIR(4, 2, 3))).toEqual(['conv1']);
    g.dispose();
  });

  it('runs GELU and residual sums as epilogues of the 1×1×1 convs without gradients, with the same outputs', () => {
    const set = ['n_channels=4', 'kernel_size=3', 'block_counts=[1,1,1,1,1,1,1,1,1]', 'deep_supervision=true', 'do_res=true', 'do_res_up_down=true'];
    const { ir } = compileFile(join(ROOT, 'examples', 'mednext.mnx'), { set, inputSize: [16, 16, 16] });
    const m = buildModel(ir!, { seed: 5 });
    const plan = m.rewritten(PIPELINES.inference_epilogues);
    const epilogueKinds = (nodes: IRModel['nodes']) =>
      nodes.filter((n) => n.op === 'fused_pointwise' && n.attrs.epilogue !== 'none').map((n) => `${n.attrs.prologue === 'group_norm' ? 'norm+' : ''}${n.attrs.epilogue}`);
    // 9 MedNeXt blocks + 4 down + 4 up: each has norm → conv2 → GELU (one node) and conv3 + residual
    // (one node; in the up blocks the sum moved before the pad by sum_before_pad).
    const kinds = epilogueKinds(plan.nodes);
    expect(kinds.filter((k) => k === 'norm+gelu').length).toBe(17);
    expect(kinds.filter((k) => k === 'add').length).toBe(17);
    expect(plan.nodes.some((n) => n.op === 'gelu' || n.op === 'group_norm')).toBe(false);
    expect(plan.nodes.filter((n) => n.op === 'fused_pointwise' && n.attrs.epilogue === 'none').length).toBe(0); // no GELU left to fuse into a following conv
    expect(new Set(plan.nodes.map((n) => n.id))).toEqual(new Set(ir!.nodes.map((n) => n.id).filter((id) => plan.nodes.some((n) => n.id === id))));
    for (const id of ir!.outputs) expect(plan.nodes.some((n) => n.id === id)).toBe(true);
    // The plan with gradients has none; each block's GroupNorm → conv2 → GELU → conv3 is one op there.
    const training = m.rewritten(PIPELINES.training);
    expect(epilogueKinds(training.nodes).length).toBe(0);
    expect(training.nodes.filter((n) => n.op === 'fused_norm_gelu_pointwise').length).toBe(17);
    expect(training.nodes.some((n) => n.op === 'gelu' || n.op === 'group_norm')).toBe(false);
    expect(plan.nodes.filter((n) => n.op === 'fused_norm_gelu_pointwise').length).toBe(0);
    const x = tf.randomNormal([2, 16, 16, 16, 1], 0, 1, 'float32', 7);
    const fused = m.forward(x, { epilogues: true });
    const plain = m.forward(x, { epilogues: false });
    fused.forEach((y, i) => {
      const scale = Math.max(1, maxAbs(plain[i]!.dataSync()));
      expect(maxAbsDiff(y.dataSync(), plain[i]!.dataSync()) / scale).toBeLessThan(1e-5);
    });
    tf.dispose([x, ...fused, ...plain]);
    m.dispose();
  });

  it('refuses an input of the wrong shape, naming what it expects', () => {
    const m = buildModel(blockIR(4, 2, 3));
    expect(() => m.forward(tf.zeros([1, 8, 8, 8, 3]))).toThrow(/input shape \[1, 8, 8, 8, 3\] is not \[N, D, H, W, 4\]/);
    m.dispose();
  });

  it('refuses IR that reads a tensor no earlier node produces', () => {
    const ir = blockIR(4, 2, 3);
    ir.nodes[1]!.inputs = ['nowhere'];
    expect(() => buildModel(ir)).toThrow(/conv1 reads nowhere/);
  });

  it('gives the same loss and gradients with block checkpointing as without', () => {
    const ir = downIR(2, 4, 2, 3);
    // The whole down block is one checkpointed segment: one input in, one tensor out.
    expect(checkpointSegments(ir).map((s) => [s.block, s.inputs, s.outputs])).toEqual([['', [], ['input']], ['down', ['input'], ['output']]]);
    const m = buildModel(ir, { seed: 3 });
    const x = tf.randomNormal([1, 6, 6, 6, 2], 0, 1, 'float32', 5);
    const grads = (checkpoint: boolean) =>
      tf.variableGrads(() => tf.sum(tf.square(m.forward(x, { training: true, checkpoint })[0]!)) as tf.Scalar, m.trainableVariables());
    const plain = grads(false);
    const ckpt = grads(true);
    expect(ckpt.value.dataSync()[0]).toBeCloseTo(plain.value.dataSync()[0]!, 4);
    for (const [name, g] of Object.entries(plain.grads)) {
      const scale = maxAbs(g.dataSync());
      expect(maxAbsDiff(ckpt.grads[name]!.dataSync(), g.dataSync()), name).toBeLessThanOrEqual(1e-5 * Math.max(1, scale));
    }
    m.dispose();
  });
});
