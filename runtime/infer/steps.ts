/**
 * Window positions of the sliding window (nnU-Net v1 `_compute_steps_for_sliding_window`): per axis
 * n = ⌈(S − P)/(step·P)⌉ + 1 windows, spread evenly from 0 to S − P and rounded as numpy rounds
 * (halves to even).
 */
import { roundHalfEven } from '../data/resample/resample.js';

/** Start positions along one axis of size `size ≥ patch`. */
export function windowStarts(size: number, patch: number, step: number): number[] {
  if (size < patch) throw new Error(`windowStarts: size ${size} is smaller than the patch ${patch} (pad first)`);
  if (!(step > 0 && step <= 1)) throw new Error(`windowStarts: step ${step} must be in (0, 1]`);
  // a 2-D configuration's windows are single slices: each slice once, as nnU-Net predicts 2-D slice by slice
  if (patch === 1) return Array.from({ length: size }, (_, i) => i);
  const n = Math.ceil((size - patch) / (step * patch)) + 1;
  if (n === 1) return [0];
  const actual = (size - patch) / (n - 1);
  return Array.from({ length: n }, (_, i) => roundHalfEven(actual * i));
}

/** Every window's start corner, axis 0 slowest. */
export function windowGrid(size: readonly number[], patch: readonly number[], step: number): number[][] {
  const per = size.map((s, a) => windowStarts(s, patch[a]!, step));
  const out: number[][] = [];
  for (const a of per[0]!) for (const b of per[1]!) for (const c of per[2]!) out.push([a, b, c]);
  return out;
}
