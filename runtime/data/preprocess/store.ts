/**
 * The preprocessed case store. Each case is three files in the output folder:
 *
 *   {id}.json      header: format, shapes, dtypes, file names, and the case properties (everything
 *                  needed to undo the preprocessing, plus the sampled foreground locations)
 *   {id}.data.f32  image, float32 little-endian, C order [C, d0, d1, d2] (channel-major)
 *   {id}.seg.i8    labels, int8, C order [d0, d1, d2]; −1 = outside the non-zero region
 *
 * Raw arrays at known offsets let a training sampler read one patch by byte ranges (one read per
 * (channel, d0, d1-run)) without loading the volume. The JSON is written last and atomically, so its
 * presence means the case is complete.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { PreprocessedError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import type { Box3 } from './crop.js';
import type { Plans } from '../plan/plans.js';

export type Triple = [number, number, number];

export const CASE_FORMAT = 'mnxc-preprocessed-case';

export interface CaseProperties {
  id: string;
  /** Source files, as given by the dataset (image channels in order, then the label if any). */
  source: { images: string[]; label: string | null };
  /** The original grid: array-order shape and spacing, the voxel→RAS affine and the NIfTI header. */
  original: { shape: Triple; spacing: Triple; affine: number[][]; header: Record<string, unknown> };
  /** Half-open crop box in original array coordinates. */
  crop_box: Box3;
  shape_after_cropping: Triple;
  /** prod(shape_after_cropping) / prod(original shape). */
  size_reduction: number;
  spacing_after_resampling: Triple;
  shape_after_resampling: Triple;
  /** The axis resampled with nearest neighbour (nnU-Net's "separate z"), or null. */
  separate_axis: number | null;
  /** Label values present in the source label file (−1 excluded). */
  classes: number[];
  /**
   * Per foreground class, sampled voxel positions in the preprocessed grid as a flat list
   * [d0, d1, d2, d0, d1, d2, …]: up to max_per_class, at least min_fraction of the class.
   */
  class_locations: Record<string, number[]>;
}

export interface CaseHeader {
  format: typeof CASE_FORMAT;
  version: 1;
  /** Hash of the plans' preprocessing section the case was made with (re-runs redo stale cases). */
  plans_hash: string;
  data: { file: string; dtype: 'float32'; shape: [number, number, number, number] };
  seg: { file: string; dtype: 'int8'; shape: Triple } | null;
  properties: CaseProperties;
}

export function caseFiles(dir: string, id: string) {
  return { header: join(dir, `${id}.json`), data: join(dir, `${id}.data.f32`), seg: join(dir, `${id}.seg.i8`) };
}

