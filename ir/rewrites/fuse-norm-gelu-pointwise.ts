import type { IRModel, IRNode } from '../types.js';
import { fusedNode, Graph, normAttrs, replaceNodes, type Rewrite } from './rewrite.js';

const NAME = 'fuse_norm_gelu_pointwise';

/**
 * `fuse_norm_gelu_pointwise`: GroupNorm → 1×1×1 conv → GELU → 1×1×1 conv, each read only by the
 * next (a MedNeXt block's tail: norm → conv2 → act → conv3), becomes one
 * `fused_norm_gelu_pointwise` node, run by `normGeluPointwise` (runtime/kernels/fused-pointwise.ts).
 *
 * Why the values stay the same: the kernel computes the same four ops per sample, with the norm
 * folded into conv2's weights as in `fuse_pointwise_prologue` (float32 reordering only, ~1e-6
 * relative). It keeps no expanded (exp_r × channels) activation for backprop, recomputing it
 * there, so this is the training plan's main memory saving; gradients are the same.
 *
 * Left alone: any link of the chain read by another node or being a model output, convolutions
 * that are not 1×1×1 (stride 1, no padding, one group), a LayerNorm in place of the GroupNorm.
 */
export const fuseNormGeluPointwise: Rewrite = {
  name: NAME,
  keepsGradients: true,
  apply(ir: IRModel): IRModel {
    const g = new Graph(ir);
    const fused = new Map<string, IRNode>();
    const gone = new Set<string>();
    for (const conv3 of ir.nodes) {
      if (!g.isPointwiseConv(conv3)) continue;
      const gelu = g.producer(conv3)!;
      if (gelu.op !== 'gelu' || g.soleReader(gelu.id) !== conv3) continue;
      const conv2 = g.producer(gelu);
      if (!conv2 || !g.isPointwiseConv(conv2) || g.soleReader(conv2.id) !== gelu) continue;
      const norm = g.producer(conv2)!;
      if (norm.op !== 'group_norm' || g.soleReader(norm.id) !== conv2) continue;
      const chain = [norm, conv2, gelu, conv3];
      fused.set(conv3.id, fusedNode(NAME, 'fused_norm_gelu_pointwise', chain, { norm, conv2, conv3 }, norm.inputs, normAttrs(norm), conv3));
      for (const n of [norm, conv2, gelu]) gone.add(n.id);
    }
    return replaceNodes(ir, fused, gone);
  },
};
