/**
 * nnU-Net's training augmentation (v1 `data_augmentation_moreDA.py` with MedNeXt's parameters, as
 * batchgenerators implements each transform), on host arrays: images [C, d0, d1, d2] float32,
 * labels [d0, d1, d2] int8 with −1 = outside the mask or the case. Order: rotation+scaling (one resampling), Gaussian
 * noise, Gaussian blur, brightness, contrast, low-resolution simulation, inverted gamma, gamma,
 * mirroring (then, in batch.ts, the mask and the −1 → 0 step). Every draw comes from the caller's seeded `Rng`.
 *
 * Where this differs from batchgenerators (on purpose, stated): images are resampled trilinearly
 * (batchgenerators: cubic spline), labels by nearest neighbour (batchgenerators: linear per label);
 * the low-resolution simulation upsamples linearly (batchgenerators: cubic).
 */
import type { Plans } from '../data/plan/plans.js';
import type { Rng } from './rng.js';
import { flipAxis, meanStd, resizeLinear, resizeNearest, voxels, type Shape3 } from './volume.js';

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

/** The integer box (half-open) a transformed patch reads from, one voxel of margin for linear taps. */
export function sourceBox(m: Mat3, centre: readonly number[], patch: readonly number[]): [[number, number], [number, number], [number, number]] {
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  const s = [0, 0, 0];
  for (let corner = 0; corner < 8; corner++) {
    const o = [corner & 1 ? patch[0]! - 1 : 0, corner & 2 ? patch[1]! - 1 : 0, corner & 4 ? patch[2]! - 1 : 0];
    sourceCoord(m, centre, patch, o, s);
    for (let a = 0; a < 3; a++) {
      lo[a] = Math.min(lo[a]!, s[a]!);
      hi[a] = Math.max(hi[a]!, s[a]!);
    }
  }
  return [0, 1, 2].map((a) => [Math.floor(lo[a]!), Math.floor(hi[a]!) + 2]) as [[number, number], [number, number], [number, number]];
}

/**
 * Resamples `src` (read over `box`) into a patch: images trilinear with 0 outside, labels nearest
 * with −1 outside.
 */
export function resamplePatch(src: Sample, box: [number, number][], m: Mat3, centre: readonly number[], patch: Shape3): Sample {
  const [S0, S1, S2] = src.shape;
  const n = voxels(patch), ns = voxels(src.shape);
  const data = new Float32Array(src.channels * n);
  const seg = new Int8Array(n);
  const s = [0, 0, 0];
  let o = 0;
  for (let a = 0; a < patch[0]; a++)
    for (let b = 0; b < patch[1]; b++)
      for (let c = 0; c < patch[2]; c++, o++) {
        sourceCoord(m, centre, patch, [a, b, c], s);
        const x = s[0]! - box[0]![0], y = s[1]! - box[1]![0], z = s[2]! - box[2]![0];
        // labels: nearest
        const rx = Math.round(x), ry = Math.round(y), rz = Math.round(z);
        seg[o] = rx >= 0 && rx < S0 && ry >= 0 && ry < S1 && rz >= 0 && rz < S2 ? src.seg[(rx * S1 + ry) * S2 + rz]! : OUTSIDE_LABEL;
        // images: trilinear, constant 0 outside
        const x0 = Math.floor(x), y0 = Math.floor(y), z0 = Math.floor(z);
        const fx = x - x0, fy = y - y0, fz = z - z0;
        for (let ch = 0; ch < src.channels; ch++) {
          let acc = 0;
          for (let t = 0; t < 8; t++) {
            const xi = x0 + (t & 1), yi = y0 + ((t >> 1) & 1), zi = z0 + ((t >> 2) & 1);
            if (xi < 0 || xi >= S0 || yi < 0 || yi >= S1 || zi < 0 || zi >= S2) continue;
            const w = (t & 1 ? fx : 1 - fx) * ((t >> 1) & 1 ? fy : 1 - fy) * ((t >> 2) & 1 ? fz : 1 - fz);
            if (w !== 0) acc += w * src.data[ch * ns + (xi * S1 + yi) * S2 + zi]!;
          }
          data[ch * n + o] = acc;
        }
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
 * Downsample by nearest neighbour to round(shape·zoom), then back up (linear). Axes in
 * `ignoreAxes` keep their length (batchgenerators' `ignore_axes`: the coarse axis 0 under dummy-2D
 * augmentation, `data_augmentation_moreDA.py` line 101).
 */
export function lowResolution(x: Float32Array, shape: Shape3, zoom: number, ignoreAxes: readonly number[] = []): void {
  const small = shape.map((d, a) => (ignoreAxes.includes(a) ? d : Math.max(1, Math.round(d * zoom)))) as Shape3;
  x.set(resizeLinear(resizeNearest(x, shape, small), small, shape));
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
