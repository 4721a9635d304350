import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../../../tests/fixtures.js';
import {
  channelOf, createImage, decodeNifti, encodeNifti, gunzipBoundedJs, intensityStats, NiftiError, orientationCode, readNifti, readNiftiHeader, writeNifti,
  type NiftiImage,
} from './index.js';

const DIR = join(FIXTURES, 'nifti');
const tmp = mkdtempSync(join(tmpdir(), 'mnxc-nifti-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Expected {
  file: string;
  nifti_version: number;
  shape: number[];
  stored_dtype: string;
  endianness: string;
  qform_code: number;
  sform_code: number;
  affine: number[][];
  zooms: number[];
  orientation: string;
  scaled_values: { sum: number; sum_sq: number; min: number; max: number };
  samples: { index: number[]; value: number }[];
}

function at(img: NiftiImage, index: number[]): number {
  const [X = 1, Y = 1, Z = 1] = img.shape;
  const [i = 0, j = 0, k = 0, t = 0] = index;
  return img.data[i + X * (j + Y * (k + Z * t))]!;
}

function expectRefused(path: string, problem: RegExp): void {
  let error: unknown;
  try {
    readNifti(path);
  } catch (e) {
    error = e;
  }
  expect(error, `${path} should be refused`).toBeInstanceOf(NiftiError);
  expect((error as Error).message).toContain(path);
  expect((error as Error).message).toMatch(problem);
}

describe('readNifti against nibabel fixtures', () => {
  const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8")) as { files: Expected[]; malformed: string[] };

  for (const f of expected.files) {
    it(`reads ${f.file} as nibabel does`, () => {
      const img = readNifti(join(DIR, f.file));
      expect(img.header.version).toBe(f.nifti_version);
      expect(img.shape).toEqual(f.shape);
      expect(img.dtype).toBe(f.stored_dtype);
      expect(img.header.littleEndian).toBe(f.endianness === 'little');
      expect(img.header.qformCode).toBe(f.qform_code);
      expect(img.header.sformCode).toBe(f.sform_code);
      for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(img.affine[r]![c]).toBeCloseTo(f.affine[r]![c]!, 9);
      img.spacing.forEach((s, i) => expect(s).toBeCloseTo(f.zooms[i]!, 12));
      expect(orientationCode(img.affine)).toBe(f.orientation);

      const tol = f.stored_dtype === 'float32' ? 1e-6 : 1e-9;
      let sum = 0, sumSq = 0, min = Infinity, max = -Infinity;
      for (const v of img.data) {
        sum += v;
        sumSq += v * v;
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
      expect(rel(sum, f.scaled_values.sum)).toBeLessThan(tol);
      expect(rel(sumSq, f.scaled_values.sum_sq)).toBeLessThan(tol);
      expect(min).toBe(f.scaled_values.min);
      expect(max).toBe(f.scaled_values.max);
      for (const s of f.samples) expect(at(img, s.index)).toBe(s.value);
    });
  }

  it('keeps integer types when the header sets no scaling, and applies slope/intercept when it does', () => {
    const label = readNifti(join(DIR, 'label_uint8.nii.gz'));
    expect(label.data).toBeInstanceOf(Uint8Array);
    const scaled = readNifti(join(DIR, 'uint16_slope.nii.gz'));
    expect(scaled.header.scaling).toBe(true);
    expect(scaled.header.sclSlope).toBe(0.25);
    expect(scaled.data).toBeInstanceOf(Float32Array);
  });

  it('gives the 4-D channels as contiguous volumes', () => {
    const img = readNifti(join(DIR, 'multichannel_4d.nii.gz'));
    const c1 = channelOf(img, 1);
    expect(c1.shape).toEqual([16, 18, 10]);
    expect(c1.data[0]).toBe(at(img, [0, 0, 0, 1]));
    expect(c1.data[16 * 18 * 10 - 1]).toBe(at(img, [15, 17, 9, 1]));
  });

  it('covers every malformed fixture', () => {
    expect(readdirSync(join(DIR, 'malformed')).sort()).toEqual([...expected.malformed].sort());
  });

  const problems: Record<string, RegExp> = {
    'bad_magic.nii': /bad magic/,
    'bad_sizeof_hdr.nii': /sizeof_hdr is 123/,
    'empty.nii': /file is empty/,
    'huge_dims.nii': /30000×30000×30000.*more than/,
    'negative_dim0.nii': /dim\[0\] is -3/,
    'not_gzip.nii.gz': /gzip/,
    'text_file.nii': /not a NIfTI file/,
    'truncated_data.nii': /truncated voxel data/,
    'truncated_header.nii': /truncated header/,
    'unknown_datatype.nii': /unknown datatype code/,
    'vox_offset_past_eof.nii': /vox_offset \d+ is past the end/,
  };
  for (const [name, problem] of Object.entries(problems)) {
    it(`refuses malformed/${name}`, () => {
      expectRefused(join(DIR, 'malformed', name), problem);
      if (name !== 'empty.nii' && name !== 'not_gzip.nii.gz') {
        expect(() => readNiftiHeader(join(DIR, 'malformed', name))).toThrow(problem);
      }
    });
  }

  it('round-trips an image with a reference header: affine, codes, units, intent, values', () => {
    const ct = readNifti(join(DIR, 'ct_int16_slope.nii.gz'));
    const like: NiftiImage = { ...ct, header: { ...ct.header, intentCode: 1002, intentName: 'probabilities', xyztUnits: 10, descrip: 'mnxc test' } };
    const out = join(tmp, 'ct_copy.nii.gz');
    writeNifti(out, ct, { like, dtype: 'int16' });
    const back = readNifti(out);
    expect(back.dtype).toBe('int16');
    expect(back.data).toEqual(Int16Array.from(ct.data));
    expect(back.header.qformCode).toBe(1);
    expect(back.header.sformCode).toBe(1);
    expect(back.header.xyztUnits).toBe(10);
    expect(back.header.intentCode).toBe(1002);
    expect(back.header.intentName).toBe('probabilities');
    expect(back.header.descrip).toBe('mnxc test');
    expect(back.spacing).toEqual(ct.spacing);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(back.affine[r]![c]).toBeCloseTo(ct.affine[r]![c]!, 5);
    expect(orientationCode(back.affine)).toBe('LPS');
  });

  it('round-trips a qform-only image without adding an sform', () => {
    const mr = readNifti(join(DIR, 'mr_float32_qform.nii'));
    const out = join(tmp, 'mr_copy.nii');
    writeNifti(out, mr);
    const back = readNifti(out);
    expect(back.header.qformCode).toBe(1);
    expect(back.header.sformCode).toBe(0);
    expect(back.header.pixdim[0]).toBe(-1);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(back.affine[r]![c]).toBeCloseTo(mr.affine[r]![c]!, 5);
    expect(back.data).toEqual(mr.data);
  });
});

describe('NIfTI writer and hostile input', () => {
  const affine = [[-0.8, 0, 0, 100], [0, -0.8, 0, 80], [0, 0, 2.5, -30], [0, 0, 0, 1]];
  const shape = [5, 4, 3];
  const values = Int16Array.from({ length: 60 }, (_, i) => (i * 37) % 101 - 50);

  it('writes and reads back every stored type, plain and gzipped', () => {
    for (const dtype of ['uint8', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float32', 'float64'] as const) {
      const data = Float64Array.from(values, (v) => (dtype.startsWith('u') ? v + 50 : v));
      for (const name of [`t_${dtype}.nii`, `t_${dtype}.nii.gz`]) {
        writeNifti(join(tmp, name), createImage({ shape, data, affine }), { dtype });
        const back = readNifti(join(tmp, name));
        expect(back.dtype).toBe(dtype);
        expect(Array.from(back.data)).toEqual(Array.from(data));
        expect(orientationCode(back.affine)).toBe('LPS');
      }
    }
    expect(readFileSync(join(tmp, 't_int16.nii.gz'))[0]).toBe(0x1f);
    expect(readFileSync(join(tmp, 't_int16.nii'))[0]).toBe(0x5c);
  });

  it('reads big-endian files: every header field and voxel byte-swapped', () => {
    const img = createImage({ shape, data: values, affine });
    writeNifti(join(tmp, 'le.nii'), img);
    writeNifti(join(tmp, 'be.nii'), img, { bigEndian: true });
    const le = readFileSync(join(tmp, 'le.nii'));
    const be = readFileSync(join(tmp, 'be.nii'));
    expect(Array.from(be.subarray(0, 4))).toEqual(Array.from(le.subarray(0, 4)).reverse()); // sizeof_hdr
    expect(Array.from(be.subarray(70, 72))).toEqual(Array.from(le.subarray(70, 72)).reverse()); // datatype
    expect(Array.from(be.subarray(352, 354))).toEqual(Array.from(le.subarray(352, 354)).reverse()); // first voxel
    const back = readNifti(join(tmp, 'be.nii'));
    expect(back.header.littleEndian).toBe(false);
    expect(back.data).toEqual(values);
    for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(back.affine[r]![c]).toBeCloseTo(affine[r]![c]!, 6);
  });

  it('refuses a gzip bomb at the size its header describes', () => {
    writeNifti(join(tmp, 'small.nii'), createImage({ shape, data: values, affine }));
    const small = readFileSync(join(tmp, 'small.nii'));
    // A valid 120-voxel image followed by 256 MiB of zeros (16 gzip members of 16 MiB each,
    // which gunzip concatenates): about 256 KiB on disk.
    const zeros = gzipSync(Buffer.alloc(1 << 24), { level: 9 });
    const gz = Buffer.concat([gzipSync(small), ...Array<Buffer>(16).fill(zeros)]);
    expect(gz.byteLength).toBeLessThan(1 << 20);
    writeFileSync(join(tmp, 'bomb.nii.gz'), gz);
    expectRefused(join(tmp, 'bomb.nii.gz'), /decompresses to more than the 472 bytes/);
  });

  it('refuses a gzip file whose header claims more than its compressed size can hold, before inflating', () => {
    const head = Buffer.from(readFileSync(join(tmp, 'small.nii')));
    head.writeInt16LE(1000, 42); // dim[1..3] = 1000, 4, 3... → 1000×1000×1000
    head.writeInt16LE(1000, 44);
    head.writeInt16LE(1000, 46);
    writeFileSync(join(tmp, 'claims.nii.gz'), gzipSync(head));
    expectRefused(join(tmp, 'claims.nii.gz'), /cannot hold/);
  });

  it('refuses truncated gzip data and .gz names without gzip content', () => {
    const gz = readFileSync(join(tmp, 't_int16.nii.gz'));
    writeFileSync(join(tmp, 'cut.nii.gz'), gz.subarray(0, gz.byteLength - 20));
    expectRefused(join(tmp, 'cut.nii.gz'), /truncated|corrupt/);
    writeFileSync(join(tmp, 'plain.nii.gz'), gunzipSync(gz));
    expectRefused(join(tmp, 'plain.nii.gz'), /not gzip-compressed/);
    expectRefused(join(tmp, 'missing.nii.gz'), /no such file/);
  });

  it('refuses to write values the stored type cannot hold, and leaves no file behind', () => {
    const img = createImage({ shape: [2, 1, 1], data: new Float32Array([1, 300]) });
    expect(() => writeNifti(join(tmp, 'over.nii.gz'), img, { dtype: 'uint8' })).toThrow(/voxel 1 is 300/);
    expect(readdirSync(tmp).filter((n) => n.includes('over'))).toEqual([]);
  });

  it('computes intensity statistics ignoring non-finite voxels', () => {
    expect(intensityStats(new Float32Array([1, NaN, 3, Infinity]))).toEqual({ min: 1, max: 3, mean: 2, nonFinite: 2 });
  });

  it('gives nibabel axis codes for permuted and oblique affines', () => {
    expect(orientationCode([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -2, 0, 0], [0, 0, 0, 1]])).toBe('PIR');
    const c = Math.cos(0.3), s = Math.sin(0.3);
    expect(orientationCode([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]])).toBe('RAI');
    expect(orientationCode([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]])).toBe('RA?');
  });
});

