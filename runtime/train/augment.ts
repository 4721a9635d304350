/**
 * nnU-Net's training augmentation (v1 `data_augmentation_moreDA.py` with MedNeXt's parameters, as
 * batchgenerators implements each transform), on host arrays: images [C, d0, d1, d2] float32,
 * labels [d0, d1, d2] int8 with −1 = outside the mask or the case. Order: rotation+scaling (one resampling), Gaussian
 * noise, Gaussian blur, brightness, contrast, low-resolution simulation, inverted gamma, gamma,
 * mirroring (then, in batch.ts, the mask and the −1 → 0 step). Every draw comes from the caller's seeded `Rng`.
 *
 * Interpolation as batchgenerators with nnU-Net's orders: images cubic B-spline (order 3), labels
 * linear per label value with a 0.5 threshold (order 1), zeros beyond the loaded box; the
 * low-resolution simulation down-samples with order 0 and up-samples with order 3. Checked against
 * scipy in augment-interp.test.ts (testdata/spatial-transform.py).
 */
import type { Plans } from '../data/plan/plans.js';
import type { Rng } from './rng.js';
import { roundHalfEven } from '../data/resample/resample.js';
import { resizeImage } from '../data/resample/resize.js';
import { flipAxis, meanStd, voxels, type Shape3 } from './volume.js';

export type Augmentation = Plans['augmentation'];

/** The store's label for voxels outside the non-zero mask, and the padding of reads past the border. */
export const OUTSIDE_LABEL = -1;

export interface Sample {
  /** [C, d0, d1, d2] */
  data: Float32Array;
  /** [d0, d1, d2], −1 = ignore */
  seg: Int8Array;
  shape: Shape3;
  channels: number;
}

export type Mat3 = [number, number, number, number, number, number, number, number, number];

const IDENTITY: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

function matMul(a: Mat3, b: Mat3): Mat3 {
  const o = new Array<number>(9).fill(0) as Mat3;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) o[r * 3 + c] += a[r * 3 + k]! * b[k * 3 + c]!;
  return o;
}

/** Rotation by `angle` (radians) about array axis `axis`. */
export function rotationAbout(axis: number, angle: number): Mat3 {
  const c = Math.cos(angle), s = Math.sin(angle);
  if (axis === 0) return [1, 0, 0, 0, c, -s, 0, s, c];
  if (axis === 1) return [c, 0, s, 0, 1, 0, -s, 0, c];
  return [c, -s, 0, s, c, 0, 0, 0, 1];
}

/**
 * nnU-Net's in-plane rotation range for dummy-2D augmentation: `default_2D_augmentation_params`
 * rotation_x = ±180° (`default_data_augmentation.py`, line 100; used by `setup_DA_params`,
 * `nnUNetTrainerV2.py` line 363).
 */
export const DUMMY_2D_MAX_DEGREES = 180;

/**
 * Draws the spatial transform: output voxel offset o (from the patch centre) samples the source at
 * centre + M·o. Rotation (p per sample, every axis rotated by U(±max)) then scaling (p, one
 * isotropic factor; > 1 samples a larger region, as batchgenerators scales the coordinates).
 * With `aug.dummy_2d` (nnU-Net's `Convert3DTo2DTransform` → 2-D `SpatialTransform` → back,
 * `data_augmentation_moreDA.py` lines 59–82) the transform acts in the (d1, d2) plane only: one
 * rotation about axis 0 by U(±180°) and the scaling of the in-plane axes, the same for every slice,
 * so axis 0 maps onto itself. Returns null when neither applies.
 */
export function drawSpatial(rng: Rng, aug: Augmentation): Mat3 | null {
  let m: Mat3 | null = null;
  const dummy2d = aug.dummy_2d;
  if (rng.random() < aug.rotation.p) {
    m = IDENTITY;
    if (dummy2d) {
      const max = (DUMMY_2D_MAX_DEGREES * Math.PI) / 180;
      m = rotationAbout(0, rng.uniform(-max, max));
    } else {
      for (let axis = 0; axis < 3; axis++) {
        const max = (aug.rotation.max_degrees[axis]! * Math.PI) / 180;
        m = matMul(rotationAbout(axis, rng.uniform(-max, max)), m);
      }
    }
  }
  if (rng.random() < aug.scaling.p) {
    const s = rng.aroundOne(aug.scaling.range[0], aug.scaling.range[1]);
    m = (m ?? IDENTITY).map((v, i) => (dummy2d && i < 3 ? v : v * s)) as Mat3;
  }
  return m;
}

