import * as tf from '@tensorflow/tfjs-core';
import type { IRModel, IRNode, IRParam } from '../../ir/types.js';
import { applyRewrites, PIPELINES, type PipelineName, type Rewrite } from '../../ir/rewrites/index.js';
import { verifyIR } from '../../ir/verify.js';
import { ops } from '../ops/index.js';
import { pointwiseInference } from '../kernels/fused-pointwise.js';
import { hasEpilogueKernels } from '../kernels/pointwise.js';
import { recordingGradients } from '../autodiff/backprop.js';
import { paramLayouts, runtimeShape, toRuntime, type ParamLayout } from '../weights/layout.js';
import { checkpointSegments, runCheckpointed } from './checkpoint.js';
import { createRng, initialValues } from './init.js';
import { bufferValues } from '../../ir/buffers.js';

export interface BuildOptions {
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

export interface ForwardOptions {
  /** Training forward pass (only changes how gradients are obtained, never the values). */
  training?: boolean;
  /**
   * Recompute each block's forward pass during backprop instead of keeping its intermediates
   * (the paper's `outside_block` checkpointing). Used only when `training` is set and the IR's
   * `hints.checkpointStyle` is `outside_block`.
   */
  checkpoint?: boolean;
  /**
   * Run the `inference_epilogues` pipeline (ir/rewrites/index.ts). Default: when there are no
   * gradients to take and the backend has the epilogue kernels; true forces it (the kernels'
   * fallbacks are op chains). Never while a gradient is recorded: the epilogue kernels have none.
   */
  epilogues?: boolean;
  /**
   * The rewrites to run the IR through instead of the pipeline chosen from `training` and
   * `epilogues` (tests; `[]` runs the IR as compiled). Rewrites that do not keep gradients are
   * refused when a gradient is taken.
   */
  rewrites?: readonly Rewrite[];
}

/**
 * A network built from the IR. Parameters are `tf.Variable`s keyed by their state_dict names
 * and held in the runtime layout (runtime/weights/layout.ts); activations are channels-last.
 */
export class MnxModel {
  readonly variables = new Map<string, tf.Variable>();
  readonly layouts: Map<string, ParamLayout>;
  private readonly paramsByName: Map<string, IRParam>;

  constructor(readonly ir: IRModel, options: BuildOptions = {}) {
    this.paramsByName = new Map(ir.parameters.map((p) => [p.name, p]));
    const problems = verifyIR(ir);
    if (problems.length > 0) throw new Error(`invalid IR: ${problems.slice(0, 10).join('; ')}`);
    this.layouts = paramLayouts(ir);
    const rng = createRng(options.seed ?? 0);
    for (const p of ir.parameters) {
      const layout = this.layouts.get(p.name)!;
      const host = toRuntime(layout, { shape: p.shape, data: initialValues(p, rng) });
      const value = tf.tensor(host.data, runtimeShape(layout, p.shape), 'float32');
      this.variables.set(p.name, tf.variable(value, p.trainable && p.role !== 'dummy', safeVariableName(p.name)));
      value.dispose();
    }
  }

  /** Variables an optimiser updates. */
  trainableVariables(): tf.Variable[] {
    return this.ir.parameters.filter((p) => p.trainable && p.role !== 'dummy').map((p) => this.variables.get(p.name)!);
  }

  /**
   * Runs the network on `input` ([N, D, H, W, C] for 3-D, [N, H, W, C] for 2-D) and returns
   * the outputs in IR output order (index 0, full resolution, first), channels-last.
   */
  forward(input: tf.Tensor, options: ForwardOptions = {}): tf.Tensor[] {
    const ir = this.ir;
    const rank = ir.spatialDims + 2;
    if (input.rank !== rank || input.shape[rank - 1] !== ir.input.channels) {
      throw new Error(`model ${ir.name}: input shape [${input.shape.join(', ')}] is not [N, ${ir.spatialDims === 3 ? 'D, H, W' : 'H, W'}, ${ir.input.channels}]`);
    }
    const checkpoint = !!(options.training && options.checkpoint && ir.hints.checkpointStyle === 'outside_block');
    // No gradient wanted: neither a training pass nor one inside a caller's tf.grads.
    const inference = !options.training && !recordingGradients();
    const rewrites = options.rewrites ?? PIPELINES[MnxModel.pipelineFor({ gradients: !inference, epilogues: inference && (options.epilogues ?? hasEpilogueKernels()) })];
    const forwardOnly = rewrites.filter((r) => !r.keepsGradients).map((r) => r.name);
    if (!inference && forwardOnly.length > 0) throw new Error(`rewrites ${forwardOnly.join(', ')} are for forward passes without gradients`);
    const plan = this.rewritten(rewrites);
    return tf.tidy(() => {
      const x5 = ir.spatialDims === 2 ? tf.expandDims(input, 1) : input;
      const values = new Map<string, tf.Tensor>();
      const run = (node: IRNode, inputs: tf.Tensor[]) => {
        const y = this.runNode(node, inputs, x5);
        // Every node owns its result (an op may hand back its input unchanged, e.g. a zero pad).
        return inputs.includes(y) ? tf.clone(y) : y;
      };
      if (checkpoint) {
        for (const seg of checkpointSegments(plan)) runCheckpointed(seg, values, (names) => names.map((n) => this.variables.get(n)!), run);
      } else {
        const lastUse = lastUses(plan.nodes);
        plan.nodes.forEach((node, i) => {
          values.set(node.id, run(node, node.inputs.map((id) => values.get(id)!)));
          // Free activations as soon as nothing later reads them (saved copies for backprop survive).
          for (const id of new Set(node.inputs)) {
            if (lastUse.get(id) === i && !ir.outputs.includes(id)) {
              values.get(id)!.dispose();
              values.delete(id);
            }
          }
        });
      }
      return ir.outputs.map((id) => {
        const y = values.get(id)!;
        return ir.spatialDims === 2 ? tf.squeeze(y, [1]) : y;
      });
    });
  }