describe('decodeNifti / encodeNifti on bytes (what the browser page uses)', () => {
  const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as { files: Expected[]; malformed: string[] };

  it('decodes every fixture with the JavaScript gunzip exactly as readNifti reads it', () => {
    for (const f of expected.files) {
      const path = join(DIR, f.file);
      const fromFile = readNifti(path);
      const fromBytes = decodeNifti(readFileSync(path), f.file, gunzipBoundedJs);
      expect(fromBytes.shape, f.file).toEqual(fromFile.shape);
      expect(fromBytes.dtype, f.file).toBe(fromFile.dtype);
      expect(fromBytes.affine, f.file).toEqual(fromFile.affine);
      expect(fromBytes.data, f.file).toEqual(fromFile.data);
    }
  });

  it('refuses the malformed fixtures with the same messages, naming the file', () => {
    for (const name of expected.malformed) {
      const path = join(DIR, 'malformed', name);
      let fileError = '';
      let bytesError = '';
      try {
        readNifti(path);
      } catch (e) {
        fileError = (e as Error).message;
      }
      try {
        decodeNifti(readFileSync(path), name, gunzipBoundedJs);
      } catch (e) {
        expect(e, name).toBeInstanceOf(NiftiError);
        bytesError = (e as Error).message;
      }
      expect(bytesError.startsWith(`${name}: `), bytesError).toBe(true);
      if (name !== 'not_gzip.nii.gz') expect(bytesError.slice(name.length), name).toBe(fileError.slice(path.length));
      else expect(bytesError, name).toMatch(/gzip/);
    }
  });

  it('refuses a gzip bomb in JavaScript too, and truncated gzip data', () => {
    const shape = [4, 5, 6];
    const values = Float32Array.from({ length: 120 }, (_, i) => i);
    const small = encodeNifti(createImage({ shape, data: values }));
    const zeros = gzipSync(Buffer.alloc(1 << 24), { level: 9 });
    const bomb = gzipSync(Buffer.concat([small, Buffer.alloc(1 << 20)]));
    expect(() => decodeNifti(bomb, 'bomb.nii.gz', gunzipBoundedJs)).toThrow(`bomb.nii.gz: gzip data decompresses to more than the ${small.byteLength} bytes`);
    const members = Buffer.concat([gzipSync(small), zeros, zeros]);
    // several gzip members: the voxels come from the first; whatever follows is bounded, never buffered
    let decoded: NiftiImage | undefined;
    try {
      decoded = decodeNifti(members, 'members.nii.gz', gunzipBoundedJs);
    } catch (e) {
      expect((e as Error).message).toContain(`decompresses to more than the ${small.byteLength} bytes`);
    }
    if (decoded) expect(decoded.data).toEqual(values);
    const gz = gzipSync(small);
    expect(() => decodeNifti(gz.subarray(0, gz.byteLength - 20), 'cut.nii.gz', gunzipBoundedJs)).toThrow(/cut.nii.gz: .*(truncated|corrupt)/);
  });

  it('encodes exactly the bytes writeNifti writes', () => {
    const img = readNifti(join(DIR, expected.files[0]!.file));
    writeNifti(join(tmp, 'same.nii'), img, { dtype: 'float32' });
    expect(Buffer.from(encodeNifti(img, { dtype: 'float32' })).equals(readFileSync(join(tmp, 'same.nii')))).toBe(true);
  });
});
