/**
 * The rewrite passes and the pipelines a back end picks from. See each pass for its contract:
 * the pattern it matches, what it produces, why the values stay the same, what it leaves alone.
 */
import { dropCancelledBias } from './drop-cancelled-bias.js';
import { fuseNormGeluPointwise } from './fuse-norm-gelu-pointwise.js';
import { fusePointwiseEpilogue } from './fuse-pointwise-epilogue.js';
import { fusePointwisePrologue } from './fuse-pointwise-prologue.js';
import { sumBeforePad } from './sum-before-pad.js';
import type { Rewrite } from './rewrite.js';

export { applyRewrites, type Rewrite } from './rewrite.js';
export { dropCancelledBias, fuseNormGeluPointwise, fusePointwiseEpilogue, fusePointwisePrologue, sumBeforePad };

/** Every rewrite, by name. */
export const REWRITES: Record<string, Rewrite> = Object.fromEntries(
  [dropCancelledBias, fuseNormGeluPointwise, fusePointwiseEpilogue, fusePointwisePrologue, sumBeforePad].map((r) => [r.name, r]),
);

/**
 * The pipelines. Each starts with `sum_before_pad` where it can (exact: one pad after a sum of two
 * equally padded tensors). `training`: gradients are taken, so only rewrites that keep them (block tails as
 * one op, then norm/GELU → 1×1×1 conv). `inference`: no gradients, a backend without epilogue
 * kernels (biases cancelled by a per-channel norm dropped, then as training). `inference_epilogues`:
 * no gradients, a backend with product-with-epilogue kernels (the GELU or residual sum after each
 * 1×1×1 conv rides on it, the norm before it folded in; what is left, as training).
 */
export const PIPELINES = {
  training: [sumBeforePad, fuseNormGeluPointwise, fusePointwisePrologue],
  inference: [dropCancelledBias, sumBeforePad, fuseNormGeluPointwise, fusePointwisePrologue],
  inference_epilogues: [dropCancelledBias, sumBeforePad, fusePointwiseEpilogue, fusePointwisePrologue],
} as const satisfies Record<string, readonly Rewrite[]>;

export type PipelineName = keyof typeof PIPELINES;