  /** The name of a node's parameter with one of the given roles, if it has one. */
  paramName(node: IRNode, ...roles: IRParam['role'][]): string | undefined {
    return Object.values(node.params).find((name) => roles.includes(this.paramsByName.get(name)!.role));
  }

  /** The runtime-layout tensor of a node's parameter with one of the given roles, if it has one. */
  param(node: IRNode, ...roles: IRParam['role'][]): tf.Tensor | undefined {
    const name = this.paramName(node, ...roles);
    return name === undefined ? undefined : this.variables.get(name);
  }

  /** Executes one IR node (primitive or fused, ir/fused.ts) on 5-D channels-last tensors. */
  runNode(node: IRNode, inputs: tf.Tensor[], modelInput: tf.Tensor): tf.Tensor {
    const a = node.attrs;
    const dims = this.ir.spatialDims;
    const x = inputs[0]!;
    switch (node.op) {
      case 'input':
        return tf.clone(modelInput);
      case 'conv':
      case 'conv_transpose': {
        const wName = this.paramName(node, 'conv_weight', 'conv_transpose_weight');
        if (wName === undefined) throw new Error(`${node.id}: ${node.op} has no weight parameter`);
        const layout = this.layouts.get(wName)!;
        const w = typeof a.standardize === 'number' ? ops.standardizeFilter(this.variables.get(wName)!, a.standardize, layout.kind === 'plain' ? 'first' : 'last') : this.variables.get(wName)!;
        const depthwise = layout.kind !== 'plain' && layout.kind !== 'grn' && layout.depthwise;
        const b = this.param(node, 'bias');
        const stride = perAxis(a.stride, 1, dims, 1, `${node.id} stride`);
        const padding = perAxis(a.padding, 0, dims, 0, `${node.id} padding`);
        if (node.op === 'conv' && layout.kind === 'plain') return ops.groupedConv3d(x, w, num(a.groups, 1), stride, padding, b);
        if (node.op === 'conv') return depthwise ? ops.depthwiseConv3d(x, w, stride, padding, b) : ops.conv3d(x, w, stride, padding, b);
        return depthwise ? ops.depthwiseConvTranspose3d(x, w, stride, padding, b) : ops.convTranspose3d(x, w, stride, padding, b);
      }
      case 'pad':
        if (node.out.dims) return ops.padAxes(x, a.before as number[], a.after as number[]);
        return ops.pad(x, perAxis(a.before, 0, dims, 0, `${node.id} before`), perAxis(a.after, 0, dims, 0, `${node.id} after`));
      case 'avg_pool':
        return ops.avgPool(x, perAxis(a.stride, 1, dims, 1, `${node.id} stride`));
      case 'group_norm':
        return ops.groupNorm(x, num(a.groups, x.shape[4]!), num(a.eps, 1e-5), this.param(node, 'norm_weight'), this.param(node, 'norm_bias'));
      case 'layer_norm':
        return ops.layerNorm(x, num(a.eps, 1e-5), this.param(node, 'norm_weight'), this.param(node, 'norm_bias'));
      case 'gelu':
        return ops.gelu(x);
      case 'leaky_relu':
        if (typeof a.slope !== 'number') throw new Error(`${node.id}: leaky_relu needs a numeric 'slope' attribute`);
        return ops.leakyRelu(x, a.slope);
      case 'relu':
        return ops.relu(x);
      case 'grn': {
        const gamma = this.param(node, 'grn_gamma');
        const beta = this.param(node, 'grn_beta');
        if (!gamma || !beta) throw new Error(`${node.id}: grn needs grn_gamma and grn_beta parameters`);
        return ops.grn(x, gamma, beta, num(a.eps, 1e-6));
      }
      case 'add':
        return ops.add(inputs);
      case 'concat':
        return typeof a.axis === 'number' ? ops.concatAxis(inputs, a.axis) : ops.concat(inputs);
      case 'output':
        return tf.clone(x);
      case 'fused_pointwise':
        return this.runFusedPointwise(node, inputs);
      case 'fused_norm_gelu_pointwise':
        return this.runNormGeluPointwise(node, x);
      case 'channels_last':
        return ops.channelsLast(x, node.out.dims ?? []);
      case 'feature_map':
        return ops.featureMap(x, node.out.spatial ?? [], node.out.channels);
      case 'reshape':
        return ops.reshape(x, node.out.dims ?? []);
      case 'permute':
        return ops.permute(x, a.axes as number[]);
      case 'slice':
        return ops.slice(x, a.axis as number, a.start as number, a.end as number, a.step as number);
      case 'roll':
        return ops.roll(x, a.shifts as number[], a.axes as number[]);
      case 'linear':
        return ops.linear(x, this.param(node, 'linear_weight')!, this.param(node, 'bias'));
      case 'matmul':
        return ops.matmul(x, inputs[1]!, a.transpose_b === true);
      case 'softmax':
        return ops.softmax(x, a.axis as number);
      case 'scale':
        return ops.scale(x, a.factor as number);
      case 'binary':
        return ops.binary(x, inputs[1]!, a.fn as string);
      case 'parameter':
        return ops.parameter(this.param(node, 'free', 'buffer')!, node.out.dims ?? []);
      case 'buffer':
        return this.buffer(node);
      case 'gather':
        return ops.gather(x, inputs[1]!);
      case 'mean':
        return ops.mean(x, a.axis as number, a.keepdim === true);
      case 'max_pool':
        return ops.maxPool(x, perAxis(a.kernel, 1, dims, 1, `${node.id} kernel`), perAxis(a.stride, 1, dims, 1, `${node.id} stride`), perAxis(a.padding, 0, dims, 0, `${node.id} padding`));
      case 'upsample':
        return ops.upsampleBilinear(x, num(a.scale, 2), a.align_corners === true);
      case 'batch_norm':
        return ops.batchNorm(x, this.variables.get(node.params.running_mean!)!, this.variables.get(node.params.running_var!)!, num(a.eps, 1e-5), this.param(node, 'norm_weight'), this.param(node, 'norm_bias'));
    }
  }

