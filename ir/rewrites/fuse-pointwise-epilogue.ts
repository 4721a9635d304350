import type { IRModel, IRNode } from '../types.js';
import { fusedNode, Graph, normAttrs, replaceNodes, type Rewrite } from './rewrite.js';

const NAME = 'fuse_pointwise_epilogue';

/**
 * `fuse_pointwise_epilogue`: a 1×1×1 convolution whose only reader is a GELU, or a sum of it and
 * one other tensor, becomes with that reader one `fused_pointwise` node (epilogue 'gelu' or
 * 'add'); a GroupNorm that only the convolution reads is folded in as its prologue. Run by
 * `pointwiseInference` (runtime/kernels/fused-pointwise.ts), one product-with-epilogue kernel per
 * sample where the backend has it (tensorflow's oneDNN MatMul + BiasAdd + GELU / Add), else the
 * same ops as a chain. In a MedNeXt block: norm → conv2 → GELU is one node, conv3 + residual
 * another.
 *
 * Why the values stay the same: the epilogue applies the same GELU (exact erf) or sum to each
 * product element before it is stored; oneDNN's GELU and the norm fold reorder float32 roundings
 * (~1e-6 relative). A residual whose shape differs from the product's (a broadcasting sum) is
 * added after the product by the runtime, as the original add did.
 *
 * Left alone: a convolution that is not 1×1×1 (stride 1, no padding, one group), or whose result
 * is read by more than one node or is a model output; a sum of three or more inputs, or of a
 * tensor with itself; a reader already claimed by another convolution (two 1×1×1 convs feeding
 * one sum: the first takes it). Forward only: the epilogue kernels have no gradient.
 */
export const fusePointwiseEpilogue: Rewrite = {
  name: NAME,
  keepsGradients: false,
  apply(ir: IRModel): IRModel {
    const g = new Graph(ir);
    const fused = new Map<string, IRNode>();
    const gone = new Set<string>();
    for (const conv of ir.nodes) {
      if (!g.isPointwiseConv(conv)) continue;
      const next = g.soleReader(conv.id);
      if (!next || fused.has(next.id)) continue;
      const sum = next.op === 'add' && next.inputs.length === 2 && next.inputs[0] !== next.inputs[1];
      if (next.op !== 'gelu' && !sum) continue;
      const p = g.producer(conv)!;
      const norm = p.op === 'group_norm' && g.soleReader(p.id) === conv ? p : undefined;
      const residual = sum ? next.inputs.filter((id) => id !== conv.id) : [];
      const attrs = { prologue: norm ? 'group_norm' : 'none', epilogue: sum ? 'add' : 'gelu', ...(norm ? normAttrs(norm) : {}) };
      const chain = norm ? [norm, conv, next] : [conv, next];
      fused.set(next.id, fusedNode(NAME, 'fused_pointwise', chain, norm ? { norm, conv } : { conv }, [...(norm ?? conv).inputs, ...residual], attrs, conv));
      gone.add(conv.id);
      if (norm) gone.add(norm.id);
    }
    return replaceNodes(ir, fused, gone);
  },
};
