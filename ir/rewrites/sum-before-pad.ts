import type { IRModel, IRNode } from '../types.js';
import { Graph, type Rewrite } from './rewrite.js';

const NAME = 'sum_before_pad';

/**
 * `sum_before_pad`: a two-input sum of two zero pads with the same `before` and `after`, each pad
 * read only by the sum, becomes the sum of the pads' inputs followed by one pad. The sum takes the
 * first pad's id, the pad the sum's id (what reads the sum reads the pad), so no new id appears.
 * In MedNeXt's up block, pad(conv3) + pad(res_conv) becomes pad(conv3 + res_conv): one pad and
 * the sum on the smaller volume instead of two pads and the sum on the padded one, and conv3's
 * only reader is now the sum, so `fuse_pointwise_epilogue` puts the residual sum on conv3's product.
 *
 * Why the values stay the same: exactly, element for element — the padded planes are 0 + 0 and
 * every other element is the same sum of the same two values. The gradient is the same function.
 *
 * Left alone: pads with different widths or inputs of different shapes (a broadcasting sum), a
 * pad read by anything else too or that is a model output, a sum of three or more inputs or of a
 * tensor with itself, general (non-feature-map) tensors.
 */
export const sumBeforePad: Rewrite = {
  name: NAME,
  keepsGradients: true,
  apply(ir: IRModel): IRModel {
    const g = new Graph(ir);
    const replaced = new Map<string, IRNode[]>();
    const gone = new Set<string>();
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    for (const sum of ir.nodes) {
      if (sum.op !== 'add' || sum.inputs.length !== 2 || sum.inputs[0] === sum.inputs[1] || sum.out.dims) continue;
      const pads = sum.inputs.map((id) => g.byId.get(id));
      if (!pads.every((p) => p?.op === 'pad' && p.inputs.length === 1 && g.soleReader(p.id) === sum)) continue;
      const [a, b] = pads as [IRNode, IRNode];
      if (!same(a.attrs.before, b.attrs.before) || !same(a.attrs.after, b.attrs.after)) continue;
      const [ia, ib] = [g.byId.get(a.inputs[0]!), g.byId.get(b.inputs[0]!)];
      if (!ia || !ib || ia.out.dims || ib.out.dims || !same(ia.out, ib.out) || gone.has(a.id) || gone.has(b.id)) continue;
      const what = { what: `rewrite ${NAME}: ${a.op} ${a.id} + ${b.op} ${b.id} → pad(${ia.id} + ${ib.id})`, span: sum.span };
      const inner: IRNode = { ...sum, id: a.id, inputs: [ia.id, ib.id], out: { ...ia.out }, origin: [...sum.origin, what] };
      const pad: IRNode = { ...a, id: sum.id, inputs: [a.id], out: sum.out, block: sum.block, stage: sum.stage, origin: [...a.origin, what] };
      replaced.set(sum.id, [inner, pad]);
      gone.add(a.id);
      gone.add(b.id);
    }
    if (replaced.size === 0) return ir;
    return { ...ir, nodes: ir.nodes.filter((n) => !gone.has(n.id)).flatMap((n) => replaced.get(n.id) ?? [n]) };
  },
};
