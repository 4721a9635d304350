/**
 * Constant tensors computed from a recipe (IR `buffer` nodes and `recipe` parameters): the
 * relative position index of window attention and the attention mask of shifted windows.
 * Pure functions of the recipe's numbers, shared by the compiler (shapes) and the runtime
 * (values); no TF.js here.
 */
export interface BufferValue {
  shape: number[];
  data: Float32Array;
}

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Raster-order coordinates (last axis fastest) of every position of a box. */
function coords(size: number[]): number[][] {
  const out: number[][] = [];
  const n = prod(size);
  for (let i = 0; i < n; i++) {
    const c: number[] = [];
    let r = i;
    for (let a = size.length - 1; a >= 0; a--) {
      c[a] = r % size[a]!;
      r = Math.floor(r / size[a]!);
    }
    out.push(c);
  }
  return out;
}

/**
 * Relative position index of a window (Swin): for query i and key j of the window,
 * `Σ_a (c_i[a] − c_j[a] + w_a − 1) · multipliers[a]`. Swin's multipliers are
 * `[(2w₁−1)(2w₂−1), 2w₂−1, 1]`; nnFormer's code uses `[3w₁−1, 2w₁−1, 1]`.
 */
export function relativePositionIndex(window: number[], multipliers: number[]): BufferValue {
  const cs = coords(window);
  const n = cs.length;
  const data = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let v = 0;
      for (let a = 0; a < window.length; a++) v += (cs[i]![a]! - cs[j]![a]! + window[a]! - 1) * multipliers[a]!;
      data[i * n + j] = v;
    }
  }
  return { shape: [n, n], data };
}

/** Python's slice(start, stop) of an axis of length n, as [lo, hi). */
function pySlice(start: number | null, stop: number | null, n: number): [number, number] {
  const norm = (v: number) => (v < 0 ? Math.max(0, n + v) : Math.min(n, v));
  const lo = start === null ? 0 : norm(start);
  const hi = stop === null ? n : norm(stop);
  return [lo, Math.max(lo, hi)];
}

/**
 * The attention mask of shifted windows on a (padded) feature map of `size`: region ids
 * assigned as Swin's loops assign them (per axis the slices `[:−w]`, `[−w:−s]`, `[−s:]`, in
 * Python's slice semantics, so an unshifted axis behaves exactly as the official code), windows
 * in raster order, tokens in raster order inside a window; −100 where two tokens of a window
 * lie in different regions, else 0. Shape [windows, n, n].
 */
export function shiftedWindowMask(size: number[], window: number[], shift: number[]): BufferValue {
  const ids = new Int32Array(prod(size));
  const strides = size.map((_, a) => prod(size.slice(a + 1)));
  let cnt = 0;
  const regions = size.map((n, a) => [pySlice(null, -window[a]!, n), pySlice(-window[a]!, -shift[a]!, n), pySlice(-shift[a]!, null, n)]);
  const fill = (a: number, base: number[][]) => {
    if (a === size.length) {
      const walk = (b: number, off: number) => {
        if (b === size.length) {
          ids[off] = cnt;
          return;
        }
        for (let i = base[b]![0]!; i < base[b]![1]!; i++) walk(b + 1, off + i * strides[b]!);
      };
      walk(0, 0);
      cnt++;
      return;
    }
    for (const r of regions[a]!) fill(a + 1, [...base, r]);
  };
  fill(0, []);
  const grid = size.map((n, a) => n / window[a]!);
  const nW = prod(grid);
  const n = prod(window);
  const wc = coords(grid);
  const tc = coords(window);
  const data = new Float32Array(nW * n * n);
  for (let w = 0; w < nW; w++) {
    const id = tc.map((t) => ids[t.reduce((off, c, a) => off + (wc[w]![a]! * window[a]! + c) * strides[a]!, 0)]!);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) data[(w * n + i) * n + j] = id[i] === id[j] ? 0 : -100;
  }
  return { shape: [nW, n, n], data };
}

/** Values of a buffer node's or parameter's recipe. */
export function bufferValues(recipe: Record<string, unknown>): BufferValue {
  const list = (k: string) => recipe[k] as number[];
  switch (recipe.recipe) {
    case 'relative_position_index':
      return relativePositionIndex(list('window'), list('multipliers'));
    case 'shifted_window_mask':
      return shiftedWindowMask(list('size'), list('window'), list('shift'));
  }
  throw new Error(`unknown buffer recipe ${JSON.stringify(recipe.recipe)}`);
}
