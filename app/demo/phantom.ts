import { SeededRandom } from './random.js';

/**
 * A synthetic abdomen-like CT phantom: one case is an anatomy (body wall, spine, vessels, spleen,
 * liver with lesions, two kidneys with cortex and medulla) drawn in world millimetres (RAS+) and
 * sampled on a slightly rotated, anisotropic voxel grid, with slice-thickness averaging, in-plane
 * blur (partial volume) and Gaussian noise, in Hounsfield units.
 *
 * Only liver, kidney and lesion are labelled. The unlabelled spleen has the liver's intensity, the
 * aorta and the vena cava overlap the kidney's, and lesions (20–40 HU below the liver) overlap the
 * bowel-like filler around the organs, so intensity alone cannot separate the classes: a model must
 * use shape and context.
 */

export const PHANTOM_LABELS = { background: 0, liver: 1, kidney: 2, lesion: 3 } as const;

export type Vec3 = [number, number, number];

export interface PhantomCase {
  /** [X, Y, Z] voxels, x fastest in the arrays. */
  shape: Vec3;
  /** Voxel sizes in mm. */
  spacing: Vec3;
  /** Voxel (i, j, k) → world RAS+ mm, 4×4. */
  affine: number[][];
  /** Hounsfield units, rounded to integers and clamped to the int16-with-offset range [-1024, 3071]. */
  hu: Float32Array;
  label: Uint8Array;
}

export interface PhantomOptions {
  /** In-plane voxels (both x and y) drawn from this range; default [88, 104]. */
  inPlane?: [number, number];
  /** Slices drawn from this range; default [28, 36]. */
  slices?: [number, number];
}

/** A smoothly deformed, rotated ellipsoid: f < 0 inside, f ≈ normalised radius − 1. */
interface Blob {
  center: Vec3;
  radii: Vec3;
  /** Rotation about the z axis (radians). */
  angle: number;
  waves: { k: Vec3; amp: number; phase: number }[];
  /** Skip distance: beyond it the point is certainly outside. */
  reach: number;
}

function makeBlob(rng: SeededRandom, center: Vec3, radii: Vec3, angle: number, roughness: number): Blob {
  const waves = Array.from({ length: 3 }, () => ({
    k: [rng.uniform(-2.5, 2.5), rng.uniform(-2.5, 2.5), rng.uniform(-2, 2)] as Vec3,
    amp: roughness * rng.uniform(0.4, 1),
    phase: rng.uniform(0, 2 * Math.PI),
  }));
  const deform = waves.reduce((a, w) => a + w.amp, 0);
  return { center, radii, angle, waves, reach: Math.max(...radii) * (1 + deform) + 1 };
}

/** Blob-local normalised coordinates of world point (x, y, z), or null when clearly outside. */
function blobLocal(b: Blob, x: number, y: number, z: number, out: Vec3): boolean {
  const dx = x - b.center[0], dy = y - b.center[1], dz = z - b.center[2];
  if (Math.abs(dx) > b.reach || Math.abs(dy) > b.reach || Math.abs(dz) > b.reach) return false;
  const c = Math.cos(b.angle), s = Math.sin(b.angle);
  out[0] = (c * dx + s * dy) / b.radii[0];
  out[1] = (-s * dx + c * dy) / b.radii[1];
  out[2] = dz / b.radii[2];
  return true;
}

function blobField(b: Blob, q: Vec3): number {
  let d = 0;
  for (const w of b.waves) d += w.amp * Math.sin(w.k[0] * q[0] + w.k[1] * q[1] + w.k[2] * q[2] + w.phase);
  return Math.hypot(q[0], q[1], q[2]) - 1 - d;
}

/** Everything that varies from case to case, drawn once from the case's random stream. */
interface Anatomy {
  bodyA: number; bodyB: number; bodyWaveA: number; bodyWaveB: number; bodyPhase: number[];
  fat: number; muscle: number;
  hu: { fat: number; muscle: number; liver: number; spleen: number; cortex: number; medulla: number; aorta: number; ivc: number; bone: number; marrow: number; sinus: number };
  fill: { k: Vec3; phase: number }[];
  liverTexture: { k: Vec3; phase: number };
  spine: { x: number; y: number; r: number };
  paraspinal: Blob[];
  aorta: { x: number; y: number; r: number };
  ivc: { x: number; y: number; r: number };
  spleen: Blob;
  liver: Blob;
  lesions: { blob: Blob; hu: number }[];
  kidneys: { blob: Blob; medial: number; pyramids: number; phase: number }[];
}

