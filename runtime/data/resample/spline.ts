/**
 * One-axis spline zoom with the semantics of `scipy.ndimage.zoom(..., mode='nearest', grid_mode=True)`,
 * which is what `skimage.transform.resize(order, mode='edge', anti_aliasing=False)` calls and what
 * nnU-Net resamples with:
 *
 * - output sample k sits at input coordinate `(k + 0.5) · n/m − 0.5` (pixel areas, not centres, are zoomed);
 * - order 3: the line is edge-padded by 12 samples (scipy's `_prepad_for_spline_filter`), turned into
 *   cubic B-spline coefficients with the "reflect" boundary initialisation scipy uses for mode
 *   'nearest', then sampled; tap indices outside the padded line are clamped;
 * - order 1: linear interpolation, taps clamped to the line (edge replicate);
 * - order 0: `floor(c + 0.5)`, clamped (round half up, as scipy's order-0 kernels).
 *
 * A tensor-product spline separates per axis (padding, prefilter and sampling along one axis commute
 * with the same steps along another), so a 3-D zoom is three of these in turn; the result equals
 * scipy's up to float64 rounding.
 */

export type SplineOrder = 0 | 1 | 3;

/** Samples scipy pads on each side before the spline prefilter in mode 'nearest'. */
const PREPAD = 12;
/** Pole of the cubic B-spline prefilter, sqrt(3) − 2. */
const POLE3 = Math.sqrt(3) - 2;

/** Shape of a volume seen as [outer, axis, inner], the three factors of a C-order array around one axis. */
interface AxisView {
  outer: number;
  n: number;
  inner: number;
}

function viewAround(shape: readonly number[], axis: number): AxisView {
  let outer = 1;
  let inner = 1;
  for (let a = 0; a < axis; a++) outer *= shape[a]!;
  for (let a = axis + 1; a < shape.length; a++) inner *= shape[a]!;
  return { outer, n: shape[axis]!, inner };
}

/**
 * Per output sample: the first tap index (into the padded line for order 3) and the tap weights,
 * exactly as scipy's `NI_ZoomShift` / `get_spline_interpolation_weights` compute them.
 */
function tapTable(n: number, m: number, order: SplineOrder): { start: Int32Array; weights: Float64Array } {
  const zoom = m !== 0 ? n / m : 1;
  const taps = order + 1;
  const start = new Int32Array(m);
  const weights = new Float64Array(m * taps);
  const pad = order > 1 ? PREPAD : 0;
  for (let k = 0; k < m; k++) {
    const cc = (k + 0.5) * zoom - 0.5 + pad;
    if (order === 0) {
      start[k] = Math.floor(cc + 0.5);
      weights[k] = 1;
    } else if (order === 1) {
      const f = Math.floor(cc);
      start[k] = f;
      const x = cc - f;
      weights[2 * k] = 1 - x;
      weights[2 * k + 1] = 1 - (1 - x);
    } else {
      const f = Math.floor(cc);
      start[k] = f - 1;
      const y = cc - f;
      const z = 1 - y;
      const w1 = (y * y * (y - 2) * 3 + 4) / 6;
      const w2 = (z * z * (z - 2) * 3 + 4) / 6;
      const w0 = (z * z * z) / 6;
      const o = 4 * k;
      weights[o] = w0;
      weights[o + 1] = w1;
      weights[o + 2] = w2;
      weights[o + 3] = 1 - w0 - w1 - w2;
    }
  }
  return { start, weights };
}

/**
 * Cubic B-spline prefilter of `cols` interleaved lines stored row-major in `c` ([len, cols]), in place,
 * with scipy's mode-'nearest' (= 'reflect') boundary initialisation. Working on many lines at once keeps
 * the inner loop contiguous.
 */
function prefilterCubic(c: Float64Array, len: number, cols: number): void {
  const z = POLE3;
  const gain = (1 - z) * (1 - 1 / z);
  const total = len * cols;
  for (let i = 0; i < total; i++) c[i]! *= gain;
  if (len === 1) return;
  // causal initialisation (reflect): c0 = c0 + z/(1 − z^2n) · Σ z^i (c[i] + z^n c[n−1−i]) with the c0 term included
  const zn = Math.pow(z, len);
  const scale = z / (1 - zn * zn);
  const first = new Float64Array(cols);
  for (let b = 0; b < cols; b++) first[b] = c[b]! + zn * c[(len - 1) * cols + b]!;
  let zi = z;
  for (let i = 1; i < len; i++) {
    const row = i * cols;
    const mirror = (len - 1 - i) * cols;
    for (let b = 0; b < cols; b++) first[b]! += zi * (c[row + b]! + zn * c[mirror + b]!);
    zi *= z;
  }
  for (let b = 0; b < cols; b++) c[b] = first[b]! * scale + c[b]!;
  for (let i = 1; i < len; i++) {
    const row = i * cols;
    const prev = row - cols;
    for (let b = 0; b < cols; b++) c[row + b]! += z * c[prev + b]!;
  }
  const last = (len - 1) * cols;
  const anti = z / (z - 1);
  for (let b = 0; b < cols; b++) c[last + b]! *= anti;
  for (let i = len - 2; i >= 0; i--) {
    const row = i * cols;
    const next = row + cols;
    for (let b = 0; b < cols; b++) c[row + b] = z * (c[next + b]! - c[row + b]!);
  }
}

