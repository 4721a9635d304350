import * as tf from '@tensorflow/tfjs-core';
import type { IRModel, IRNode } from '../../ir/types.js';
import { grads } from '../autodiff/backprop.js';

/**
 * Gradient checkpointing at block granularity (MedNeXt's `outside_block` style): a block's
 * forward pass runs once without keeping its intermediates; during backprop it is recomputed
 * from the block's inputs and differentiated then. Values are identical to the plain pass.
 */
export interface Segment {
  /** The block path shared by the nodes ('' for nodes outside any block: run plainly). */
  block: string;
  nodes: IRNode[];
  /** Tensors read from outside the segment, in first-use order. */
  inputs: string[];
  /** Tensors of the segment read after it (or model outputs). */
  outputs: string[];
  /** Parameter names the segment uses. */
  params: string[];
}

/** Splits the node list into runs of consecutive nodes of the same block. */
export function checkpointSegments(ir: IRModel): Segment[] {
  const segs: Segment[] = [];
  for (const node of ir.nodes) {
    const last = segs[segs.length - 1];
    if (last && last.block === node.block && node.block !== '') last.nodes.push(node);
    else segs.push({ block: node.block, nodes: [node], inputs: [], outputs: [], params: [] });
  }
  const producedIn = new Map<string, Segment>();
  for (const seg of segs) for (const n of seg.nodes) producedIn.set(n.id, seg);
  for (const seg of segs) {
    for (const n of seg.nodes) {
      for (const id of n.inputs) if (producedIn.get(id) !== seg && !seg.inputs.includes(id)) seg.inputs.push(id);
      for (const p of Object.values(n.params)) if (!seg.params.includes(p)) seg.params.push(p);
    }
  }
  for (const seg of segs) {
    for (const n of seg.nodes) {
      const readLater = ir.nodes.some((m) => producedIn.get(m.id) !== seg && m.inputs.includes(n.id));
      if (readLater || ir.outputs.includes(n.id)) seg.outputs.push(n.id);
    }
  }
  return segs;
}

type RunNode = (node: IRNode, inputs: tf.Tensor[]) => tf.Tensor;

function runPlain(seg: Segment, values: Map<string, tf.Tensor>, run: RunNode): void {
  for (const n of seg.nodes) values.set(n.id, run(n, n.inputs.map((id) => values.get(id)!)));
}

/**
 * Runs one segment into `values`. Segments with exactly one output tensor, at least one
 * external input and no model-input node are checkpointed; the rest run plainly.
 */
export function runCheckpointed(seg: Segment, values: Map<string, tf.Tensor>, variables: (names: string[]) => tf.Tensor[], run: RunNode): void {
  const plain = seg.block === '' || seg.outputs.length !== 1 || seg.inputs.length === 0 || seg.nodes.some((n) => n.op === 'input');
  if (plain) return runPlain(seg, values, run);
  const outId = seg.outputs[0]!;
  const nIn = seg.inputs.length;
  // Recomputes the segment from its inputs; the parameters are read by the nodes themselves.
  const forward = (ins: tf.Tensor[]): tf.Tensor => {
    const local = new Map<string, tf.Tensor>();
    seg.inputs.forEach((id, i) => local.set(id, ins[i]!));
    for (const n of seg.nodes) local.set(n.id, run(n, n.inputs.map((id) => local.get(id)!)));
    return local.get(outId)!;
  };
  const params = variables(seg.params);
  const op = tf.customGrad((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const ins = args as tf.Tensor[];
    save(ins.slice(0, nIn));
    return {
      value: forward(ins.slice(0, nIn)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        // Parameters are differentiated as themselves (the same tensor objects the nodes read).
        const f = (...xs: tf.Tensor[]) => forward(xs.slice(0, nIn));
        // The walk owns its tape (runtime/autodiff/backprop.ts), so nesting it in the outer
        // backward pass is safe, and it frees the block's intermediates as it goes.
        return grads(f, [...saved, ...params], dy);
      },
    };
  });
  values.set(outId, op(...seg.inputs.map((id) => values.get(id)!), ...params));
}
