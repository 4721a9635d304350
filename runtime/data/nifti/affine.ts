import type { NiftiHeader } from './types.js';

/**
 * Voxel-to-world geometry, with nibabel's conventions: world is RAS+ mm; the affine is the sform
 * when sform_code > 0, else the qform when qform_code > 0, else nibabel's "base affine" built from
 * the voxel sizes alone (x flipped, centred on the volume).
 */

type Mat3 = number[][];

/** nibabel's threshold for a quaternion whose implied w² is slightly negative from float32 rounding. */
const QUATERNION_THRESHOLD = 3 * 1.1920928955078125e-7;

export function affineFromHeader(h: NiftiHeader, shape: number[]): number[][] {
  if (h.sformCode > 0) return [...h.srow.map((r) => [...r]), [0, 0, 0, 1]];
  if (h.qformCode > 0) return qformAffine(h);
  return baseAffine(shape, h.pixdim.slice(1, 4));
}

/** The qform: rotation from the quaternion (b, c, d), voxel sizes, qfac = sign of pixdim[0]. */
export function qformAffine(h: NiftiHeader): number[][] {
  const [b, c, d, qx, qy, qz] = h.quatern;
  // nibabel fillpositive: |w²| below 3 float32 epsilons is rounding, so w = 0 (a 180° rotation).
  const w2 = 1 - (b * b + c * c + d * d);
  const a = Math.abs(w2) < QUATERNION_THRESHOLD ? 0 : Math.sqrt(Math.max(w2, 0));
  const R = quaternionToMatrix(a, b, c, d);
  const qfac = h.pixdim[0]! < 0 ? -1 : 1;
  const zooms = [1, 2, 3].map((i) => Math.abs(h.pixdim[i]!));
  zooms[2]! *= qfac;
  return [
    [R[0]![0]! * zooms[0]!, R[0]![1]! * zooms[1]!, R[0]![2]! * zooms[2]!, qx],
    [R[1]![0]! * zooms[0]!, R[1]![1]! * zooms[1]!, R[1]![2]! * zooms[2]!, qy],
    [R[2]![0]! * zooms[0]!, R[2]![1]! * zooms[1]!, R[2]![2]! * zooms[2]!, qz],
    [0, 0, 0, 1],
  ];
}

/** nibabel's `shape_zoom_affine(shape, zooms, x_flip=True)`: used when neither code is set. */
export function baseAffine(shape: number[], pixdim: number[]): number[][] {
  const s = [0, 1, 2].map((i) => shape[i] ?? 1);
  const z = [0, 1, 2].map((i) => pixdim[i] ?? 1);
  z[0] = -z[0]!;
  return [
    [z[0]!, 0, 0, -((s[0]! - 1) / 2) * z[0]!],
    [0, z[1]!, 0, -((s[1]! - 1) / 2) * z[1]!],
    [0, 0, z[2]!, -((s[2]! - 1) / 2) * z[2]!],
    [0, 0, 0, 1],
  ];
}

function quaternionToMatrix(w: number, x: number, y: number, z: number): Mat3 {
  const n = w * w + x * x + y * y + z * z;
  if (n < 1e-300) return [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const s = 2 / n;
  const X = x * s, Y = y * s, Z = z * s;
  const wX = w * X, wY = w * Y, wZ = w * Z;
  const xX = x * X, xY = x * Y, xZ = x * Z;
  const yY = y * Y, yZ = y * Z, zZ = z * Z;
  return [
    [1 - (yY + zZ), xY - wZ, xZ + wY],
    [xY + wZ, 1 - (xX + zZ), yZ - wX],
    [xZ - wY, yZ + wX, 1 - (xX + yY)],
  ];
}

function det3(m: Mat3): number {
  return (
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) -
    m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) +
    m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!)
  );
}

/** Inverse-transpose of a 3×3 matrix (null when singular). */
function invT3(m: Mat3): Mat3 | null {
  const d = det3(m);
  if (!Number.isFinite(d) || Math.abs(d) < 1e-12) return null;
  const c = (r: number, k: number) => {
    const rows = [0, 1, 2].filter((i) => i !== r);
    const cols = [0, 1, 2].filter((i) => i !== k);
    const v = m[rows[0]!]![cols[0]!]! * m[rows[1]!]![cols[1]!]! - m[rows[0]!]![cols[1]!]! * m[rows[1]!]![cols[0]!]!;
    return ((r + k) % 2 === 0 ? 1 : -1) * v;
  };
  // cofactor matrix / det = inverse transpose
  return [0, 1, 2].map((r) => [0, 1, 2].map((k) => c(r, k) / d));
}

