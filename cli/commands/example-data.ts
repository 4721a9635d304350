import { join, resolve } from 'node:path';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { EXAMPLE_DATASET_NAME, writeExampleDataset } from '../../app/demo/example-data.js';
import { BRAIN_TUMOUR_DATASET_NAME, writeBrainTumourDataset } from '../../runtime/data/dataset/brain-tumour.js';

const HELP = `Usage: mnxc example-data OUT_DIR [--kind abdomen|brain-tumour] [--cases N] [--test-cases M] [--seed S]

Writes a synthetic, CT-like dataset in the nnU-Net v2 layout:
  OUT_DIR/Dataset900_Phantom/dataset.json, imagesTr/, labelsTr/, imagesTs/, labelsTs/

Each case is an abdomen-like phantom: body outline with fat and muscle wall in air (-1000 HU),
spine, aorta and vena cava, bowel-like filler, spleen, a liver (about 60 HU) holding one or two
lesions (20-38 HU darker), and two kidneys (cortex about 160 HU, medulla about 110 HU) — smoothly
deformed shapes whose sizes and positions vary. Slice-thickness averaging, in-plane blur and
Gaussian noise (10-16 HU) are added; voxels are about 0.8 x 0.8 x 2.5 mm, grids about 96 x 96 x 32,
stored LPS as int16 (HU + 1024, scl_inter -1024) with affines tilted by a few degrees.
Labels: background 0, liver 1, kidney 2, lesion 3. The unlabelled spleen, vessels and bowel share
the labelled organs' intensities, so a model must use shape and context.

The same seed always gives byte-identical files; a case's content depends only on the seed and
its index. About 0.3 s per case.

--kind brain-tumour writes OUT_DIR/Dataset901_BrainTumour instead: a BraTS-like MRI phantom with four
channels (T1, T1ce, T2, FLAIR), skull-stripped (0 outside the brain), 1 mm voxels, 40 x 40 x 32, and a
tumour of nested sub-regions (1 edema, 2 necrotic core, 3 enhancing rim); dataset.json declares the
regions whole tumor (1,2,3), tumor core (2,3) and enhancing tumor (3) with regions_class_order, so
mnxc plan sets up region-based training (sigmoid outputs, Dice + BCE).

Options:
  --kind K         abdomen (default) or brain-tumour
  --cases N        training cases (default 20)
  --test-cases M   test cases, with reference labels in labelsTs (default 5)
  --seed S         random seed (default 0)
  -q, --quiet      no progress lines`;

function wholeNumber(text: string, flag: string, min: number): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isInteger(v) || v < min) throw new UsageError(`${flag} expects a whole number ≥ ${min}, got '${text}'`);
  return v;
}

export const command: Command = {
  name: 'example-data',
  summary: 'write a synthetic CT-like dataset (nnU-Net v2 layout) to try the pipeline on',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      cases: { type: 'string' },
      'test-cases': { type: 'string' },
      seed: { type: 'string' },
      kind: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    });
    if (positionals.length !== 1) throw new UsageError('expects one OUT_DIR');
    const cases = values.cases === undefined ? 20 : wholeNumber(values.cases, '--cases', 1);
    const testCases = values['test-cases'] === undefined ? 5 : wholeNumber(values['test-cases'], '--test-cases', 0);
    const seed = values.seed === undefined ? 0 : wholeNumber(values.seed, '--seed', 0);
    const kind = values.kind ?? 'abdomen';
    if (kind !== 'abdomen' && kind !== 'brain-tumour') throw new UsageError(`--kind expects abdomen or brain-tumour, got '${kind}'`);
    const t0 = performance.now();
    const onCase = (done: number, total: number, id: string) => {
      if (!values.quiet) process.stderr.write(`[${done}/${total}] ${id}\n`);
    };
    const opts = { cases, testCases, seed, onCase };
    if (kind === 'brain-tumour') writeBrainTumourDataset(resolve(positionals[0]!), opts);
    else writeExampleDataset(resolve(positionals[0]!), opts);
    process.stdout.write(
      `wrote ${join(positionals[0]!, kind === 'brain-tumour' ? BRAIN_TUMOUR_DATASET_NAME : EXAMPLE_DATASET_NAME)}: ${cases} training and ${testCases} test case(s), seed ${seed} ` +
        `(${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
    );
    return 0;
  },
};