/** Source coordinate of output voxel `o` of a patch of size `patch` centred at `centre`. */
export function sourceCoord(m: Mat3, centre: readonly number[], patch: readonly number[], o: readonly number[], out: number[]): void {
  const d0 = o[0]! - (patch[0]! - 1) / 2, d1 = o[1]! - (patch[1]! - 1) / 2, d2 = o[2]! - (patch[2]! - 1) / 2;
  out[0] = centre[0]! + m[0] * d0 + m[1] * d1 + m[2] * d2;
  out[1] = centre[1]! + m[3] * d0 + m[4] * d1 + m[5] * d2;
  out[2] = centre[2]! + m[6] * d0 + m[7] * d1 + m[8] * d2;
}

/** Pole of the cubic B-spline prefilter, √3 − 2. */
const POLE = Math.sqrt(3) - 2;

/**
 * Cubic B-spline prefilter in place, with the mirror boundary that scipy's
 * `map_coordinates(order=3, mode='constant')` prefilters with (causal and anti-causal recursions,
 * exact mirror initialisations, gain 6): `cols` interleaved lines of length `n` stored as [n, cols]
 * from `offset` (so the inner loops run over contiguous memory).
 */
function prefilterLines(c: Float32Array, offset: number, n: number, cols: number, acc: Float64Array): void {
  if (n < 2) return;
  const z = POLE;
  const gain = (1 - z) * (1 - 1 / z);
  const end = offset + n * cols;
  for (let i = offset; i < end; i++) c[i]! *= gain;
  const zn1 = Math.pow(z, n - 1);
  const last = offset + (n - 1) * cols;
  for (let j = 0; j < cols; j++) acc[j] = c[offset + j]! + zn1 * c[last + j]!;
  let zi = z;
  for (let i = 1; i < n - 1; i++) {
    const row = offset + i * cols, mirror = offset + (n - 1 - i) * cols;
    for (let j = 0; j < cols; j++) acc[j]! += zi * (c[row + j]! + zn1 * c[mirror + j]!);
    zi *= z;
  }
  const inv = 1 / (1 - zn1 * zn1);
  for (let j = 0; j < cols; j++) c[offset + j] = acc[j]! * inv;
  for (let i = 1; i < n; i++) {
    const row = offset + i * cols, prev = row - cols;
    for (let j = 0; j < cols; j++) c[row + j]! += z * c[prev + j]!;
  }
  const k = z / (z * z - 1);
  for (let j = 0; j < cols; j++) c[last + j] = (z * c[last - cols + j]! + c[last + j]!) * k;
  for (let i = n - 2; i >= 0; i--) {
    const row = offset + i * cols, next = row + cols;
    for (let j = 0; j < cols; j++) c[row + j] = z * (c[next + j]! - c[row + j]!);
  }
}

/** The spline coefficients of one channel [S0, S1, S2] along `axes` (float32 storage). */
function splineCoefficients(x: Float32Array, shape: Shape3, axes: readonly number[]): Float32Array {
  const out = Float32Array.from(x);
  const [S0, S1, S2] = shape;
  const acc = new Float64Array(Math.max(S1 * S2, S2, 1));
  if (axes.includes(0)) prefilterLines(out, 0, S0, S1 * S2, acc);
  if (axes.includes(1)) for (let i = 0; i < S0; i++) prefilterLines(out, i * S1 * S2, S1, S2, acc);
  if (axes.includes(2) && S2 > 1) {
    // lines along the last axis: transpose blocks of [S1, S2] to [S2, S1], filter, transpose back
    const t = new Float32Array(S1 * S2);
    for (let i = 0; i < S0; i++) {
      const base = i * S1 * S2;
      for (let b = 0; b < S1; b++) for (let c = 0; c < S2; c++) t[c * S1 + b] = out[base + b * S2 + c]!;
      prefilterLines(t, 0, S2, S1, acc);
      for (let b = 0; b < S1; b++) for (let c = 0; c < S2; c++) out[base + b * S2 + c] = t[c * S1 + b]!;
    }
  }
  return out;
}