/**
 * The orthogonal matrix nearest to m (polar factor, = U·Vᵀ of the SVD), by Newton iteration
 * R ← (R + R⁻ᵀ)/2, which converges quadratically for a non-singular m.
 */
export function nearestOrthogonal(m: Mat3): Mat3 {
  let r = m.map((row) => [...row]);
  for (let it = 0; it < 60; it++) {
    const inv = invT3(r);
    if (!inv) return r;
    const next = r.map((row, i) => row.map((v, j) => (v + inv[i]![j]!) / 2));
    const delta = Math.max(...next.flat().map((v, k) => Math.abs(v - r.flat()[k]!)));
    r = next;
    if (delta < 1e-15) break;
  }
  return r;
}

/** Voxel sizes implied by an affine: the lengths of its first three columns. */
export function affineZooms(affine: number[][]): number[] {
  return [0, 1, 2].map((c) => Math.hypot(affine[0]![c]!, affine[1]![c]!, affine[2]![c]!));
}

/**
 * Axis codes of an affine, as nibabel's `aff2axcodes`: for each voxel axis, the world direction it
 * points to (R/L, A/P, S/I). E.g. "LPS": i runs to the Left, j to Posterior, k to Superior.
 * A voxel axis with no direction (zero column) gets "?".
 */
export function orientationCode(affine: number[][]): string {
  const zooms = affineZooms(affine).map((z) => (z === 0 ? 1 : z));
  const rs = [0, 1, 2].map((r) => [0, 1, 2].map((c) => affine[r]![c]! / zooms[c]!));
  const R = nearestOrthogonal(rs);
  const labels = [['L', 'R'], ['P', 'A'], ['I', 'S']];
  // nibabel io_orientation: voxel axes in order each claim the world axis they move along most,
  // and a claimed world axis is removed from consideration (so two voxel axes never share one).
  const out: string[] = [];
  for (let col = 0; col < 3; col++) {
    const column = [0, 1, 2].map((row) => R[row]![col]!);
    if (column.every((v) => Math.abs(v) < 1e-8)) {
      out.push('?');
      continue;
    }
    let row = 0;
    for (let k = 1; k < 3; k++) if (Math.abs(column[k]!) > Math.abs(column[row]!)) row = k;
    out.push(labels[row]![column[row]! < 0 ? 0 : 1]!);
    R[row] = [0, 0, 0];
  }
  const code = out.join('');
  return code;
}

/**
 * The qform (quaternion, offset, qfac, voxel sizes) nearest to an affine, as NIfTI writers store
 * it next to the exact sform. A left-handed affine flips the third axis (qfac = -1).
 */
export function quaternionFromAffine(affine: number[][]): {
  quatern: [number, number, number, number, number, number];
  qfac: number;
  zooms: number[];
} {
  const zooms = affineZooms(affine).map((z) => (z === 0 ? 1 : z));
  let m = [0, 1, 2].map((r) => [0, 1, 2].map((c) => affine[r]![c]! / zooms[c]!));
  let qfac = 1;
  if (det3(m) < 0) {
    qfac = -1;
    m = m.map((row) => [row[0]!, row[1]!, -row[2]!]);
  }
  const R = nearestOrthogonal(m);
  // Rotation matrix → unit quaternion (a ≥ 0), branch on the largest diagonal term for stability.
  const [r00, r01, r02] = R[0]!, [r10, r11, r12] = R[1]!, [r20, r21, r22] = R[2]!;
  const trace = r00! + r11! + r22!;
  let a: number, b: number, c: number, d: number;
  if (trace > 0) {
    const s = 2 * Math.sqrt(1 + trace);
    a = s / 4; b = (r21! - r12!) / s; c = (r02! - r20!) / s; d = (r10! - r01!) / s;
  } else if (r00! > r11! && r00! > r22!) {
    const s = 2 * Math.sqrt(1 + r00! - r11! - r22!);
    a = (r21! - r12!) / s; b = s / 4; c = (r01! + r10!) / s; d = (r02! + r20!) / s;
  } else if (r11! > r22!) {
    const s = 2 * Math.sqrt(1 + r11! - r00! - r22!);
    a = (r02! - r20!) / s; b = (r01! + r10!) / s; c = s / 4; d = (r12! + r21!) / s;
  } else {
    const s = 2 * Math.sqrt(1 + r22! - r00! - r11!);
    a = (r10! - r01!) / s; b = (r02! + r20!) / s; c = (r12! + r21!) / s; d = s / 4;
  }
  if (a < 0) { b = -b; c = -c; d = -d; }
  return { quatern: [b, c, d, affine[0]![3]!, affine[1]![3]!, affine[2]![3]!], qfac, zooms };
}
