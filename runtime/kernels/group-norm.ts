import * as tf from '@tensorflow/tfjs-core';
import '../ops/gradients.js';
import { joinFree, thenFree } from './chain.js';

/**
 * GroupNorm with a hand-written gradient. TF.js's autodiff of the op chain (mean, centre,
 * variance, scale, shift) runs about twice as many full passes over the activation as needed and
 * reduces the broadcast γ/β gradients over non-last axes (a transpose first on cpu). Here:
 *
 *   forward   c = x − μ;  σ⁻¹ from Σc² (two-pass variance: offset inputs keep their digits);
 *             y = c·(γσ⁻¹) + β
 *   backward  x̂ = c·σ⁻¹;  A = Σ dy, B = Σ dy·x̂ per sample and channel (matrix products);
 *             dβ = Σₙ A, dγ = Σₙ B;
 *             dx = σ⁻¹γ·dy − σ⁻¹/M·Σ_group(γA) − x̂·σ⁻¹/M·Σ_group(γB)   (M voxels × channels per group)
 *
 * Every sum over voxels is a batched product with a ones row ([1, V] × [V, C]), which all
 * backends run fast. x is [N, ...spatial, C]; gamma/beta [C] or absent.
 */
export function groupNormFused(x: tf.Tensor, groups: number, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  const gn = groupNormPlan(x.shape, groups, eps);
  const c = gn.channels;
  const core = (x3: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [xs, gs, bs] = args as tf.Tensor[];
      const save = args[3] as tf.GradSaveFunc;
      const { centred, rstd } = gn.statistics(xs!);
      const value = gn.normalise(centred, rstd, gs!, bs!);
      save([centred, rstd, gs!]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [cen, rs, gm] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          return gn.backward(dy, cen, rs, gm);
        },
      };
    })(x3, g, b);

  return tf.tidy(() => {
    const x3 = tf.reshape(x, [gn.n, gn.voxels, c]);
    const g = gamma ? tf.reshape(gamma, [c]) : tf.ones([c]);
    const b = beta ? tf.reshape(beta, [c]) : tf.zeros([c]);
    return tf.reshape(core(x3, g, b), x.shape);
  });
}

/**
 * Kernel name of GroupNorm's statistics in one pass, where a backend registers it (native):
 * input x [N, V, C], attrs { n, v, c, groups, eps, centred: true } → [x − μ, μ, σ⁻¹] ([N, V, C],
 * [N, 1, C], [N, 1, C]); centred: false → [μ, σ⁻¹]. `GroupNormPlan.statistics` and `moments` use it when the active backend has it.
 */
export const GROUP_NORM_STATS = 'MnxcGroupNormStats';

/**
 * Kernel name of a sum of squares over the middle axis, where a backend registers it
 * (tensorflow: TensorFlow's EuclideanNorm, squared): input x [B, R, C] → [B, C], Σᵣ x².
 * GroupNorm's variance uses it instead of squaring the centred input into a new tensor and
 * summing that (two passes over the activation fewer).
 */
export const SUM_OF_SQUARES = 'MnxcSumOfSquares';