function drawAnatomy(rng: SeededRandom, fovX: number, fovY: number, fovZ: number): Anatomy {
  // Reference body: half-axes 32 × 24 mm; every position scales with the drawn body.
  const bodyA = Math.min(fovX, fovY) * rng.uniform(0.38, 0.43);
  const bodyB = bodyA * rng.uniform(0.72, 0.82);
  const sx = bodyA / 32, sy = bodyB / 24;
  const zShift = rng.uniform(-5, 5);
  const liverHu = rng.uniform(55, 70);
  const hu = {
    fat: rng.uniform(-110, -90), muscle: rng.uniform(40, 55), liver: liverHu,
    spleen: liverHu + rng.uniform(-12, 0), cortex: rng.uniform(150, 180), medulla: rng.uniform(95, 120),
    aorta: rng.uniform(130, 170), ivc: rng.uniform(90, 115), bone: rng.uniform(500, 700), marrow: rng.uniform(200, 280),
    sinus: rng.uniform(-60, -20),
  };
  const wave = (scale: number) => ({
    k: [rng.uniform(-1, 1) * scale, rng.uniform(-1, 1) * scale, rng.uniform(-0.5, 0.5) * scale] as Vec3,
    phase: rng.uniform(0, 2 * Math.PI),
  });
  const liver = makeBlob(rng, [sx * rng.uniform(11, 15), sy * rng.uniform(2, 6), 12 + zShift + rng.uniform(-3, 3)],
    [sx * rng.uniform(13, 17), sy * rng.uniform(12, 15), rng.uniform(22, 28)], rng.uniform(-0.25, 0.25), 0.12);
  const lesions: Anatomy['lesions'] = [];
  const nLesions = rng.int(1, 2);
  const local: Vec3 = [0, 0, 0];
  // Lesions lie wholly inside the imaged slab (the grid centre is within 3 mm of z = 0, tilt ≤ 4°).
  const zLimit = fovZ / 2 - 5;
  for (let tries = 0; lesions.length < nLesions && tries < 400; tries++) {
    // A point well inside the liver (checked against the deformed surface), lesion radius 5–8 mm
    // (smaller after many failed tries, so that every case has a lesion).
    const c: Vec3 = [
      liver.center[0] + rng.uniform(-0.6, 0.6) * liver.radii[0],
      liver.center[1] + rng.uniform(-0.6, 0.6) * liver.radii[1],
      liver.center[2] + rng.uniform(-0.5, 0.5) * liver.radii[2],
    ];
    const r = rng.uniform(5, 8) * (tries < 200 ? 1 : 0.6);
    blobLocal(liver, c[0], c[1], c[2], local);
    const depth = -blobField(liver, local) * Math.min(liver.radii[0], liver.radii[1]);
    if (depth < r + 1.5) continue;
    if (Math.abs(c[2]) > zLimit - r) continue;
    const blob = makeBlob(rng, c, [r * rng.uniform(0.85, 1.15), r * rng.uniform(0.85, 1.15), r * rng.uniform(0.9, 1.3)], rng.uniform(0, Math.PI), 0.1);
    if (lesions.some((l) => Math.hypot(l.blob.center[0] - c[0], l.blob.center[1] - c[1], l.blob.center[2] - c[2]) < l.blob.reach + blob.reach)) continue;
    lesions.push({ blob, hu: liverHu - rng.uniform(20, 38) });
  }
  const kidneys: Anatomy['kidneys'] = [1, -1].map((side) => ({
    blob: makeBlob(rng, [side * sx * rng.uniform(12.5, 15), sy * rng.uniform(-10, -7), (side > 0 ? -10 : -4) + zShift + rng.uniform(-4, 4)],
      [rng.uniform(4.8, 6), rng.uniform(6.5, 8), rng.uniform(10, 13)], side * rng.uniform(0.25, 0.55), 0.06),
    medial: side,
    pyramids: rng.int(4, 6),
    phase: rng.uniform(0, 2 * Math.PI),
  }));
  return {
    bodyA, bodyB, bodyWaveA: rng.uniform(0.03, 0.07), bodyWaveB: rng.uniform(0.02, 0.05),
    bodyPhase: [rng.uniform(0, 6.28), rng.uniform(0, 6.28), rng.uniform(0, 6.28)],
    fat: rng.uniform(2.5, 4.5), muscle: rng.uniform(2, 3), hu,
    fill: [wave(0.35), wave(0.25), wave(0.5)],
    liverTexture: wave(0.3),
    spine: { x: rng.uniform(-1, 1), y: -sy * rng.uniform(14, 16), r: rng.uniform(4, 5.2) },
    paraspinal: [1, -1].map((side) => makeBlob(rng, [side * rng.uniform(7, 9), -sy * 17, 0], [rng.uniform(5, 6.5), rng.uniform(3.5, 4.5), 200], 0, 0.03)),
    aorta: { x: -rng.uniform(3, 5), y: -sy * rng.uniform(4, 6), r: rng.uniform(3.5, 4.8) },
    ivc: { x: rng.uniform(4, 6), y: -sy * rng.uniform(3, 5), r: rng.uniform(3, 4) },
    spleen: makeBlob(rng, [-sx * rng.uniform(15, 19), sy * rng.uniform(-5, 0), 16 + zShift + rng.uniform(-3, 3)],
      [rng.uniform(6, 8), rng.uniform(8, 10), rng.uniform(13, 17)], -rng.uniform(0.3, 0.7), 0.1),
    liver, lesions, kidneys,
  };
}

