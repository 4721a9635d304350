import type { IRModel, IRNode } from '../types.js';
import { fusedNode, Graph, normAttrs, replaceNodes, type Rewrite } from './rewrite.js';

const NAME = 'fuse_pointwise_prologue';

/**
 * `fuse_pointwise_prologue`: a GroupNorm or a GELU whose only reader is a 1×1×1 convolution
 * becomes, with that convolution, one `fused_pointwise` node (prologue 'group_norm' or 'gelu',
 * epilogue 'none'), run by `normPointwise` / `geluPointwise` (runtime/kernels/fused-pointwise.ts).
 *
 * Why the values stay the same: the kernels compute the same two ops; `normPointwise` folds the
 * norm's per-sample scale into the product's weights (x̂·γ then W equals x̂ times γ-scaled W),
 * which reorders float32 roundings only (~1e-6 relative). Both keep less for backprop than the
 * two ops (the normalised or GELU'd activation is recomputed, not stored), so the rewrite is for
 * training too.
 *
 * Left alone: a norm or GELU read by anything else too or that is a model output; a
 * convolution that is not 1×1×1 with stride 1, no padding and one group; nodes already fused.
 */
export const fusePointwisePrologue: Rewrite = {
  name: NAME,
  keepsGradients: true,
  apply(ir: IRModel): IRModel {
    const g = new Graph(ir);
    const fused = new Map<string, IRNode>();
    const gone = new Set<string>();
    for (const conv of ir.nodes) {
      if (!g.isPointwiseConv(conv)) continue;
      const p = g.producer(conv)!;
      if ((p.op !== 'group_norm' && p.op !== 'gelu') || g.soleReader(p.id) !== conv) continue;
      const attrs = { prologue: p.op, epilogue: 'none', ...(p.op === 'group_norm' ? normAttrs(p) : {}) };
      const parts: Record<string, IRNode> = p.op === 'group_norm' ? { norm: p, conv } : { conv };
      fused.set(conv.id, fusedNode(NAME, 'fused_pointwise', [p, conv], parts, p.inputs, attrs, conv));
      gone.add(p.id);
    }
    return replaceNodes(ir, fused, gone);
  },
};
