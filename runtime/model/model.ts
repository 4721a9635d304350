import * as tf from '@tensorflow/tfjs-core';
import type { IRModel, IRNode, IRParam } from '../../compiler/ir/types.js';
import { ops } from '../ops/index.js';
import { pointwiseInference } from '../kernels/fused-pointwise.js';
import { hasEpilogueKernels } from '../kernels/pointwise.js';
import { recordingGradients } from '../autodiff/backprop.js';
import { paramLayouts, runtimeShape, toRuntime, type ParamLayout } from '../weights/layout.js';
import { checkpointSegments, runCheckpointed } from './checkpoint.js';
import { createRng, initialValues } from './init.js';
import { bufferValues } from '../../compiler/ir/buffers.js';

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
   * Run the plan with epilogues (`executionPlan`). Default: when there are no gradients to take
   * and the backend has the epilogue kernels; true forces it (the kernels' fallbacks are op
   * chains). Never while a gradient is recorded: the epilogue kernels have none.
   */
  epilogues?: boolean;
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
    checkNodes(ir, this.paramsByName);
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
    return tf.tidy(() => {
      const x5 = ir.spatialDims === 2 ? tf.expandDims(input, 1) : input;
      const values = new Map<string, tf.Tensor>();
      // Without gradients, and where the backend runs products with an epilogue as one kernel,
      // GELU and residual sums ride on the 1×1×1 convolutions (same values, fewer passes).
      // No gradient wanted: neither a training pass nor one inside a caller's tf.grads.
      const inference = !options.training && !recordingGradients();
      const plan = this.executionPlan({ epilogues: inference && (options.epilogues ?? hasEpilogueKernels()) });
      const run = (node: IRNode, inputs: tf.Tensor[]) => {
        const epilogue = plan.epilogueOf.get(node.id);
        if (epilogue) return this.runEpilogue(epilogue, inputs);
        const tail = plan.tailOf.get(node.id);
        if (tail) return this.runTail(tail, inputs[0]!);
        const producer = plan.producerOf.get(node.id);
        // Without gradients, a bias that the next GroupNorm cancels is not added at all.
        const skipBias = inference && plan.cancelledBias.has(node.id);
        const y = producer ? this.runFused(producer, node, inputs[0]!) : this.runNode(node, inputs, x5, { skipBias });
        // Every node owns its result (an op may hand back its input unchanged, e.g. a zero pad).
        return inputs.includes(y) ? tf.clone(y) : y;
      };
      if (checkpoint) {
        for (const seg of checkpointSegments({ ...ir, nodes: plan.nodes })) runCheckpointed(seg, values, (names) => names.map((n) => this.variables.get(n)!), run);
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

  /**
   * Executes one IR node on 5-D channels-last tensors. `skipBias` leaves out a convolution's
   * bias (for one the plan found cancelled by the GroupNorm reading it).
   */
  runNode(node: IRNode, inputs: tf.Tensor[], modelInput: tf.Tensor, { skipBias = false } = {}): tf.Tensor {
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
        const b = skipBias ? undefined : this.param(node, 'bias');
        const stride = perAxis(a.stride, 1, dims, 1, `${node.id} stride`);
        const padding = perAxis(a.padding, 0, dims, 0, `${node.id} padding`);
        if (node.op === 'conv' && layout.kind === 'plain') return ops.groupedConv3d(x, w, num(a.groups, 1), stride, padding, b);
        if (node.op === 'conv') return depthwise ? ops.depthwiseConv3d(x, w, stride, padding, b) : ops.conv3d(x, w, stride, padding, b);
        return depthwise ? ops.depthwiseConvTranspose3d(x, w, stride, padding, b) : ops.convTranspose3d(x, w, stride, padding, b);
      }
      case 'pad':
        if (node.out.dims) return ops.padAxes(x, a.before as number[], a.after as number[]);
        return ops.pad(x, perAxis(a.before, 0, dims, 0, `${node.id} before`), perAxis(a.after, 0, dims, 0, `${node.id} after`));
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

  private readonly plans = new Map<boolean, ExecutionPlan>();

  /**
   * The nodes as they run. GroupNorm or GELU is fused into the 1×1×1 convolution that is its
   * only reader (runtime/kernels/fused-pointwise.ts): the same values, less memory kept for
   * backprop. A fused convolution appears with its producer's inputs; the producer is gone.
   * Without `epilogues`, a whole GroupNorm → conv → GELU → conv chain (a MedNeXt block's tail)
   * is one op (`normGeluPointwise`), which keeps no expanded activation for backprop.
   *
   * With `epilogues` (forward passes without gradients), a 1×1×1 convolution whose only reader
   * is a GELU or a two-input sum takes that reader's place instead, computing it as the
   * product's epilogue (`pointwiseInference`); a GroupNorm before it is still folded in. In a
   * MedNeXt block: norm → conv2 → GELU is one node, conv3 + residual another.
   *
   * Both plans list the convolutions whose bias cancels: read only by a GroupNorm with one
   * channel per group, which subtracts each channel's mean over the voxels, so a per-channel
   * constant added before it changes nothing (MedNeXt's depthwise conv1 → norm). The forward
   * pass without gradients skips those additions (a full pass over the activation each);
   * training keeps them, so every parameter still gets its gradient (zero up to rounding, as
   * in PyTorch).
   */
  executionPlan({ epilogues = false }: { epilogues?: boolean } = {}): ExecutionPlan {
    const cached = this.plans.get(epilogues);
    if (cached) return cached;
    const ir = this.ir;
    const readers = new Map<string, IRNode[]>();
    for (const n of ir.nodes) for (const id of n.inputs) readers.set(id, [...(readers.get(id) ?? []), n]);
    /** The one node reading `id`, if exactly one does and `id` is not a model output. */
    const soleReader = (id: string) => {
      const r = readers.get(id);
      return r?.length === 1 && !ir.outputs.includes(id) ? r[0] : undefined;
    };
    const byId = new Map(ir.nodes.map((n) => [n.id, n]));
    const producerOf = new Map<string, IRNode>();
    const epilogueOf = new Map<string, Epilogue>();
    const gone = new Set<string>();
    /** A fused node: `conv`'s parameters and those of the nodes folded in (prefixed by their ids). */
    const fusedNode = (conv: IRNode, id: string, inputs: string[], folded: IRNode[]): IRNode => {
      // Checkpointed segments differentiate with respect to every parameter their nodes list.
      const params = Object.fromEntries(folded.flatMap((p) => Object.entries(p.params).map(([k, v]) => [`${p.id}:${k}`, v])));
      return { ...conv, id, inputs, params: { ...params, ...conv.params } };
    };
    const replaced = new Map<string, IRNode>();
    // With gradients: GroupNorm → conv2 → GELU → conv3, each the next one's only input, as one op.
    const tailOf = new Map<string, Tail>();
    if (!epilogues) {
      for (const conv3 of ir.nodes) {
        if (conv3.inputs.length !== 1 || !this.isPointwiseConv(conv3)) continue;
        const gelu = byId.get(conv3.inputs[0]!)!;
        const conv2 = gelu.op === 'gelu' && soleReader(gelu.id) === conv3 ? byId.get(gelu.inputs[0]!)! : undefined;
        if (!conv2 || conv2.inputs.length !== 1 || !this.isPointwiseConv(conv2) || soleReader(conv2.id) !== gelu) continue;
        const norm = byId.get(conv2.inputs[0]!)!;
        if (norm.op !== 'group_norm' || soleReader(norm.id) !== conv2) continue;
        tailOf.set(conv3.id, { norm, conv2, gelu, conv3 });
        replaced.set(conv3.id, fusedNode(conv3, conv3.id, norm.inputs, [norm, conv2, gelu]));
        for (const id of [norm.id, conv2.id, gelu.id]) gone.add(id);
      }
    }
    for (const conv of ir.nodes) {
      if (conv.inputs.length !== 1 || !this.isPointwiseConv(conv) || gone.has(conv.id) || tailOf.has(conv.id)) continue;
      const p = byId.get(conv.inputs[0]!)!;
      const norm = p.op === 'group_norm' && soleReader(p.id) === conv ? p : undefined;
      const next = epilogues ? soleReader(conv.id) : undefined;
      if (next && (next.op === 'gelu' || (next.op === 'add' && next.inputs.length === 2 && next.inputs[0] !== next.inputs[1]))) {
        const residual = next.op === 'add' ? next.inputs.find((id) => id !== conv.id) : undefined;
        const e: Epilogue = { conv, norm, gelu: next.op === 'gelu' ? next : undefined, add: next.op === 'add' ? next : undefined };
        epilogueOf.set(next.id, e);
        replaced.set(next.id, fusedNode(conv, next.id, [...(norm ?? conv).inputs, ...(residual ? [residual] : [])], norm ? [norm, next] : [next]));
        gone.add(conv.id);
        if (norm) gone.add(norm.id);
      } else if (norm || (p.op === 'gelu' && soleReader(p.id) === conv && !epilogueOf.has(p.id))) {
        producerOf.set(conv.id, p);
        replaced.set(conv.id, fusedNode(conv, conv.id, p.inputs, [p]));
        gone.add(p.id);
      }
    }
    const nodes = ir.nodes.filter((n) => !gone.has(n.id)).map((n) => replaced.get(n.id) ?? n);
    const cancelledBias = new Set<string>();
    for (const node of ir.nodes) {
      if ((node.op !== 'conv' && node.op !== 'conv_transpose') || this.param(node, 'bias') === undefined) continue;
      const reader = soleReader(node.id);
      if (reader?.op === 'group_norm' && num(reader.attrs.groups, -1) === node.out.channels) cancelledBias.add(node.id);
    }
    const plan = { nodes, producerOf, epilogueOf, tailOf, cancelledBias };
    this.plans.set(epilogues, plan);
    return plan;
  }

  /** A dense convolution with a 1×1×1 kernel, stride 1 and no padding. */
  private isPointwiseConv(node: IRNode): boolean {
    if (node.op !== 'conv' || node.attrs.standardize !== undefined) return false;
    const wName = this.paramName(node, 'conv_weight');
    const layout = wName === undefined ? undefined : this.layouts.get(wName);
    if (!layout || layout.kind !== 'conv' || layout.depthwise) return false;
    const w = this.variables.get(wName!)!;
    const ones = (v: unknown, one: number) => v === undefined || v === one || (Array.isArray(v) && v.every((e) => e === one));
    return w.rank === 5 && w.shape[0] === 1 && w.shape[1] === 1 && w.shape[2] === 1 && ones(node.attrs.stride, 1) && ones(node.attrs.padding, 0);
  }

  /** Runs `producer` (GroupNorm or GELU) and the 1×1×1 convolution `conv` reading it as one op. */
  private runFused(producer: IRNode, conv: IRNode, x: tf.Tensor): tf.Tensor {
    const [w2, b] = this.pointwiseParams(conv);
    if (producer.op === 'gelu') return ops.geluPointwise(x, w2, b);
    const a = producer.attrs;
    return ops.normPointwise(x, num(a.groups, x.shape[4]!), num(a.eps, 1e-5), this.param(producer, 'norm_weight'), this.param(producer, 'norm_bias'), w2, b);
  }

  /** A 1×1×1 conv's weight as a [Cin, Cout] matrix and its bias (zeros where it has none). */
  private pointwiseParams(conv: IRNode): [tf.Tensor2D, tf.Tensor] {
    const w = this.param(conv, 'conv_weight')!;
    return [tf.reshape(w, [w.shape[3]!, w.shape[4]!]) as tf.Tensor2D, this.param(conv, 'bias') ?? tf.zeros([w.shape[4]!])];
  }

  /** Runs a block's GroupNorm → conv2 → GELU → conv3 as one op (`executionPlan`). */
  private runTail(t: Tail, x: tf.Tensor): tf.Tensor {
    const a = t.norm.attrs;
    const [w2, b2] = this.pointwiseParams(t.conv2);
    const [w3, b3] = this.pointwiseParams(t.conv3);
    return ops.normGeluPointwise(x, num(a.groups, x.shape[x.rank - 1]!), num(a.eps, 1e-5), this.param(t.norm, 'norm_weight'), this.param(t.norm, 'norm_bias'), w2, b2, w3, b3);
  }

  /** Runs a 1×1×1 convolution with what the inference plan fused into it (`executionPlan`). */
  private runEpilogue(e: Epilogue, inputs: tf.Tensor[]): tf.Tensor {
    const [w2, b] = this.pointwiseParams(e.conv);
    const x = inputs[0]!;
    const norm = e.norm && {
      groups: num(e.norm.attrs.groups, x.shape[x.rank - 1]!),
      eps: num(e.norm.attrs.eps, 1e-5),
      gamma: this.param(e.norm, 'norm_weight'),
      beta: this.param(e.norm, 'norm_bias'),
    };
    const residual = e.add ? inputs[1]! : undefined;
    const outShape = [...x.shape.slice(0, -1), w2.shape[1]];
    // A sum that broadcasts is not a residual the product can take: add it separately.
    if (residual && !tf.util.arraysEqual(residual.shape, outShape)) {
      return tf.tidy(() => ops.add(e.add!.inputs[0] === e.conv.id ? [pointwiseInference(x, w2, b, { norm }), residual] : [residual, pointwiseInference(x, w2, b, { norm })]));
    }
    return pointwiseInference(x, w2, b, { norm, gelu: !!e.gelu, residual });
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

/** A 1×1×1 conv with a GroupNorm folded in before and a GELU or a two-input sum after. */
export interface Epilogue {
  conv: IRNode;
  norm?: IRNode;
  gelu?: IRNode;
  add?: IRNode;
}

/** A MedNeXt block's pointwise tail: GroupNorm → conv2 → GELU → conv3. */
export interface Tail {
  norm: IRNode;
  conv2: IRNode;
  gelu: IRNode;
  conv3: IRNode;
}

/** What `MnxModel.executionPlan` returns. */
export interface ExecutionPlan {
  /** The nodes to run, in order. */
  nodes: IRNode[];
  /** Each fused 1×1×1 conv's producer (GroupNorm or GELU). */
  producerOf: Map<string, IRNode>;
  /** Nodes run as a 1×1×1 conv with an epilogue, by the id of the node the conv replaces. */
  epilogueOf: Map<string, Epilogue>;
  /** Block tails run as one op (the plan with gradients), by conv3's id. */
  tailOf: Map<string, Tail>;
  /** Convolutions whose bias the GroupNorm reading them cancels. */
  cancelledBias: Set<string>;
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

/** Refuses IR this runtime cannot execute, naming the node. */
function checkNodes(ir: IRModel, params: Map<string, IRParam>): void {
  const known = new Set<string>();
  for (const node of ir.nodes) {
    for (const id of node.inputs) {
      if (!known.has(id)) throw new Error(`IR node ${node.id} reads ${id}, which no earlier node produces`);
    }
    for (const name of Object.values(node.params)) {
      if (!params.has(name)) throw new Error(`IR node ${node.id} uses parameter ${name}, which is not in the parameter list`);
    }
    known.add(node.id);
  }
  for (const id of ir.outputs) if (!known.has(id)) throw new Error(`IR output ${id} is not produced by any node`);
}