/** Mirror an index into [0, n − 1] (scipy's spline taps beyond the edge). */
function mirrorIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = Math.abs(i) % period;
  if (j >= n) j = period - j;
  return j;
}

/**
 * Resamples a loaded box `src` into a patch, as batchgenerators' `augment_spatial` with nnU-Net's
 * settings (`data_augmentation_moreDA.py`, lines 67–79; `augmentations/utils.py` interpolate_img):
 * output voxel o samples src at centre + M·(o − (patch − 1)/2) (coordinates in src's grid);
 * images by cubic B-spline interpolation (order 3; `map_coordinates(mode='constant', cval=0)`),
 * labels per label value by linear interpolation of its indicator (order 1, cval −1) thresholded at
 * 0.5, the highest such value winning. A coordinate outside the loaded box on any axis samples 0
 * for images and 0 for labels (every indicator there is −1 < 0.5): zooming out beyond the box gives
 * zeros, as in batchgenerators. With `inPlane` (dummy-2D augmentation) axis 0 maps onto itself and
 * each slice is interpolated in 2-D, as the 2-D transform on `Convert3DTo2DTransform`'s slices.
 */
export function resamplePatch(src: Sample, m: Mat3, centre: readonly number[], patch: Shape3, inPlane = false): Sample {
  const S = src.shape;
  const [S0, S1, S2] = S;
  const n = voxels(patch), ns = voxels(S);
  const data = new Float32Array(src.channels * n);
  const seg = new Int8Array(n);
  const coef = Array.from({ length: src.channels }, (_, c) => splineCoefficients(src.data.subarray(c * ns, (c + 1) * ns), S, inPlane ? [1, 2] : [0, 1, 2]));
  const s = [0, 0, 0];
  // per axis: cubic taps (index, weight) ×4, linear taps ×2
  const ci = new Int32Array(12), cw = new Float64Array(12);
  const li = new Int32Array(6), lw = new Float64Array(6);
  const labs = new Int32Array(8), wsum = new Float64Array(8);
  const h0 = (patch[0] - 1) / 2, h1 = (patch[1] - 1) / 2, h2 = (patch[2] - 1) / 2;
  let o = 0;
  for (let a = 0; a < patch[0]; a++)
    for (let b = 0; b < patch[1]; b++)
      for (let c = 0; c < patch[2]; c++, o++) {
        const d0 = a - h0, d1 = b - h1, d2 = c - h2;
        s[0] = centre[0]! + m[0] * d0 + m[1] * d1 + m[2] * d2;
        s[1] = centre[1]! + m[3] * d0 + m[4] * d1 + m[5] * d2;
        s[2] = centre[2]! + m[6] * d0 + m[7] * d1 + m[8] * d2;
        if (inPlane) s[0] = Math.round(s[0]!);
        if (!(s[0]! >= 0 && s[0]! <= S0 - 1 && s[1]! >= 0 && s[1]! <= S1 - 1 && s[2]! >= 0 && s[2]! <= S2 - 1)) continue; // data 0, label 0
        for (let ax = 0; ax < 3; ax++) {
          const x = s[ax]!, nAx = S[ax]!;
          const f = Math.floor(x), t = x - f, u = 1 - t;
          const k = 4 * ax;
          if (ax === 0 && inPlane) {
            ci[0] = ci[1] = ci[2] = ci[3] = f;
            cw[0] = 1; cw[1] = cw[2] = cw[3] = 0;
            li[0] = li[1] = f; lw[0] = 1; lw[1] = 0;
            continue;
          }
          if (f >= 1 && f + 2 <= nAx - 1) {
            ci[k] = f - 1; ci[k + 1] = f; ci[k + 2] = f + 1; ci[k + 3] = f + 2;
          } else {
            ci[k] = mirrorIndex(f - 1, nAx); ci[k + 1] = mirrorIndex(f, nAx); ci[k + 2] = mirrorIndex(f + 1, nAx); ci[k + 3] = mirrorIndex(f + 2, nAx);
          }
          cw[k] = (u * u * u) / 6;
          cw[k + 1] = 2 / 3 - t * t + (t * t * t) / 2;
          cw[k + 2] = 2 / 3 - u * u + (u * u * u) / 2;
          cw[k + 3] = (t * t * t) / 6;
          li[2 * ax] = f; lw[2 * ax] = u;
          li[2 * ax + 1] = f + 1 <= nAx - 1 ? f + 1 : mirrorIndex(f + 1, nAx); lw[2 * ax + 1] = t;
        }
        for (let ch = 0; ch < src.channels; ch++) {
          const cf = coef[ch]!;
          const r0 = ci[8]!, r1 = ci[9]!, r2 = ci[10]!, r3 = ci[11]!;
          const w0 = cw[8]!, w1 = cw[9]!, w2 = cw[10]!, w3 = cw[11]!;
          let acc = 0;
          for (let p = 0; p < 4; p++) {
            const wp = cw[p]!;
            if (wp === 0) continue;
            const plane = ci[p]! * S1;
            let accP = 0;
            for (let q = 0; q < 4; q++) {
              const row = (plane + ci[4 + q]!) * S2;
              accP += cw[4 + q]! * (w0 * cf[row + r0]! + w1 * cf[row + r1]! + w2 * cf[row + r2]! + w3 * cf[row + r3]!);
            }
            acc += wp * accP;
          }
          data[ch * n + o] = acc;
        }
        // labels: linear per label value, ≥ 0.5 wins, highest value last (np.unique order)
        let nl = 0;
        for (let p = 0; p < 2; p++) {
          const wp = lw[p]!;
          if (wp === 0) continue;
          for (let q = 0; q < 2; q++) {
            const wq = wp * lw[2 + q]!;
            if (wq === 0) continue;
            for (let r = 0; r < 2; r++) {
              const w = wq * lw[4 + r]!;
              if (w === 0) continue;
              const v = src.seg[(li[p]! * S1 + li[2 + q]!) * S2 + li[4 + r]!]!;
              let j = 0;
              while (j < nl && labs[j] !== v) j++;
              if (j === nl) { labs[nl] = v; wsum[nl++] = 0; }
              wsum[j]! += w;
            }
          }
        }
        let best = 0, found = false;
        for (let j = 0; j < nl; j++) if (wsum[j]! >= 0.5 && (!found || labs[j]! > best)) { best = labs[j]!; found = true; }
        seg[o] = found ? best : 0;
      }
  return { data, seg, shape: [...patch], channels: src.channels };
}