/** GroupNorm's passes on [N, V, C] (V voxels), for kernels that run it inside their own gradient. */
export interface GroupNormPlan {
  n: number;
  voxels: number;
  channels: number;
  /** x − μ per sample and group, and σ⁻¹ ([N, 1, C], broadcast over each group's channels). */
  statistics(x3: tf.Tensor): { centred: tf.Tensor; rstd: tf.Tensor };
  /** μ and σ⁻¹ ([N, 1, C]) without x − μ, where the backend has GROUP_NORM_STATS (one pass over x); null elsewhere. */
  moments(x3: tf.Tensor): { mean: tf.Tensor; rstd: tf.Tensor } | null;
  /** c·(γσ⁻¹) + β. */
  normalise(centred: tf.Tensor, rstd: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor;
  /** [dx, dγ, dβ] from dy, the saved centred input, σ⁻¹ and γ. */
  backward(dy: tf.Tensor, centred: tf.Tensor, rstd: tf.Tensor, gamma: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor];
}

const REDUCTION_BACKENDS = new Set<string>();

/**
 * Makes GroupNorm sum over the voxels with TF.js's reduction on `backendName` instead of the
 * ones-row products. On webgpu a product accumulates its 96² terms one after another, and a
 * 96³ volume offset by 40 came out 1e-4 off after normalising; its reduction sums in a tree.
 */
export function sumVoxelsByReduction(backendName: string): void {
  REDUCTION_BACKENDS.add(backendName);
}

/** The GroupNorm passes for activations of `shape` ([N, ...spatial, C]). */
export function groupNormPlan(shape: readonly number[], groups: number, eps: number): GroupNormPlan {
  const n = shape[0]!;
  const c = shape[shape.length - 1]!;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new Error(`groupNorm: ${groups} groups do not divide ${c} channels`);
  }
  const voxels = shape.slice(1, -1).reduce((a, b) => a * b, 1);
  const cg = c / groups;
  const count = voxels * cg;
  // Sums over the voxels run in two stages — over each plane (the inner axes), then over the
  // first spatial axis — so no float32 accumulation runs over all D·H·W values: the wasm
  // backend's matrix product adds sequentially, and one 64³ sum lost ~1e-4 of the result.
  const outer = shape.length > 2 ? shape[1]! : 1;
  const inner = voxels / outer;
  /** Per-sample, per-channel sums over the voxels: [N, V, C] → [N, 1, C]. */
  // On backends listed by `sumVoxelsByReduction` (GPU backends, whose reductions are trees of
  // partial sums while their products add sequentially), the sums are reductions instead.
  const voxelSum = (t: tf.Tensor, ones: tf.Tensor) =>
    REDUCTION_BACKENDS.has(tf.getBackend())
      ? tf.sum(tf.sum(tf.reshape(t, [n, outer, inner, c]), 2), 1, true)
      : outer === 1
        ? tf.matMul(ones, t)
        : tf.sum(tf.reshape(tf.matMul(ones, tf.reshape(t, [n * outer, inner, c])), [n, outer, c]), 1, true);
  const onesRow = () => tf.ones([n * outer, 1, inner]);
  /** [N, 1, C] → the sum over each group's channels, broadcast back to its channels: [N, 1, C]. */
  const groupSum = (t: tf.Tensor) =>
    cg === 1 ? t : tf.reshape(tf.tile(tf.sum(tf.reshape(t, [n, 1, groups, cg]), 3, true), [1, 1, 1, cg]), [n, 1, c]);
  return {
    n,
    voxels,
    channels: c,
    statistics(x3) {
      if (tf.getKernel(GROUP_NORM_STATS, tf.getBackend())) {
        const attrs = { n, v: voxels, c, groups, eps, centred: true };
        const [centred, mean, rstd] = tf.engine().runKernel(GROUP_NORM_STATS, { x: x3 }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        mean!.dispose();
        return { centred: centred!, rstd: rstd! };
      }
      const ones = onesRow();
      const mean = tf.tidy(() => tf.div(groupSum(voxelSum(x3, ones)), count));
      const centred = tf.sub(x3, mean);
      const rstd = tf.tidy(() => {
        const squares = tf.getKernel(SUM_OF_SQUARES, tf.getBackend()) && !REDUCTION_BACKENDS.has(tf.getBackend())
          ? tf.sum(tf.reshape(tf.engine().runKernel(SUM_OF_SQUARES, { x: tf.reshape(centred, [n * outer, inner, c]) }) as tf.Tensor, [n, outer, c]), 1, true)
          : thenFree(tf.square(centred), (sq) => voxelSum(sq, ones));
        const variance = tf.div(groupSum(squares), count);
        return tf.rsqrt(tf.add(variance, eps));
      });
      return { centred, rstd };
    },
    moments(x3) {
      if (!tf.getKernel(GROUP_NORM_STATS, tf.getBackend())) return null;
      const attrs = { n, v: voxels, c, groups, eps, centred: false };
      const [mean, rstd] = tf.engine().runKernel(GROUP_NORM_STATS, { x: x3 }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      return { mean: mean!, rstd: rstd! };
    },
    normalise(centred, rstd, gamma, beta) {
      return thenFree(tf.mul(centred, tf.mul(rstd, gamma)), (t) => tf.add(t, beta));
    },
    backward(dy, cen, rs, gm) {
      const ones = onesRow();
      const xhat = tf.mul(cen, rs);
      const sumDy = voxelSum(dy, ones); // [N, 1, C]
      const sumDyXhat = thenFree(tf.mul(dy, xhat), (t) => voxelSum(t, ones));
      const k1 = tf.mul(rs, gm);
      const k2 = tf.mul(tf.div(rs, -count), groupSum(tf.mul(gm, sumDyXhat)));
      const k3 = tf.mul(tf.div(rs, -count), groupSum(tf.mul(gm, sumDy)));
      const dx = thenFree(joinFree(tf.mul(dy, k1), thenFree(xhat, (t) => tf.mul(t, k2)), tf.add), (t) => tf.add(t, k3));
      return [dx, tf.reshape(tf.sum(sumDyXhat, 0), [c]), tf.reshape(tf.sum(sumDy, 0), [c])];
    },
  };
}
