/**
 * What the benchmark measures. Each case is set up once (model built, inputs made), then `run`
 * is timed; `run` reads its result back so asynchronous backends are timed in full. FLOPs
 * follow `compiler/emit/summary.ts` (2·MACs for convolutions, one per output element of every
 * other op); a backward pass counts 2× the forward FLOPs (the products for the input and for the
 * weights), so a training step or an op's fwd+bwd row counts 3× — the usual convention.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers the gradients of the built-in ops
import { compileFile } from '../compiler/compile.js';
import type { IRModel } from '../ir/types.js';
import { summarize } from '../compiler/emit/summary.js';
import type { CaseWorkload } from './case.js';
import { MEDNEXT_DS_WEIGHTS } from '../runtime/data/plan/plans.js';
import { gaussianImportanceMap, modelWindowPredictor, predictSlidingWindow, windowGrid } from '../runtime/infer/index.js';
import { buildModel } from '../runtime/model/model.js';
import { ops } from '../runtime/ops/index.js';
import { deepSupervisionLoss, headWeights } from '../runtime/train/loss.js';
import { clipByGlobalNorm, Optimizer } from '../runtime/train/optimizer.js';
import { variableGrads } from '../runtime/autodiff/backprop.js';

export type Triple = [number, number, number];

/** One benchmark configuration, as the orchestrator passes it to a child process. */
export interface CaseSpec {
  /** `forward`, `train`, `sliding` (whole model) or one of OP_CASES. */
  kind: string;
  /** Spec file, variant and overrides of the model rows. */
  spec?: string;
  variant?: string;
  set?: string[];
  /** Cube edge of the model input, or of an op's activation. */
  size: number;
  /** Channels of an op's activation. */
  channels?: number;
  /** Sliding window: the volume and the patch. */
  volume?: Triple;
  patch?: Triple;
  /** Timed runs of this case (default: the child's --reps). */
  reps?: number;
  /** 2 for a 2-D model (input size² instead of size³). */
  dims?: 2 | 3;
  /** Rows that repeat a main row's configuration for another table: `scaling`, `threads`. */
  group?: string;
  /** A main row that is also the scaling table's row at its size (bench/run.ts scalingFromMain). */
  scaling?: boolean;
  /** Threads the backend may use (bench/run.ts sets them in the child's environment); default: all. */
  threads?: number;
  /** The `case` row (bench/case.ts): the scan and network (default CT_CASE), measured in parts or in full. */
  workload?: Partial<CaseWorkload>;
  mode?: 'parts' | 'full';
  /** Parts: windows timed without mirroring (default 2), and whether one mirrored window is timed (default true). */
  timedWindows?: number;
  mirror?: boolean;
}

export interface PreparedCase {
  flops: number;
  /** Facts worth printing (parameters, windows). */
  info: Record<string, number | string>;
  run: () => Promise<void>;
  /** A cheaper warm-up than one full run (the sliding window warms up on one window). */
  warmUp?: () => Promise<void>;
  dispose: () => void;
}

/** The op rows: each a function of one activation [1, S, S, S, C] (the up block's is [1, S/2, S/2, S/2, C]). */
export const OP_CASES = [
  'pointwise',
  'pointwise_fwd_bwd',
  'depthwise3',
  'depthwise3_fwd_bwd',
  'norm_gelu',
  'norm_gelu_fwd_bwd',
  'up_depthwise3',
  'up_depthwise3_fwd_bwd',
] as const;

export const CASE_TITLES: Record<string, string> = {
  forward: 'forward',
  train: 'train step',
  sliding: 'sliding window',
  case: 'case',
  pointwise: '1×1×1 conv C→2C (matMul)',
  pointwise_fwd_bwd: '1×1×1 conv C→2C, fwd+bwd',
  depthwise3: 'depthwise 3³ conv',
  depthwise3_fwd_bwd: 'depthwise 3³ conv, fwd+bwd',
  norm_gelu: 'GroupNorm + GELU',
  norm_gelu_fwd_bwd: 'GroupNorm + GELU, fwd+bwd',
  up_depthwise3: 'up-block depthwise 3³ transposed',
  up_depthwise3_fwd_bwd: 'up-block depthwise 3³ transposed, fwd+bwd',
};

