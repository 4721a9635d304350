import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { UsageError } from '../errors.js';
import { checkDataset, convertMsd, type DatasetReport } from '../../runtime/data/dataset/index.js';

const HELP = `Usage: mnxc dataset <check|convert-msd> ...

  mnxc dataset check DIR [--json]
      Checks an nnU-Net raw dataset (v2: dataset.json with channel_names/labels/numTraining/
      file_ending, imagesTr/{case}_{XXXX}.nii.gz, labelsTr/{case}.nii.gz; or MSD/v1 form) and
      reports every problem at once, per file: missing channels or labels, stray files,
      unreadable NIfTI, shape or geometry (affine, tolerance 1e-4 mm) mismatch between a case's
      channels and its label, label values not declared in dataset.json, NaN/Inf voxels,
      non-positive voxel sizes, 2-D images in a 3-D dataset.
      Exit status: 0 clean, 1 problems found.
      --json   print the report as JSON {dir, format, trainingCases, testCases, problems: [{file, case, problem}]}

  mnxc dataset convert-msd SRC DST
      Converts a Medical Segmentation Decathlon / nnU-Net v1 dataset (dataset.json with modality,
      labels, training) to the nnU-Net v2 layout in DST: 4-D images are split into one 3-D file
      per channel ({case}_{XXXX}.nii.gz), labels are copied, dataset.json is rewritten in the v2
      form. DST must not exist (or be empty); nothing is left behind on failure.`;

function printReport(r: DatasetReport): void {
  const byFile = new Map<string, string[]>();
  for (const p of r.problems) {
    if (!byFile.has(p.file)) byFile.set(p.file, []);
    byFile.get(p.file)!.push(p.problem);
  }
  const lines = [`${r.dir}: ${r.format === 'msd' ? 'MSD/v1' : 'nnU-Net v2'} dataset, ${r.trainingCases} training case(s), ${r.testCases} test case(s)`];
  for (const [file, problems] of byFile) for (const p of problems) lines.push(`  ${file}: ${p}`);
  lines.push(r.problems.length === 0 ? 'ok: no problems found' : `${r.problems.length} problem(s) in ${byFile.size} file(s)`);
  process.stdout.write(lines.join('\n') + '\n');
}

export const command: Command = {
  name: 'dataset',
  summary: 'check an nnU-Net dataset folder, or convert an MSD dataset to the v2 layout',
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'check') {
      const { values, positionals } = parseCommandArgs(rest, { json: { type: 'boolean' } });
      if (positionals.length !== 1) throw new UsageError('dataset check expects one DIR');
      const report = checkDataset(positionals[0]!);
      if (values.json) process.stdout.write(JSON.stringify({ ...report, ok: report.problems.length === 0 }, null, 2) + '\n');
      else printReport(report);
      return report.problems.length === 0 ? 0 : 1;
    }
    if (sub === 'convert-msd') {
      const { positionals } = parseCommandArgs(rest, {});
      if (positionals.length !== 2) throw new UsageError('dataset convert-msd expects SRC and DST');
      const [src, dst] = positionals as [string, string];
      const r = convertMsd(src, dst);
      process.stdout.write(`${dst}: ${r.training} training and ${r.test} test case(s), channels ${r.channels.map((c, i) => `${i}:${c}`).join(', ')}\n`);
      return 0;
    }
    throw new UsageError(sub === undefined ? 'expected a subcommand: check or convert-msd' : `unknown subcommand '${sub}' (expected check or convert-msd)`);
  },
};