  private readonly buffers = new Map<string, tf.Tensor>();

  /** A compile-time constant (attrs.recipe), computed once per model, as a batch-1 tensor. */
  private buffer(node: IRNode): tf.Tensor {
    const name = this.paramName(node, 'buffer');
    if (name !== undefined) return ops.parameter(this.variables.get(name)!, node.out.dims ?? []);
    let t = this.buffers.get(node.id);
    if (!t) {
      const v = bufferValues(node.attrs);
      t = tf.keep(tf.tensor(v.data, [1, ...v.shape], 'float32'));
      this.buffers.set(node.id, t);
    }
    return tf.clone(t);
  }

  private readonly plans = new Map<string, IRModel>();

  /**
   * The IR as it runs: `rewrites` (ir/rewrites/) applied to this model's IR, cached by their
   * names. The rewrites replace chains of ops with fused ones computing the same values
   * (GroupNorm or GELU folded into a 1×1×1 convolution, a MedNeXt block's tail as one op, GELU
   * or a residual sum as a product's epilogue, biases a per-channel GroupNorm cancels dropped);
   * the parameters stay as they are.
   */
  rewritten(rewrites: readonly Rewrite[]): IRModel {
    const key = rewrites.map((r) => r.name).join(',');
    const cached = this.plans.get(key);
    if (cached) return cached;
    const ir = applyRewrites(this.ir, rewrites);
    const problems = verifyIR(ir);
    if (problems.length > 0) throw new Error(`rewrites ${key} gave invalid IR: ${problems.slice(0, 10).join('; ')}`);
    this.plans.set(key, ir);
    return ir;
  }

  /**
   * The pipeline a forward pass runs: `training` when gradients are taken; without, on a backend
   * with product-with-epilogue kernels (or when asked), `inference_epilogues`, else `inference`.
   */
  static pipelineFor({ gradients, epilogues }: { gradients: boolean; epilogues: boolean }): PipelineName {
    return gradients ? 'training' : epilogues ? 'inference_epilogues' : 'inference';
  }