/** Columns processed together: bounds the scratch buffer when the zoomed axis is the slowest one. */
const TILE = 4096;

/**
 * Zooms a C-order volume along one axis to `newLength` samples. Returns the new array (float64) and
 * shape; an axis that keeps its length is returned as a copy-free view of the input for orders 1 and 3
 * (an interpolating spline reproduces its samples), and unchanged for order 0.
 */
export function zoomAxis(
  src: Float64Array,
  shape: readonly number[],
  axis: number,
  newLength: number,
  order: SplineOrder,
): { data: Float64Array; shape: number[] } {
  const { outer, n, inner } = viewAround(shape, axis);
  const outShape = [...shape];
  outShape[axis] = newLength;
  if (newLength === n) return { data: src, shape: outShape };
  const m = newLength;
  const out = new Float64Array(outer * m * inner);
  const { start, weights } = tapTable(n, m, order);
  const taps = order + 1;
  const padded = order > 1 ? n + 2 * PREPAD : n;
  const lastIndex = padded - 1;
  // clamped tap rows, per output sample
  const rows = new Int32Array(m * taps);
  for (let k = 0; k < m; k++) {
    for (let t = 0; t < taps; t++) {
      const idx = start[k]! + t;
      rows[k * taps + t] = idx < 0 ? 0 : idx > lastIndex ? lastIndex : idx;
    }
  }
  if (inner === 1) {
    zoomLastAxis(src, out, outer, n, m, order, rows, weights);
    return { data: out, shape: outShape };
  }
  const tile = Math.min(inner, TILE);
  const buf = new Float64Array(padded * tile);
  for (let o = 0; o < outer; o++) {
    const srcBase = o * n * inner;
    const dstBase = o * m * inner;
    for (let b0 = 0; b0 < inner; b0 += tile) {
      const cols = Math.min(tile, inner - b0);
      // gather [padded, cols] lines, edge-padded for the spline
      for (let i = 0; i < padded; i++) {
        let si = i - (order > 1 ? PREPAD : 0);
        si = si < 0 ? 0 : si > n - 1 ? n - 1 : si;
        const from = srcBase + si * inner + b0;
        if (cols >= 32) buf.set(src.subarray(from, from + cols), i * cols);
        else for (let b = 0; b < cols; b++) buf[i * cols + b] = src[from + b]!; // short rows: a view per row costs more than the copy
      }
      if (order === 3) prefilterCubic(buf, padded, cols);
      for (let k = 0; k < m; k++) {
        const dst = dstBase + k * inner + b0;
        if (order === 0) {
          const r = rows[k]! * cols;
          for (let b = 0; b < cols; b++) out[dst + b] = buf[r + b]!;
          continue;
        }
        const wBase = k * taps;
        const r0 = rows[wBase]! * cols;
        const w0 = weights[wBase]!;
        for (let b = 0; b < cols; b++) out[dst + b] = w0 * buf[r0 + b]!;
        for (let t = 1; t < taps; t++) {
          const r = rows[wBase + t]! * cols;
          const w = weights[wBase + t]!;
          for (let b = 0; b < cols; b++) out[dst + b]! += w * buf[r + b]!;
        }
      }
    }
  }
  return { data: out, shape: outShape };
}

/** The contiguous-line case (zooming the fastest axis): plain scalar loops, no tiling. */
function zoomLastAxis(src: Float64Array, out: Float64Array, lines: number, n: number, m: number, order: SplineOrder, rows: Int32Array, weights: Float64Array): void {
  const taps = order + 1;
  const pad = order > 1 ? PREPAD : 0;
  const line = new Float64Array(n + 2 * pad);
  for (let l = 0; l < lines; l++) {
    const s0 = l * n;
    const d0 = l * m;
    if (order === 0) {
      for (let k = 0; k < m; k++) out[d0 + k] = src[s0 + rows[k]!]!;
      continue;
    }
    let c: Float64Array = line;
    if (order === 3) {
      const first = src[s0]!;
      const last = src[s0 + n - 1]!;
      for (let i = 0; i < pad; i++) {
        line[i] = first;
        line[pad + n + i] = last;
      }
      for (let i = 0; i < n; i++) line[pad + i] = src[s0 + i]!;
      prefilterCubic(line, line.length, 1);
    } else {
      c = src.subarray(s0, s0 + n);
    }
    for (let k = 0; k < m; k++) {
      const w = k * taps;
      let v = weights[w]! * c[rows[w]!]!;
      for (let t = 1; t < taps; t++) v += weights[w + t]! * c[rows[w + t]!]!;
      out[d0 + k] = v;
    }
  }
}