function channel(s: Sample, c: number): Float32Array {
  const n = voxels(s.shape);
  return s.data.subarray(c * n, (c + 1) * n);
}

/** Additive Gaussian noise; batchgenerators uses the drawn "variance" as the standard deviation. */
export function gaussianNoise(s: Sample, std: number, rng: Rng): void {
  for (let i = 0; i < s.data.length; i++) s.data[i] += std * rng.normal();
}

/** 1-D Gaussian taps, scipy's truncate = 4. */
function gaussianKernel(sigma: number): Float32Array {
  const r = Math.max(1, Math.floor(4 * sigma + 0.5));
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/** scipy's 'reflect' boundary (d c b a | a b c d | d c b a). */
function reflect(i: number, n: number): number {
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  return j < n ? j : period - 1 - j;
}

/** Separable Gaussian smoothing of one channel in place (scipy.ndimage.gaussian_filter, mode reflect). */
export function gaussianBlur(x: Float32Array, shape: Shape3, sigma: number): void {
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const strides = [shape[1] * shape[2], shape[2], 1];
  for (let axis = 0; axis < 3; axis++) {
    const n = shape[axis]!, st = strides[axis]!;
    const line = new Float32Array(n);
    const others = [0, 1, 2].filter((a) => a !== axis);
    for (let p = 0; p < shape[others[0]!]!; p++)
      for (let q = 0; q < shape[others[1]!]!; q++) {
        const base = p * strides[others[0]!]! + q * strides[others[1]!]!;
        for (let i = 0; i < n; i++) line[i] = x[base + i * st]!;
        for (let i = 0; i < n; i++) {
          let acc = 0;
          for (let t = -r; t <= r; t++) acc += k[t + r]! * line[reflect(i + t, n)]!;
          x[base + i * st] = acc;
        }
      }
  }
}

/** (x − mean)·f + mean, clipped to the channel's original range. */
export function contrast(x: Float32Array, factor: number): void {
  const { mean, min, max } = meanStd(x);
  for (let i = 0; i < x.length; i++) x[i] = Math.min(max, Math.max(min, (x[i]! - mean) * factor + mean));
}

/**
 * batchgenerators' `augment_linear_downsampling_scipy` as nnU-Net v1 calls it
 * (`augmentations/resample_augmentations.py`, lines 75–92; `data_augmentation_moreDA.py` line 98):
 * skimage `resize` to round(shape·zoom) with order 0, then back with order 3 (mode 'edge', no
 * anti-aliasing, clipped to the range), on the same resize as preprocessing. Axes in `ignoreAxes`
 * keep their length (`ignore_axes`: the coarse axis 0 under dummy-2D augmentation, line 101).
 */
export function lowResolution(x: Float32Array, shape: Shape3, zoom: number, ignoreAxes: readonly number[] = []): void {
  const small = shape.map((d, a) => (ignoreAxes.includes(a) ? d : Math.max(1, roundHalfEven(d * zoom)))) as Shape3;
  x.set(resizeImage(resizeImage(x, shape, small, 0), small, shape, 3));
}

/**
 * Gamma on the channel's range: rescale to [0, 1], ^γ, rescale back; optionally keep mean and
 * std; `invert` applies it to −x (then negates back).
 */
export function gamma(x: Float32Array, g: number, invert: boolean, retainStats: boolean): void {
  if (invert) for (let i = 0; i < x.length; i++) x[i] = -x[i]!;
  const before = meanStd(x);
  const range = before.max - before.min;
  for (let i = 0; i < x.length; i++) x[i] = Math.pow((x[i]! - before.min) / (range + 1e-7), g) * range + before.min;
  if (retainStats) {
    const after = meanStd(x);
    for (let i = 0; i < x.length; i++) x[i] = ((x[i]! - after.mean) / (after.std + 1e-8)) * before.std + before.mean;
  }
  if (invert) for (let i = 0; i < x.length; i++) x[i] = -x[i]!;
}

/** Flips images and labels along `axes`. */
export function mirror(s: Sample, axes: readonly number[]): void {
  for (const a of axes) {
    flipAxis(s.data, s.shape, a, s.channels);
    flipAxis(s.seg, s.shape, a, 1);
  }
}

/** Every transform after the spatial one, in nnU-Net's order, in place. */
export function augmentIntensities(s: Sample, rng: Rng, aug: Augmentation): void {
  if (rng.random() < aug.gaussian_noise.p) gaussianNoise(s, rng.uniform(aug.gaussian_noise.variance[0], aug.gaussian_noise.variance[1]), rng);
  if (rng.random() < aug.gaussian_blur.p) {
    for (let c = 0; c < s.channels; c++) {
      if (rng.random() < aug.gaussian_blur.p_per_channel) gaussianBlur(channel(s, c), s.shape, rng.uniform(aug.gaussian_blur.sigma[0], aug.gaussian_blur.sigma[1]));
    }
  }
  if (rng.random() < aug.brightness.p) {
    for (let c = 0; c < s.channels; c++) {
      const f = rng.uniform(aug.brightness.range[0], aug.brightness.range[1]);
      const x = channel(s, c);
      for (let i = 0; i < x.length; i++) x[i] *= f;
    }
  }
  if (rng.random() < aug.contrast.p) {
    for (let c = 0; c < s.channels; c++) contrast(channel(s, c), rng.aroundOne(aug.contrast.range[0], aug.contrast.range[1]));
  }
  if (rng.random() < aug.low_resolution.p) {
    for (let c = 0; c < s.channels; c++) {
      if (rng.random() < aug.low_resolution.p_per_channel)
        lowResolution(channel(s, c), s.shape, rng.uniform(aug.low_resolution.zoom[0], aug.low_resolution.zoom[1]), aug.dummy_2d ? [0] : []);
    }
  }
  for (const [cfg, invert] of [[aug.gamma_inverted, true], [aug.gamma, false]] as const) {
    if (rng.random() < cfg.p) {
      for (let c = 0; c < s.channels; c++) gamma(channel(s, c), rng.aroundOne(cfg.range[0], cfg.range[1]), invert, cfg.retain_stats);
    }
  }
  const flips = aug.mirror.axes.filter(() => rng.random() < aug.mirror.p_per_axis);
  mirror(s, flips);
}
