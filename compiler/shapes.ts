/** Output sizes of the convolutions, as PyTorch computes them. */
export function convOut(n: number, k: number, stride: number, pad: number): number {
  return Math.floor((n + 2 * pad - k) / stride) + 1;
}

export function convTransposeOut(n: number, k: number, stride: number, pad: number): number {
  return (n - 1) * stride - 2 * pad + k;
}

export function formatShape(channels: number, spatial: number[] | null): string {
  return spatial ? `[${channels}, ${spatial.join(', ')}]` : `[${channels}, ?]`;
}
