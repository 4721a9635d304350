import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, readNifti, writeNifti } from '../nifti/index.js';
import {
  checkDataset, convertMsd, DatasetError, loadDataset, readDatasetJson, syntheticCase, writeTestCase, writeTestDataset,
  type DatasetProblem,
} from './index.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-dataset-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SHAPE = [12, 10, 8];
const LABELS = { background: 0, organ: 1, core: 2 };
const AFFINE = [[-0.9, 0, 0, 10], [0, -0.9, 0, 20], [0, 0, 2, -5], [0, 0, 0, 1]];

function cleanDataset(name: string, ids: string[]): string {
  return writeTestDataset(join(root, name), {
    channelNames: ['T1', 'T2'],
    labels: LABELS,
    cases: ids.map((id, i) => ({ ...syntheticCase(id, SHAPE, 2, i), affine: AFFINE })),
    testCases: [{ ...syntheticCase('unseen', SHAPE, 2), label: null, affine: AFFINE }],
  });
}

function problemsOf(problems: DatasetProblem[], file: string): string[] {
  return problems.filter((p) => p.file === file).map((p) => p.problem);
}

describe('nnU-Net v2 datasets', () => {
  it('loads a clean dataset: cases in order, one file per channel, labels; check finds nothing', () => {
    const dir = cleanDataset('Dataset001_Clean', ['case_b', 'case_a', 'case_c']);
    const ds = loadDataset(dir);
    expect(ds.format).toBe('v2');
    expect(ds.channels).toEqual(['T1', 'T2']);
    expect(ds.labelValues).toEqual([0, 1, 2]);
    expect(ds.training.map((c) => c.id)).toEqual(['case_a', 'case_b', 'case_c']);
    expect(ds.training[0]!.images).toEqual([join(dir, 'imagesTr', 'case_a_0000.nii.gz'), join(dir, 'imagesTr', 'case_a_0001.nii.gz')]);
    expect(ds.training[0]!.label).toBe(join(dir, 'labelsTr', 'case_a.nii.gz'));
    expect(ds.test).toEqual([{ id: 'unseen', images: [join(dir, 'imagesTs', 'unseen_0000.nii.gz'), join(dir, 'imagesTs', 'unseen_0001.nii.gz')], label: null }]);
    const label = readNifti(ds.training[0]!.label!);
    expect(label.dtype).toBe('uint8');
    expect(new Set(label.data)).toEqual(new Set([0, 1, 2]));
    expect(checkDataset(dir).problems).toEqual([]);
  });

  it('reports every problem of a broken dataset, per file', () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const dir = cleanDataset('Dataset002_Broken', ids);
    const tr = (n: string) => join(dir, 'imagesTr', n);
    const lab = (n: string) => join(dir, 'labelsTr', n);
    unlinkSync(tr('a_0001.nii.gz')); // missing channel
    unlinkSync(lab('b.nii.gz')); // missing label
    const c = syntheticCase('c', [12, 10, 9], 2);
    writeNifti(lab('c.nii.gz'), createImage({ shape: [12, 10, 9], data: c.label!, affine: AFFINE }), { dtype: 'uint8' }); // shape
    const shifted = AFFINE.map((r) => [...r]);
    shifted[0]![3]! += 0.01;
    writeTestCase(dir, { ...syntheticCase('d', SHAPE, 2), affine: shifted, channels: [syntheticCase('d', SHAPE, 2).channels[1]!], label: null });
    // ^ rewrites d_0000 with a shifted origin: its geometry differs from d_0001 and the label
    const e = syntheticCase('e', SHAPE, 2);
    e.label![5] = 5;
    e.label![6] = 7;
    writeTestCase(dir, { ...e, affine: AFFINE }); // undeclared label values
    const f = syntheticCase('f', SHAPE, 2);
    f.channels[0]![3] = NaN;
    f.channels[0]![4] = Infinity;
    writeTestCase(dir, { ...f, affine: AFFINE }); // NaN/Inf
    // non-positive voxel size: patch pixdim[3] of g_0001 to -2
    const raw = Buffer.from(gunzipSync(readFileSync(tr('g_0001.nii.gz'))));
    raw.writeFloatLE(-2, 76 + 12);
    writeFileSync(tr('g_0001.nii.gz'), gzipSync(raw));
    writeTestCase(dir, { ...syntheticCase('h', [12, 10], 2), shape: [12, 10] }); // 2-D
    writeFileSync(tr('i_0000.nii.gz'), 'not an image'); // unreadable
    writeFileSync(tr('notes.txt'), 'stray');
    writeNifti(tr('a_0002.nii.gz'), createImage({ shape: SHAPE, data: new Float32Array(12 * 10 * 8), affine: AFFINE })); // undeclared channel
    writeNifti(lab('ghost.nii.gz'), createImage({ shape: SHAPE, data: new Uint8Array(12 * 10 * 8), affine: AFFINE }));
    const json = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
    writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ ...json, numTraining: 12 }));

    const { problems } = checkDataset(dir);
    const expectProblem = (file: string, re: RegExp) =>
      expect(problemsOf(problems, file), `${file}: ${JSON.stringify(problems.filter((p) => p.file === file))}`).toEqual(expect.arrayContaining([expect.stringMatching(re)]));
    expectProblem('imagesTr/a_0001.nii.gz', /missing \(channel 1 "T2"\)/);
    expectProblem('imagesTr/a_0002.nii.gz', /channel 2 is not declared/);
    expectProblem('labelsTr/b.nii.gz', /missing \(label\)/);
    expectProblem('labelsTr/c.nii.gz', /shape 12×10×9 differs from imagesTr\/c_0000.nii.gz \(12×10×8\)/);
    expectProblem('imagesTr/d_0001.nii.gz', /geometry \(affine\) differs from imagesTr\/d_0000.nii.gz by up to 0.0100 mm/);
    expectProblem('labelsTr/d.nii.gz', /geometry/);
    expectProblem('labelsTr/e.nii.gz', /label value\(s\) 5, 7 not declared/);
    expectProblem('imagesTr/f_0000.nii.gz', /2 NaN\/Inf voxel/);
    expectProblem('imagesTr/g_0001.nii.gz', /non-positive or invalid voxel size 0.9 × 0.9 × -2 \(pixdim\)/);
    for (const file of ['imagesTr/h_0000.nii.gz', 'imagesTr/h_0001.nii.gz', 'labelsTr/h.nii.gz']) expectProblem(file, /is 2-D \(12×10\) in a 3-D dataset/);
    expectProblem('imagesTr/i_0000.nii.gz', /unreadable: named .gz but not gzip-compressed/);
    expectProblem('imagesTr/notes.txt', /not named \{case\}_\{XXXX\}.nii.gz/);
    expectProblem('labelsTr/ghost.nii.gz', /label without images/);
    expectProblem('dataset.json', /numTraining is 12 but 9 training cases were found/);
    // Nothing reported about the intact files of the broken cases.
    expect(problemsOf(problems, 'imagesTr/c_0000.nii.gz')).toEqual([]);
    expect(problemsOf(problems, 'imagesTr/e_0000.nii.gz')).toEqual([]);
    expect(() => loadDataset(dir)).toThrow(DatasetError);
  });

  it('refuses an invalid dataset.json, naming the field', () => {
    const dir = join(root, 'Dataset003_BadJson');
    writeTestDataset(dir, { channelNames: ['CT'], labels: LABELS, cases: [] });
    const bad = (json: unknown, re: RegExp) => {
      writeFileSync(join(dir, 'dataset.json'), JSON.stringify(json));
      expect(() => readDatasetJson(dir)).toThrow(re);
    };
    const good = { channel_names: { 0: 'CT' }, labels: LABELS, numTraining: 0, file_ending: '.nii.gz' };
    bad({ ...good, channel_names: undefined }, /dataset\.json: invalid dataset\.json:\n  channel_names is missing/);
    bad({ ...good, labels: { background: 1, organ: 1 } }, /labels\.background must be 0/);
    bad({ ...good, labels: { background: 0, organ: -1 } }, /labels\.organ/);
    bad({ ...good, file_ending: 'nii.gz' }, /file_ending must start with "\."/);
    bad({ ...good, channel_names: { 0: 'CT', 2: 'PET' } }, /channel_names must number the channels 0\.\.1 without gaps/);
    bad({ ...good, numTraining: 'three' }, /numTraining must be integer/);
    writeFileSync(join(dir, 'dataset.json'), '{ "labels": ');
    expect(() => readDatasetJson(dir)).toThrow(/not valid JSON/);
    expect(() => readDatasetJson(join(root, 'nowhere'))).toThrow(/no such directory/);
    // Region labels (lists) are allowed.
    writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ ...good, labels: { background: 0, whole: [1, 2], core: 2 } }));
    expect(loadDataset(dir).labelValues).toEqual([0, 1, 2]);
  });
});

