/**
 * Applies an UpKern weight map (`compiler/passes/upkern.ts`) to source weights: copies tensors
 * bit-exact, resizes kernels as PyTorch's `F.interpolate(w, size, mode='linear' | 'bilinear' |
 * 'trilinear', align_corners=False)` does with dim 0 as batch and dim 1 as channel, and
 * initialises target-only tensors as a new PyTorch model would. Plain Float32Arrays; no tensor
 * library needed.
 */

import type { WeightMap } from '../../ir/weight-map.js';
import type { IRParam } from '../../ir/types.js';
import type { TensorMap } from '../io/safetensors.js';
import { createRng, fillKaimingNormal, fillTruncNormal } from '../model/init.js';
import { UpkernError } from '../errors.js';
import { bufferValues } from '../../ir/buffers.js';

export { UpkernError };

const numel = (shape: number[]): number => shape.reduce((a, d) => a * d, 1);

/**
 * Taps and weights for resizing one axis from `inSize` to `outSize` samples, align_corners=False:
 * source coordinate `max(0, (dst + 0.5) · in/out − 0.5)`, computed in float32 as PyTorch does for
 * float tensors; linear between the two neighbouring taps, the upper one clamped to the last.
 */
export function linearTaps(inSize: number, outSize: number): { i0: number; i1: number; w1: number }[] {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  const taps: { i0: number; i1: number; w1: number }[] = [];
  for (let dst = 0; dst < outSize; dst++) {
    const src = Math.max(0, f(f(scale * f(dst + 0.5)) - 0.5));
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    taps.push({ i0, i1, w1: Math.min(Math.max(f(src - i0), 0), 1) });
  }
  return taps;
}

/**
 * Resizes `[N, C, ...spatial]` to `[N, C, ...toSpatial]`: one linear pass per spatial axis
 * (separable, so equal to PyTorch's (bi/tri)linear blend up to float rounding), in float64.
 */
export function resampleKernel(data: Float32Array, shape: number[], toShape: number[]): Float32Array {
  if (shape.length < 3 || shape.length !== toShape.length || shape[0] !== toShape[0] || shape[1] !== toShape[1]) {
    throw new UpkernError(`cannot resample [${shape.join(', ')}] to [${toShape.join(', ')}]`);
  }
  if (data.length !== numel(shape)) throw new UpkernError(`${data.length} values for shape [${shape.join(', ')}]`);
  let cur = Float64Array.from(data);
  const curShape = [...shape];
  for (let axis = 2; axis < shape.length; axis++) {
    const inSize = curShape[axis]!;
    const outSize = toShape[axis]!;
    if (inSize === outSize) continue;
    const outer = numel(curShape.slice(0, axis));
    const inner = numel(curShape.slice(axis + 1));
    const next = new Float64Array(outer * outSize * inner);
    const taps = linearTaps(inSize, outSize);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < outSize; j++) {
        const { i0, i1, w1 } = taps[j]!;
        const w0 = 1 - w1;
        const a = (o * inSize + i0) * inner;
        const b = (o * inSize + i1) * inner;
        const d = (o * outSize + j) * inner;
        for (let k = 0; k < inner; k++) next[d + k] = w0 * cur[a + k]! + w1 * cur[b + k]!;
      }
    }
    cur = next;
    curShape[axis] = outSize;
  }
  return Float32Array.from(cur);
}


function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * PyTorch's default initialisation of a new module's parameter: conv weights
 * (kaiming_uniform with a=√5) and biases are both uniform in ±1/√fan_in; norms ones/zeros.
 * Each tensor draws from its own stream (seed and name), so the order of tensors does not matter.
 */
export function initFresh(param: IRParam, seed: number): Float32Array {
  const out = new Float32Array(numel(param.shape));
  switch (param.init) {
    case 'zeros':
      return out;
    case 'ones':
      return out.fill(1);
    case 'kaiming_uniform':
    case 'fan_in_uniform': {
      if (!param.fanIn || param.fanIn <= 0) throw new UpkernError(`'${param.name}': no fan_in to initialise it with`);
      const bound = 1 / Math.sqrt(param.fanIn);
      const rand = createRng(seed ^ hashName(param.name));
      for (let i = 0; i < out.length; i++) out[i] = (2 * rand() - 1) * bound;
      return out;
    }
    case 'kaiming_normal':
      if (!param.fanIn || param.fanIn <= 0) throw new UpkernError(`'${param.name}': no fan_in to initialise it with`);
      fillKaimingNormal(out, param, createRng(seed ^ hashName(param.name)));
      return out;
    case 'trunc_normal':
      fillTruncNormal(out, param.std ?? 0.02, createRng(seed ^ hashName(param.name)));
      return out;
    case 'constant':
      return out.fill(param.value ?? 0);
    case 'recipe':
      if (!param.recipe) throw new UpkernError(`'${param.name}': no recipe to compute it from`);
      out.set(bufferValues(param.recipe).data);
      return out;
  }
}

export interface ApplyResult {
  tensors: TensorMap;
  /** Notes for the user: source tensors the map does not use. */
  warnings: string[];
}

/**
 * Builds the target weights. `source` holds the trained weights (float32), `target` the target
 * network's parameters (for shapes and the initialisation of fresh ones); `what` names the
 * weights file in messages.
 */
export function applyWeightMap(
  map: WeightMap,
  source: TensorMap,
  target: IRParam[],
  options: { seed?: number; what?: string } = {},
): ApplyResult {
  const what = options.what ?? 'source weights';
  if (map.errors.length > 0) throw new UpkernError(`the weight map has errors:\n  ${map.errors.join('\n  ')}`);
  const seed = options.seed ?? 0;
  const params = new Map(target.map((p) => [p.name, p]));
  const tensors: TensorMap = new Map();
  const used = new Set<string>();
  for (const e of map.entries) {
    if (e.action === 'dropped') {
      used.add(e.name);
      continue;
    }
    const to = e.to!;
    if (e.action === 'fresh') {
      const p = params.get(e.name);
      if (!p) throw new UpkernError(`'${e.name}' is not a parameter of the target network`);
      tensors.set(e.name, { dtype: 'F32', shape: [...to], data: initFresh(p, seed) });
      continue;
    }
    const s = source.get(e.name);
    if (!s) throw new UpkernError(`${what}: no tensor '${e.name}' (the source network has one of shape [${e.from!.join(', ')}])`);
    if (s.shape.length !== e.from!.length || s.shape.some((d, i) => d !== e.from![i])) {
      throw new UpkernError(`${what}: tensor '${e.name}' has shape [${s.shape.join(', ')}] but the source network expects [${e.from!.join(', ')}]`);
    }
    if (s.dtype !== 'F32' || !(s.data instanceof Float32Array)) {
      throw new UpkernError(`${what}: tensor '${e.name}' is ${s.dtype}, expected F32`);
    }
    used.add(e.name);
    const data = e.action === 'copy' ? s.data.slice() : resampleKernel(s.data, e.from!, to);
    tensors.set(e.name, { dtype: 'F32', shape: [...to], data });
  }
  const unused = [...source.keys()].filter((k) => !used.has(k));
  const warnings = unused.length > 0 ? [`${what}: ${unused.length} tensor(s) not in the source network were ignored: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', …' : ''}`] : [];
  return { tensors, warnings };
}
