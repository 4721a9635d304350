import type { IRModel, IRNode } from '../types.js';
import { Graph, type Rewrite } from './rewrite.js';

/**
 * `drop_cancelled_bias`: a convolution (or transposed convolution) with a bias, whose only reader
 * is a GroupNorm with one channel per group, loses its bias (the parameter stays in the list,
 * unused by the node; `attrs.bias` becomes false).
 *
 * Why the values stay the same: such a GroupNorm subtracts each channel's mean over the voxels of
 * a sample, so a per-channel constant added before it shifts the mean by that constant and
 * changes neither the centred values nor the variance. Equal up to float32 rounding (the centred
 * values are computed from other operands: ~1e-7 relative to the bias's size). MedNeXt's
 * depthwise conv1 → norm in every block is this pattern; skipping the bias saves a full pass
 * over the activation.
 *
 * Left alone: a norm whose groups span several channels (a per-channel bias moves the group's
 * channels apart), a conv read by anything else too or that is a model output, a conv without bias.
 * Forward only: the dropped bias gets no gradient (PyTorch's is zero up to rounding, and training
 * keeps it so every parameter is updated as there).
 */
export const dropCancelledBias: Rewrite = {
  name: 'drop_cancelled_bias',
  keepsGradients: false,
  apply(ir: IRModel): IRModel {
    const g = new Graph(ir);
    const nodes = ir.nodes.map((n): IRNode => {
      if (n.op !== 'conv' && n.op !== 'conv_transpose') return n;
      const key = g.paramKey(n, 'bias');
      const reader = g.soleReader(n.id);
      if (key === undefined || reader?.op !== 'group_norm' || reader.attrs.groups !== n.out.channels) return n;
      const params = { ...n.params };
      delete params[key];
      return { ...n, params, attrs: { ...n.attrs, bias: false } };
    });
    return { ...ir, nodes };
  },
};