describe('MSD datasets', () => {
  function writeMsd(dir: string, ids: string[]): void {
    const n = SHAPE.reduce((a, b) => a * b, 1);
    for (const [i, id] of ids.entries()) {
      const c = syntheticCase(id, SHAPE, 2, i);
      const both = new Float32Array(2 * n);
      both.set(c.channels[0]!, 0);
      both.set(c.channels[1]!, n);
      writeNifti(join(dir, 'imagesTr', `${id}.nii.gz`), createImage({ shape: [...SHAPE, 2], data: both, affine: AFFINE }));
      writeNifti(join(dir, 'labelsTr', `${id}.nii.gz`), createImage({ shape: SHAPE, data: c.label!, affine: AFFINE }), { dtype: 'uint8' });
    }
    writeNifti(join(dir, 'imagesTs', 'later.nii.gz'), createImage({ shape: [...SHAPE, 2], data: new Float32Array(2 * n), affine: AFFINE }));
    writeFileSync(join(dir, 'dataset.json'), JSON.stringify({
      name: 'BrainTumour', description: 'test', tensorImageSize: '4D', modality: { 0: 'FLAIR', 1: 'T1w' },
      labels: { 0: 'background', 1: 'edema', 2: 'tumour' }, numTraining: ids.length, numTest: 1,
      training: ids.map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })),
      test: ['./imagesTs/later.nii.gz'],
    }));
  }

  it('reads the MSD form, checks it, and converts it to the v2 layout', () => {
    const src = join(root, 'Task01_Msd');
    writeMsd(src, ['p1', 'p2']);
    const msd = loadDataset(src);
    expect(msd.format).toBe('msd');
    expect(msd.channelsInOneFile).toBe(true);
    expect(msd.json.labels).toEqual({ background: 0, edema: 1, tumour: 2 });
    expect(checkDataset(src).problems).toEqual([]);

    const dst = join(root, 'Dataset011_Msd');
    expect(convertMsd(src, dst)).toEqual({ training: 2, test: 1, channels: ['FLAIR', 'T1w'] });
    const v2 = loadDataset(dst);
    expect(v2.format).toBe('v2');
    expect(v2.json).toMatchObject({ name: 'BrainTumour', channel_names: { 0: 'FLAIR', 1: 'T1w' }, labels: { background: 0, edema: 1, tumour: 2 }, numTraining: 2, file_ending: '.nii.gz' });
    expect(v2.json).not.toHaveProperty('modality');
    expect(v2.training.map((c) => c.id)).toEqual(['p1', 'p2']);
    expect(v2.test.map((c) => c.id)).toEqual(['later']);
    expect(checkDataset(dst).problems).toEqual([]);
    const whole = readNifti(join(src, 'imagesTr', 'p2.nii.gz'));
    const ch1 = readNifti(v2.training[1]!.images[1]!);
    expect(ch1.shape).toEqual(SHAPE);
    expect(ch1.affine).toEqual(whole.affine);
    expect(Array.from(ch1.data)).toEqual(Array.from(whole.data.subarray(SHAPE.reduce((a, b) => a * b, 1))));
    expect(readFileSync(v2.training[0]!.label!)).toEqual(readFileSync(join(src, 'labelsTr', 'p1.nii.gz')));

    // A second conversion into the same (non-empty) folder is refused.
    expect(() => convertMsd(src, dst)).toThrow(/already exists/);
  });

  it('reads nnU-Net v1 raw data (MSD-style dataset.json, per-channel _XXXX files) and converts it by copying', () => {
    const src = join(root, 'Task503_V1');
    for (const [i, id] of ['v1', 'v2'].entries()) writeTestCase(src, { ...syntheticCase(id, SHAPE, 2, i), affine: AFFINE });
    writeFileSync(join(src, 'dataset.json'), JSON.stringify({
      name: 'V1', modality: { 0: 'CT', 1: 'PET' }, labels: { 0: 'background', 1: 'organ', 2: 'core' }, numTraining: 2,
      training: ['v1', 'v2'].map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })), test: [],
    }));
    const ds = loadDataset(src);
    expect(ds.format).toBe('msd');
    expect(ds.channelsInOneFile).toBe(false);
    expect(ds.training[1]!.images).toEqual([join(src, 'imagesTr', 'v2_0000.nii.gz'), join(src, 'imagesTr', 'v2_0001.nii.gz')]);
    expect(checkDataset(src).problems).toEqual([]);
    const dst = join(root, 'Dataset503_V1');
    convertMsd(src, dst);
    expect(readFileSync(join(dst, 'imagesTr', 'v2_0001.nii.gz'))).toEqual(readFileSync(join(src, 'imagesTr', 'v2_0001.nii.gz')));
    expect(checkDataset(dst).problems).toEqual([]);
  });

  it('refuses to convert when listed files are missing, leaving nothing behind', () => {
    const src = join(root, 'Task02_Missing');
    writeMsd(src, ['q1', 'q2']);
    unlinkSync(join(src, 'labelsTr', 'q2.nii.gz'));
    const dst = join(root, 'Dataset012_Missing');
    expect(() => convertMsd(src, dst)).toThrow(/labelsTr\/q2.nii.gz/);
    expect(existsSync(dst)).toBe(false);
    expect(problemsOf(checkDataset(src).problems, 'labelsTr/q2.nii.gz')).toEqual(['missing (label)']);
  });
});