/** Writes the arrays, then the header (last, atomic). */
export function writeCase(dir: string, header: Omit<CaseHeader, 'data' | 'seg' | 'format' | 'version'>, data: Float32Array, channels: number, seg: Int8Array | null): CaseHeader {
  const id = header.properties.id;
  const files = caseFiles(dir, id);
  const shape = header.properties.shape_after_resampling;
  const full: CaseHeader = {
    format: CASE_FORMAT,
    version: 1,
    plans_hash: header.plans_hash,
    data: { file: `${id}.data.f32`, dtype: 'float32', shape: [channels, ...shape] },
    seg: seg ? { file: `${id}.seg.i8`, dtype: 'int8', shape } : null,
    properties: header.properties,
  };
  writeFileAtomic(files.data, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (seg) writeFileAtomic(files.seg, new Uint8Array(seg.buffer, seg.byteOffset, seg.byteLength));
  writeFileAtomic(files.header, JSON.stringify(full) + '\n');
  return full;
}

export function readCaseHeader(dir: string, id: string): CaseHeader {
  const path = caseFiles(dir, id).header;
  let h: CaseHeader;
  try {
    h = JSON.parse(readFileSync(path, 'utf8')) as CaseHeader;
  } catch (e) {
    throw new PreprocessedError(`${path}: cannot read the preprocessed case: ${(e as Error).message}`);
  }
  if (h.format !== CASE_FORMAT) throw new PreprocessedError(`${path}: not a preprocessed case (format is ${JSON.stringify(h.format)})`);
  return h;
}

/** Ids of the complete cases in a preprocessed folder, sorted. */
export function listPreprocessedCases(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.') && f !== 'splits_final.json' && f !== 'dataset_fingerprint.json')
    .map((f) => f.slice(0, -'.json'.length))
    .filter((id) => existsSync(caseFiles(dir, id).data))
    .sort();
}

function readExact(path: string, expectBytes: number): Buffer {
  const buf = readFileSync(path);
  if (buf.byteLength !== expectBytes) throw new PreprocessedError(`${path}: has ${buf.byteLength} bytes, the header says ${expectBytes}`);
  return buf;
}

/** The whole case in memory. */
export function readCase(dir: string, id: string): { header: CaseHeader; data: Float32Array; seg: Int8Array | null } {
  const header = readCaseHeader(dir, id);
  const n = header.data.shape.reduce((a, b) => a * b, 1);
  const raw = readExact(join(dir, header.data.file), n * 4);
  const data = new Float32Array(n);
  new Uint8Array(data.buffer).set(raw);
  let seg: Int8Array | null = null;
  if (header.seg) {
    const m = header.seg.shape.reduce((a, b) => a * b, 1);
    const s = readExact(join(dir, header.seg.file), m);
    seg = new Int8Array(s.buffer.slice(s.byteOffset, s.byteOffset + m));
  }
  return { header, data, seg };
}

/**
 * One patch: `box` (half-open, in the preprocessed grid) may reach past the volume; those voxels get
 * `padData` (image) and `padSeg` (labels), as nnU-Net's loader pads with 0 and −1.
 * Returns data [C, p0, p1, p2] and seg [p0, p1, p2].
 */
export function readPatch(
  dir: string,
  header: CaseHeader,
  box: Box3,
  pad: { data?: number; seg?: number } = {},
): { data: Float32Array; seg: Int8Array | null; shape: Triple } {
  const [C, D0, D1, D2] = header.data.shape;
  const shape: Triple = [box[0][1] - box[0][0], box[1][1] - box[1][0], box[2][1] - box[2][0]];
  const [p0, p1, p2] = shape;
  const data = new Float32Array(C * p0 * p1 * p2);
  if (pad.data) data.fill(pad.data);
  const seg = header.seg ? new Int8Array(p0 * p1 * p2).fill(pad.seg ?? -1) : null;
  // the part of the box inside the volume
  const lo = [Math.max(box[0][0], 0), Math.max(box[1][0], 0), Math.max(box[2][0], 0)];
  const hi = [Math.min(box[0][1], D0), Math.min(box[1][1], D1), Math.min(box[2][1], D2)];
  if (lo.some((l, a) => l >= hi[a]!)) return { data, seg, shape };
  const rows = hi[1]! - lo[1]!;
  const runLen = (rows - 1) * D2 + (hi[2]! - lo[2]!);
  const read = (file: string, bytes: number, put: (run: Uint8Array, c: number, a: number) => void, channels: number) => {
    const fd = openSync(join(dir, file), 'r');
    try {
      const buf = new Uint8Array(runLen * bytes); // fresh buffer: offset 0, so typed views are aligned
      for (let c = 0; c < channels; c++)
        for (let a = lo[0]!; a < hi[0]!; a++) {
          const start = ((c * D0 + a) * D1 + lo[1]!) * D2 + lo[2]!;
          const got = readSync(fd, buf, 0, runLen * bytes, start * bytes);
          if (got !== runLen * bytes) throw new PreprocessedError(`${join(dir, file)}: truncated (case ${header.properties.id})`);
          put(buf, c, a);
        }
    } finally {
      closeSync(fd);
    }
  };
  const w = hi[2]! - lo[2]!;
  read(header.data.file, 4, (buf, c, a) => {
    const run = new Float32Array(buf.buffer, buf.byteOffset, runLen);
    for (let b = lo[1]!; b < hi[1]!; b++) {
      const from = (b - lo[1]!) * D2;
      const to = ((c * p0 + (a - box[0][0])) * p1 + (b - box[1][0])) * p2 + (lo[2]! - box[2][0]);
      data.set(run.subarray(from, from + w), to);
    }
  }, C);
  if (seg && header.seg) {
    read(header.seg.file, 1, (buf, _c, a) => {
      const run = new Int8Array(buf.buffer, buf.byteOffset, runLen);
      for (let b = lo[1]!; b < hi[1]!; b++) {
        const from = (b - lo[1]!) * D2;
        const to = ((a - box[0][0]) * p1 + (b - box[1][0])) * p2 + (lo[2]! - box[2][0]);
        seg.set(run.subarray(from, from + w), to);
      }
    }, 1);
  }
  return { data, seg, shape };
}

/** Hash of what decides a preprocessed case's content: a changed plan makes old cases stale. */
export function preprocessingHash(plans: Plans): string {
  const relevant = { preprocessing: plans.preprocessing, channels: plans.dataset.channels, labels: plans.dataset.labels };
  return createHash('sha256').update(canonicalJson(relevant)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted, so equal plans hash equally however they were built or loaded. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
