import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDataset, loadDataset } from '../../runtime/data/dataset/index.js';
import { affineZooms, orientationCode, readNifti, readNiftiHeader } from '../../runtime/data/nifti/index.js';
import { EXAMPLE_DATASET_NAME, writeExampleDataset } from './example-data.js';
import { generatePhantom } from './phantom.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-example-data-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const small = { inPlane: [64, 72] as [number, number], slices: [20, 24] as [number, number] };

function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const sub of ['', 'imagesTr', 'labelsTr', 'imagesTs', 'labelsTs']) {
    if (!existsSync(join(dir, sub))) continue;
    for (const f of readdirSync(join(dir, sub), { withFileTypes: true })) if (f.isFile()) out.set(join(sub, f.name), readFileSync(join(dir, sub, f.name)));
  }
  return out;
}

describe('mnxc example-data', () => {
  const a = writeExampleDataset(join(root, 'a'), { cases: 3, testCases: 1, seed: 7, phantom: small });

  it('writes the nnU-Net v2 layout and a dataset check passes', () => {
    expect(a.endsWith(EXAMPLE_DATASET_NAME)).toBe(true);
    const ds = loadDataset(a);
    expect(ds.training.map((c) => c.id)).toEqual(['phantom_000', 'phantom_001', 'phantom_002']);
    expect(ds.test.map((c) => c.id)).toEqual(['phantom_500']);
    expect(ds.json.labels).toEqual({ background: 0, liver: 1, kidney: 2, lesion: 3 });
    expect(ds.channels).toEqual(['CT']);
    const report = checkDataset(a);
    expect(report.problems).toEqual([]);
    expect(report.trainingCases).toBe(3);
    expect(report.testCases).toBe(1);
  });

  it('is deterministic: the same seed gives identical bytes, another seed different ones', () => {
    const again = filesOf(writeExampleDataset(join(root, 'b'), { cases: 3, testCases: 1, seed: 7, phantom: small }));
    const first = filesOf(a);
    expect([...again.keys()].sort()).toEqual([...first.keys()].sort());
    for (const [name, bytes] of first) expect(Buffer.compare(bytes, again.get(name)!), name).toBe(0);
    const other = filesOf(writeExampleDataset(join(root, 'c'), { cases: 1, testCases: 0, seed: 8, phantom: small }));
    expect(Buffer.compare(other.get(join('imagesTr', 'phantom_000_0000.nii.gz'))!, first.get(join('imagesTr', 'phantom_000_0000.nii.gz'))!)).not.toBe(0);
  });

  it('stores CT as int16 with scl_inter -1024, anisotropic voxels and tilted LPS affines', () => {
    const path = join(a, 'imagesTr', 'phantom_001_0000.nii.gz');
    const raw = gunzipSync(readFileSync(path));
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    expect(dv.getInt16(70, true)).toBe(4); // datatype int16
    expect(dv.getFloat32(112, true)).toBe(1); // scl_slope
    expect(dv.getFloat32(116, true)).toBe(-1024); // scl_inter
    const h = readNiftiHeader(path);
    expect(h.header.qformCode).toBe(1);
    expect(h.header.sformCode).toBe(1);
    const img = readNifti(path);
    expect(img.dtype).toBe('int16');
    expect(img.data).toBeInstanceOf(Float32Array); // scaled to HU on reading
    const stored = new Int16Array(raw.buffer.slice(raw.byteOffset + 352, raw.byteOffset + 352 + 2 * img.data.length));
    for (let i = 0; i < img.data.length; i += 997) expect(img.data[i]).toBe(stored[i]! - 1024);
    // Air outside the body, soft tissue and bone inside.
    let min = Infinity, max = -Infinity;
    for (const v of img.data) (min = Math.min(min, v)), (max = Math.max(max, v));
    expect(min).toBe(-1024);
    expect(max).toBeGreaterThan(300);
    const zooms = affineZooms(img.affine);
    expect(zooms[2]).toBeCloseTo(2.5, 4);
    expect(zooms[0]).toBeGreaterThan(0.7);
    expect(zooms[0]).toBeLessThan(0.9);
    expect(zooms[0]).toBeCloseTo(zooms[1]!, 6);
    expect(orientationCode(img.affine)).toBe('LPS');
    // Tilted: the voxel axes are not the world axes.
    const offDiagonal = Math.max(Math.abs(img.affine[0]![1]!), Math.abs(img.affine[1]![0]!), Math.abs(img.affine[1]![2]!), Math.abs(img.affine[2]![1]!));
    expect(offDiagonal).toBeGreaterThan(1e-3);
    const label = readNifti(join(a, 'labelsTr', 'phantom_001.nii.gz'));
    expect(label.dtype).toBe('uint8');
    expect(label.affine).toEqual(img.affine);
  });

  it('draws liver, kidney and lesion in every case, with the lesion darker than the liver and intensities overlapping', () => {
    for (const seed of [1, 2, 3]) {
      const c = generatePhantom(seed, small);
      const stats = [0, 1, 2, 3].map(() => ({ n: 0, sum: 0 }));
      for (let i = 0; i < c.label.length; i++) {
        const s = stats[c.label[i]!]!;
        s.n++;
        s.sum += c.hu[i]!;
      }
      for (const l of [1, 2, 3]) expect(stats[l]!.n, `seed ${seed} label ${l}`).toBeGreaterThan(20);
      const mean = stats.map((s) => s.sum / s.n);
      expect(mean[3]!).toBeLessThan(mean[1]! - 10);
      expect(mean[2]!).toBeGreaterThan(mean[1]! + 30);
      // Some unlabelled soft tissue inside the body is as bright as the liver (spleen, vessels, bowel).
      let liverLike = 0;
      for (let i = 0; i < c.label.length; i++) if (c.label[i] === 0 && Math.abs(c.hu[i]! - mean[1]!) < 10) liverLike++;
      expect(liverLike).toBeGreaterThan(stats[1]!.n * 0.1);
    }
  });

  it('varies grid size and voxel size between cases', () => {
    const shapes = new Set<string>(), spacings = new Set<number>();
    for (let s = 0; s < 6; s++) {
      const c = generatePhantom(100 + s, small);
      shapes.add(c.shape.join('x'));
      spacings.add(c.spacing[0]);
    }
    expect(shapes.size).toBeGreaterThan(1);
    expect(spacings.size).toBeGreaterThan(1);
  });
});
