import { bufferValues } from '../../ir/buffers.js';
import type { IRParam } from '../../ir/types.js';

/**
 * Seeded initial values for a new model, in PyTorch layout, following PyTorch's defaults for
 * the module that owns each parameter: conv weights `kaiming_uniform_(a=√5)` and conv biases
 * both reduce to U(−1/√fan_in, 1/√fan_in); norm weights 1, biases 0; GRN gamma/beta 0;
 * `dummy_tensor` 1. A spec may ask for nnU-Net's He init instead (`kaiming_normal`:
 * N(0, 2 / ((1 + a²) · fan_in)), normals by Box–Muller from the same stream) or a zero norm scale. The random stream is mulberry32 (deterministic, not Math.random), drawn
 * in `parameters` order, so one seed always gives the same weights.
 */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function initialValues(p: IRParam, rng: () => number): Float32Array {
  const n = p.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (p.role === 'dummy' || p.init === 'ones') {
    out.fill(1);
  } else if (p.init === 'kaiming_uniform' || p.init === 'fan_in_uniform') {
    if (!p.fanIn || p.fanIn <= 0) throw new Error(`parameter ${p.name}: init ${p.init} needs a positive fanIn`);
    const bound = 1 / Math.sqrt(p.fanIn);
    for (let i = 0; i < n; i++) out[i] = (2 * rng() - 1) * bound;
  } else if (p.init === 'kaiming_normal') {
    fillKaimingNormal(out, p, rng);
  } else if (p.init === 'trunc_normal') {
    fillTruncNormal(out, p.std ?? 0.02, rng);
  } else if (p.init === 'constant') {
    out.fill(p.value ?? 0);
  } else if (p.init === 'recipe') {
    if (!p.recipe) throw new Error(`parameter ${p.name}: init 'recipe' without a recipe`);
    out.set(bufferValues(p.recipe).data);
  }
  return out;
}

/** PyTorch's `kaiming_normal_(w, a, mode='fan_in')`: std = √(2 / (1 + a²)) / √fan_in. */
export function fillKaimingNormal(out: Float32Array, p: IRParam, rng: () => number): void {
  if (!p.fanIn || p.fanIn <= 0) throw new Error(`parameter ${p.name}: init ${p.init} needs a positive fanIn`);
  const a = p.initA ?? 0;
  const std = Math.sqrt(2 / (1 + a * a)) / Math.sqrt(p.fanIn);
  for (let i = 0; i < out.length; i += 2) {
    // Box–Muller: two independent standard normals from two uniforms in (0, 1].
    const u1 = 1 - rng();
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2) * std;
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2) * std;
  }
}

/** N(0, std²) truncated at ±2·std (timm's trunc_normal_ default bounds), by rejection. */
export function fillTruncNormal(out: Float32Array, std: number, rng: () => number): void {
  for (let i = 0; i < out.length; i++) {
    let z: number;
    do z = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    while (Math.abs(z) > 2);
    out[i] = z * std;
  }
}