/** Intensity (HU) and label of world point (x, y, z). */
function sample(an: Anatomy, x: number, y: number, z: number, q: Vec3): { hu: number; label: number } {
  // Body outline: an ellipse whose half-axes vary slowly along z, flatter at the back.
  const a = an.bodyA * (1 + an.bodyWaveA * Math.sin(z / 23 + an.bodyPhase[0]!));
  const b = an.bodyB * (1 + an.bodyWaveB * Math.sin(z / 31 + an.bodyPhase[1]!)) * (y < 0 ? 0.88 : 1);
  const theta = Math.atan2(y / b, x / a);
  const rho = Math.hypot(x / a, y / b) * (1 + 0.03 * Math.cos(2 * theta + an.bodyPhase[2]!));
  if (rho >= 1) return { hu: -1000, label: 0 };
  const depth = (1 - rho) * Math.min(a, b);
  let hu: number;
  let label = 0;
  const interior = depth > an.fat + an.muscle;
  if (depth < an.fat) hu = an.hu.fat;
  else if (!interior) hu = an.hu.muscle;
  else {
    // Bowel and mesenteric fat: a smooth mixture between fat and soft tissue.
    let f = 0;
    for (const w of an.fill) f += Math.sin(w.k[0] * x + w.k[1] * y + w.k[2] * z + w.phase);
    const t = Math.min(1, Math.max(0, 0.5 + f / 3));
    hu = -70 + 95 * t * t * (3 - 2 * t);
  }
  for (const m of an.paraspinal) if (blobLocal(m, x, y, z, q) && blobField(m, q) < 0) hu = an.hu.muscle;
  if (interior) {
    if (blobLocal(an.spleen, x, y, z, q) && blobField(an.spleen, q) < 0) hu = an.hu.spleen;
    if (Math.hypot(x - an.ivc.x, (y - an.ivc.y) * 1.3) < an.ivc.r) hu = an.hu.ivc;
    if (Math.hypot(x - an.aorta.x, y - an.aorta.y) < an.aorta.r) hu = an.hu.aorta;
    if (blobLocal(an.liver, x, y, z, q) && blobField(an.liver, q) < 0) {
      const w = an.liverTexture;
      hu = an.hu.liver + 4 * Math.sin(w.k[0] * x + w.k[1] * y + w.k[2] * z + w.phase);
      label = PHANTOM_LABELS.liver;
      for (const l of an.lesions) {
        if (blobLocal(l.blob, x, y, z, q) && blobField(l.blob, q) < 0) {
          hu = l.hu;
          label = PHANTOM_LABELS.lesion;
        }
      }
    }
  }
  for (const k of an.kidneys) {
    if (!blobLocal(k.blob, x, y, z, q)) continue;
    const f = blobField(k.blob, q);
    if (f >= 0) continue;
    // The hilum: a notch on the medial side holding renal-sinus fat, outside the kidney label.
    const towardsMidline = -k.medial * q[0];
    if (towardsMidline > 0.45 && Math.abs(q[1]) < 0.3 && Math.abs(q[2]) < 0.45) {
      hu = an.hu.sinus;
      label = 0;
      continue;
    }
    // Cortex outside, medullary pyramids inside separated by columns of cortex.
    const pyramid = Math.sin(k.pyramids * Math.atan2(q[2], q[1]) + k.phase) > -0.2;
    hu = f > -0.3 || !pyramid ? an.hu.cortex : an.hu.medulla;
    label = PHANTOM_LABELS.kidney;
  }
  const dx = x - an.spine.x, dy = y - an.spine.y;
  const rs = Math.hypot(dx, dy);
  if (rs < an.spine.r) {
    hu = rs > an.spine.r - 1.2 ? an.hu.bone : an.hu.marrow;
    label = 0;
  }
  return { hu, label };
}

function matmul3(a: number[][], b: number[][]): number[][] {
  return [0, 1, 2].map((r) => [0, 1, 2].map((c) => a[r]![0]! * b[0]![c]! + a[r]![1]! * b[1]![c]! + a[r]![2]! * b[2]![c]!));
}