function compileCase(c: CaseSpec, size: number[]): IRModel {
  const r = compileFile(c.spec!, { variant: c.variant, set: c.set ?? [], inputSize: size });
  if (!r.ir) throw new Error(`${c.spec} does not compile: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.ir;
}

async function readAll(ts: tf.Tensor[]): Promise<void> {
  await Promise.all(ts.map((t) => t.data()));
  tf.dispose(ts);
}

function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

function classesOf(ir: IRModel): number {
  return ir.nodes.find((n) => n.id === ir.outputs[0])!.out.channels;
}

export function prepareCase(c: CaseSpec): PreparedCase {
  if (c.kind === 'forward' || c.kind === 'train') return prepareModelCase(c);
  if (c.kind === 'sliding') return prepareSliding(c);
  if ((OP_CASES as readonly string[]).includes(c.kind)) return prepareOp(c);
  throw new Error(`unknown benchmark case '${c.kind}'`);
}

function prepareModelCase(c: CaseSpec): PreparedCase {
  const s = c.size;
  const size = c.dims === 2 ? [s, s] : [s, s, s];
  const ir = compileCase(c, size);
  const summary = summarize(ir);
  const model = buildModel(ir, { seed: 0 });
  const x = seeded([1, ...size, ir.input.channels], 1);
  const info = { params: summary.params };
  if (c.kind === 'forward') {
    return { flops: summary.flops, info, run: () => readAll(model.forward(x)), dispose: () => (x.dispose(), model.dispose()) };
  }
  // MedNeXt's training step as runtime/train runs it: Dice+CE on every deep-supervision head,
  // global-norm clipping at 12, AdamW (lr 1e-3, eps 1e-4, weight decay 3e-5).
  const vars = model.trainableVariables();
  const opt = new Optimizer(vars, vars.map((v) => v.name), { name: 'adamw', lr: 1e-3, weight_decay: 3e-5, eps: 1e-4, betas: [0.9, 0.999], momentum: 0.99, nesterov: true });
  const weights = headWeights(MEDNEXT_DS_WEIGHTS, ir.outputs.length);
  const classes = classesOf(ir);
  const targets = ir.outputs.map((id, i) => {
    const sp = ir.nodes.find((n) => n.id === id)!.out.spatial!;
    return tf.randomUniform([1, ...sp], 0, classes, 'int32', 10 + i);
  });
  const loss = { name: 'dice_ce' as const, batch_dice: false, smooth: 1e-5, do_background: false, weight_ce: 1, weight_dice: 1 };
  return {
    flops: 3 * summary.flops,
    info,
    run: async () => {
      const { value, grads } = variableGrads(() => deepSupervisionLoss(model.forward(x, { training: true }), targets, weights, loss), vars);
      const { grads: clipped, norm } = clipByGlobalNorm(vars.map((v) => grads[v.name]!), 12);
      opt.apply(clipped, 1e-3);
      await Promise.all([value.data(), vars[0]!.data()]);
      tf.dispose([value, norm, ...clipped, ...Object.values(grads)]);
    },
    dispose: () => (tf.dispose([x, ...targets]), opt.dispose(), model.dispose()),
  };
}

/** `mnxc predict`'s sliding window (Gaussian weighting, step 0.5) without mirroring, on a synthetic volume. */
function prepareSliding(c: CaseSpec): PreparedCase {
  const patch = c.patch!;
  const volume = c.volume!;
  const ir = compileCase(c, patch);
  const model = buildModel(ir, { seed: 0 });
  const n = volume[0] * volume[1] * volume[2];
  const data = new Float32Array(n * ir.input.channels);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001) + ((i * 2654435761) % 97) / 97;
  const importance = gaussianImportanceMap(patch);
  const predictor = modelWindowPredictor(model, patch, ir.input.channels, []);
  const windows = windowGrid(volume, patch, 0.5).length;
  return {
    flops: windows * summarize(ir).flops,
    info: { windows },
    warmUp: async () => {
      await predictor(new Float32Array(patch[0] * patch[1] * patch[2] * ir.input.channels));
    },
    run: async () => {
      await predictSlidingWindow({ data, channels: ir.input.channels, shape: volume }, [predictor], classesOf(ir), { patch, step: 0.5, importance });
    },
    dispose: () => model.dispose(),
  };
}

interface OpRow {
  f: (x: tf.Tensor, params: tf.Tensor[]) => tf.Tensor;
  params: tf.Tensor[];
  /** Forward FLOPs. */
  flops: number;
  input: number[];
}

function opRow(kind: string, s: number, c: number): OpRow {
  const v = s ** 3;
  const base = kind.replace(/_fwd_bwd$/, '');
  if (base === 'pointwise') {
    return { f: (x, [w, b]) => ops.conv3d(x, w!, 1, 0, b), params: [seeded([1, 1, 1, c, 2 * c], 2), seeded([2 * c], 3)], flops: 2 * v * c * 2 * c + v * 2 * c, input: [1, s, s, s, c] };
  }
  if (base === 'depthwise3') {
    return { f: (x, [w, b]) => ops.depthwiseConv3d(x, w!, 1, 1, b), params: [seeded([3, 3, 3, c, 1], 2), seeded([c], 3)], flops: 2 * 27 * v * c + v * c, input: [1, s, s, s, c] };
  }
  if (base === 'norm_gelu') {
    return { f: (x, [g, b]) => ops.gelu(ops.groupNorm(x, c, 1e-5, g, b)), params: [seeded([c], 2), seeded([c], 3)], flops: 2 * v * c, input: [1, s, s, s, c] };
  }
  if (base === 'up_depthwise3') {
    // MedNeXt's up block: ConvTranspose3d(C, C, 3, stride 2, padding 1, groups C), S/2 → S − 1.
    // FLOPs as summarize counts a transposed conv: k³ MACs per input voxel and channel.
    const h = s >> 1;
    return { f: (x, [w, b]) => ops.depthwiseConvTranspose3d(x, w!, 2, 1, b), params: [seeded([3, 3, 3, c, 1], 2), seeded([c], 3)], flops: 2 * 27 * h ** 3 * c + (2 * h - 1) ** 3 * c, input: [1, h, h, h, c] };
  }
  throw new Error(`unknown op case '${kind}'`);
}

function prepareOp(c: CaseSpec): PreparedCase {
  const { f, params, flops, input } = opRow(c.kind, c.size, c.channels ?? 32);
  const x = seeded(input, 1);
  const dispose = () => tf.dispose([x, ...params]);
  // Op rows read back a sum, not the whole result: copying 64 MB into JavaScript would be timed too.
  if (!c.kind.endsWith('_fwd_bwd')) return { flops, info: {}, run: () => readAll([tf.tidy(() => tf.sum(f(x, params)))]), dispose };
  // Gradient of Σ y·r for a fixed random r, so every output element has its own upstream gradient.
  const r = tf.tidy(() => seeded(f(x, params).shape, 4));
  const grad = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(args[0]!, args.slice(1)), r)));
  return { flops: 3 * flops, info: {}, run: () => readAll([tf.tidy(() => tf.addN(grad([x, ...params]).map((g) => tf.sum(g))))]), dispose: () => (dispose(), r.dispose()) };
}