  /** The parameter a fused node took over from its part `part` (ir/fused.ts), by role. */
  private partParam(node: IRNode, part: string, ...roles: IRParam['role'][]): tf.Tensor | undefined {
    const name = Object.entries(node.params).find(([k, v]) => k.startsWith(`${part}.`) && roles.includes(this.paramsByName.get(v)!.role))?.[1];
    return name === undefined ? undefined : this.variables.get(name);
  }

  /** A fused node's 1×1×1 conv (part `part`) as a [Cin, Cout] matrix and its bias (zeros where it has none). */
  private pointwiseParams(node: IRNode, part: string): [tf.Tensor2D, tf.Tensor] {
    const w = this.partParam(node, part, 'conv_weight')!;
    return [tf.reshape(w, [w.shape[3]!, w.shape[4]!]) as tf.Tensor2D, this.partParam(node, part, 'bias') ?? tf.zeros([w.shape[4]!])];
  }

  /** A fused node's GroupNorm (part `norm`). */
  private fusedNorm(node: IRNode, x: tf.Tensor): { groups: number; eps: number; gamma?: tf.Tensor; beta?: tf.Tensor } {
    return {
      groups: num(node.attrs.norm_groups, x.shape[x.rank - 1]!),
      eps: num(node.attrs.norm_eps, 1e-5),
      gamma: this.partParam(node, 'norm', 'norm_weight'),
      beta: this.partParam(node, 'norm', 'norm_bias'),
    };
  }

  /**
   * Runs a `fused_pointwise` node: with a prologue only, `normPointwise` / `geluPointwise` (with
   * gradients); with an epilogue, `pointwiseInference` (forward only).
   */
  private runFusedPointwise(node: IRNode, inputs: tf.Tensor[]): tf.Tensor {
    const [w, b] = this.pointwiseParams(node, 'conv');
    const x = inputs[0]!;
    const prologue = node.attrs.prologue;
    const epilogue = node.attrs.epilogue;
    if (epilogue === 'none') {
      if (prologue === 'gelu') return ops.geluPointwise(x, w, b);
      const n = this.fusedNorm(node, x);
      return ops.normPointwise(x, n.groups, n.eps, n.gamma, n.beta, w, b);
    }
    const norm = prologue === 'group_norm' ? this.fusedNorm(node, x) : undefined;
    const residual = epilogue === 'add' ? inputs[1]! : undefined;
    // A sum that broadcasts is not a residual the product can take: add it separately.
    if (residual && !tf.util.arraysEqual(residual.shape, [...x.shape.slice(0, -1), w.shape[1]])) {
      return tf.tidy(() => ops.add([pointwiseInference(x, w, b, { norm }), residual]));
    }
    return pointwiseInference(x, w, b, { norm, gelu: epilogue === 'gelu', residual });
  }

  /** Runs a `fused_norm_gelu_pointwise` node (a block's GroupNorm → conv2 → GELU → conv3) as one op. */
  private runNormGeluPointwise(node: IRNode, x: tf.Tensor): tf.Tensor {
    const n = this.fusedNorm(node, x);
    const [w2, b2] = this.pointwiseParams(node, 'conv2');
    const [w3, b3] = this.pointwiseParams(node, 'conv3');
    return ops.normGeluPointwise(x, n.groups, n.eps, n.gamma, n.beta, w2, b2, w3, b3);
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
    for (const t of this.buffers.values()) t.dispose();
    this.buffers.clear();
  }
}

/** Builds a model with freshly initialised (seeded) parameters. */
export function buildModel(ir: IRModel, options: BuildOptions = {}): MnxModel {
  return new MnxModel(ir, options);
}

/** Index of the last node that reads each tensor. */
function lastUses(nodes: IRNode[]): Map<string, number> {
  const last = new Map<string, number>();
  nodes.forEach((n, i) => n.inputs.forEach((id) => last.set(id, i)));
  return last;
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' ? v : fallback;
}

/** An attribute as three per-axis values; 2-D values get the lifted depth axis (`lifted`). */
function perAxis(v: unknown, fallback: number, dims: 2 | 3, lifted: number, what: string): number[] {
  const arr = v === undefined ? new Array<number>(dims).fill(fallback) : typeof v === 'number' ? new Array<number>(dims).fill(v) : v;
  if (!Array.isArray(arr) || arr.length !== dims || !arr.every((e) => typeof e === 'number')) {
    throw new Error(`${what}: expected a number or ${dims} numbers, got ${JSON.stringify(v)}`);
  }
  return dims === 2 ? [lifted, ...(arr as number[])] : (arr as number[]);
}

/** TF.js variable names must be unique per engine; prefix a counter so two models can coexist. */
let modelCounter = 0;
function safeVariableName(name: string): string {
  return `mnx${modelCounter++}/${name}`;
}