/** Case geometry: LPS-stored like most CT (i → patient left, j → posterior), tilted a few degrees. */
function drawGeometry(rng: SeededRandom, opts: PhantomOptions): { shape: Vec3; spacing: Vec3; affine: number[][] } {
  const [n0, n1] = opts.inPlane ?? [88, 104];
  const [z0, z1] = opts.slices ?? [28, 36];
  const n = 2 * rng.int(Math.ceil(n0 / 2), Math.floor(n1 / 2));
  const shape: Vec3 = [n, n, rng.int(z0, z1)];
  const inPlane = Math.round(rng.uniform(0.74, 0.86) * 1000) / 1000;
  const spacing: Vec3 = [inPlane, inPlane, 2.5];
  const yaw = rng.uniform(-6, 6) * Math.PI / 180;
  const tilt = rng.uniform(-4, 4) * Math.PI / 180;
  const rz = [[Math.cos(yaw), -Math.sin(yaw), 0], [Math.sin(yaw), Math.cos(yaw), 0], [0, 0, 1]];
  const rx = [[1, 0, 0], [0, Math.cos(tilt), -Math.sin(tilt)], [0, Math.sin(tilt), Math.cos(tilt)]];
  const r = matmul3(rz, rx);
  const m = matmul3(r, [[-spacing[0], 0, 0], [0, -spacing[1], 0], [0, 0, spacing[2]]]);
  // The grid's centre lands a few mm off the body's centre.
  const centre: Vec3 = [rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3)];
  const mid = shape.map((s) => (s - 1) / 2);
  const affine = [0, 1, 2].map((row) => [
    m[row]![0]!, m[row]![1]!, m[row]![2]!,
    centre[row]! - (m[row]![0]! * mid[0]! + m[row]![1]! * mid[1]! + m[row]![2]! * mid[2]!),
  ]);
  affine.push([0, 0, 0, 1]);
  return { shape, spacing, affine };
}

/** Slice-thickness samples per voxel along z (partial volume across the 2.5 mm slice). */
const Z_SAMPLES = [-1 / 3, 0, 1 / 3];

/** One phantom case, fully determined by `seed`. */
export function generatePhantom(seed: number, opts: PhantomOptions = {}): PhantomCase {
  const rng = new SeededRandom(seed);
  const { shape, spacing, affine } = drawGeometry(rng, opts);
  const [X, Y, Z] = shape;
  const an = drawAnatomy(rng, X * spacing[0], Y * spacing[1], Z * spacing[2]);
  const noise = rng.uniform(10, 16);
  const n = X * Y * Z;
  const raw = new Float32Array(n);
  const label = new Uint8Array(n);
  const q: Vec3 = [0, 0, 0];
  const A = affine;
  for (let k = 0; k < Z; k++) {
    for (let j = 0; j < Y; j++) {
      for (let i = 0; i < X; i++) {
        const idx = i + X * (j + Y * k);
        let sum = 0;
        for (const dk of Z_SAMPLES) {
          const kk = k + dk;
          const x = A[0]![0]! * i + A[0]![1]! * j + A[0]![2]! * kk + A[0]![3]!;
          const y = A[1]![0]! * i + A[1]![1]! * j + A[1]![2]! * kk + A[1]![3]!;
          const z = A[2]![0]! * i + A[2]![1]! * j + A[2]![2]! * kk + A[2]![3]!;
          const s = sample(an, x, y, z, q);
          sum += s.hu;
          if (dk === 0) label[idx] = s.label;
        }
        raw[idx] = sum / Z_SAMPLES.length;
      }
    }
  }
  const blurred = blurInPlane(raw, X, Y, Z, 0.6);
  const hu = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.round(blurred[i]! + noise * rng.normal());
    hu[i] = Math.min(3071, Math.max(-1024, v));
  }
  return { shape, spacing, affine, hu, label };
}

/** Separable Gaussian blur along x and y (the scanner's in-plane point spread). */
function blurInPlane(src: Float32Array, X: number, Y: number, Z: number, sigma: number): Float32Array {
  const radius = Math.ceil(3 * sigma);
  const w: number[] = [];
  for (let d = -radius; d <= radius; d++) w.push(Math.exp(-(d * d) / (2 * sigma * sigma)));
  const total = w.reduce((a, b) => a + b, 0);
  const kernel = w.map((v) => v / total);
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  const clamp = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  for (let k = 0; k < Z; k++) for (let j = 0; j < Y; j++) {
    const row = X * (j + Y * k);
    for (let i = 0; i < X; i++) {
      let s = 0;
      for (let d = -radius; d <= radius; d++) s += kernel[d + radius]! * src[row + clamp(i + d, X - 1)]!;
      tmp[row + i] = s;
    }
  }
  for (let k = 0; k < Z; k++) for (let i = 0; i < X; i++) {
    for (let j = 0; j < Y; j++) {
      let s = 0;
      for (let d = -radius; d <= radius; d++) s += kernel[d + radius]! * tmp[i + X * (clamp(j + d, Y - 1) + Y * k)]!;
      out[i + X * (j + Y * k)] = s;
    }
  }
  return out;
}
