/**
 * The fused operations: IR ops that no spec writes and the compiler never emits. Only the
 * rewrite passes (ir/rewrites/) produce them, each replacing a chain of primitive ops that
 * computes the same values; the runtime runs each as one kernel.
 *
 * A fused node keeps the id, `out` and position of the last node of the chain it replaces (so
 * every reader and every output stays as it was), and lists the parameters of each op it
 * absorbed under `<part>.<key>`, the key being the one the absorbed node used (e.g.
 * `norm.weight`, `conv.bias`). Parameters are never added, removed or renamed by a rewrite.
 *
 *   fused_pointwise            a 1×1×1 convolution (part `conv`) with
 *                                prologue  'none' | 'group_norm' (part `norm`; attrs norm_groups, norm_eps) | 'gelu'
 *                                epilogue  'none' | 'gelu' | 'add' (a second input: the residual summand)
 *                              Inputs: the prologue's input (or the conv's), then the residual if any.
 *                              Forward only where epilogue is not 'none' (its kernels have no gradient).
 *   fused_norm_gelu_pointwise  GroupNorm (part `norm`) → 1×1×1 conv (`conv2`) → GELU → 1×1×1 conv (`conv3`);
 *                              attrs norm_groups, norm_eps; one input.
 */
import type { IRNode } from './types.js';

export const FUSED_PROLOGUES = ['none', 'group_norm', 'gelu'] as const;
export const FUSED_EPILOGUES = ['none', 'gelu', 'add'] as const;
export type FusedPrologue = (typeof FUSED_PROLOGUES)[number];
export type FusedEpilogue = (typeof FUSED_EPILOGUES)[number];

/** Problems with a fused node's attributes, inputs and parameter parts (empty for any other node). */
export function checkFusedNode(n: IRNode): string[] {
  const problems: string[] = [];
  const need = (cond: boolean, what: string) => {
    if (!cond) problems.push(`node ${n.id} (${n.op}): ${what}`);
  };
  const hasPart = (part: string) => Object.keys(n.params).some((k) => k === `${part}.weight`);
  const normAttrs = () => need(typeof n.attrs.norm_groups === 'number' && typeof n.attrs.norm_eps === 'number', 'needs numeric norm_groups and norm_eps');
  if (n.op === 'fused_pointwise') {
    const pro = n.attrs.prologue as FusedPrologue;
    const epi = n.attrs.epilogue as FusedEpilogue;
    need(FUSED_PROLOGUES.includes(pro), `prologue must be one of ${FUSED_PROLOGUES.join(', ')}`);
    need(FUSED_EPILOGUES.includes(epi), `epilogue must be one of ${FUSED_EPILOGUES.join(', ')}`);
    need(n.inputs.length === (epi === 'add' ? 2 : 1), `takes ${epi === 'add' ? 2 : 1} input(s), has ${n.inputs.length}`);
    need(!(pro === 'gelu' && epi !== 'none'), 'a GELU prologue has no kernel with an epilogue');
    need(!(pro === 'none' && epi === 'none'), 'fuses nothing (neither prologue nor epilogue)');
    need(hasPart('conv'), 'needs a conv.weight parameter');
    if (pro === 'group_norm') normAttrs();
  } else if (n.op === 'fused_norm_gelu_pointwise') {
    need(n.inputs.length === 1, `takes 1 input, has ${n.inputs.length}`);
    need(hasPart('conv2') && hasPart('conv3'), 'needs conv2.weight and conv3.weight parameters');
    normAttrs();
  }
  return problems;
}
