import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { channelCount, channelOf, readNifti, writeNifti } from '../nifti/index.js';
import { DatasetError, scanDataset } from './load.js';

/**
 * MSD / nnU-Net v1 → nnU-Net v2 raw layout: each (4-D) image is split into one 3-D file per
 * channel `{case}_{XXXX}{ending}`, labels are copied byte for byte, and dataset.json is rewritten
 * in the v2 form (channel_names, name → value labels, numTraining, file_ending). Everything is
 * written into a temporary folder beside DST and renamed into place at the end, so a failure
 * leaves no half-converted dataset.
 */

export interface ConvertResult {
  training: number;
  test: number;
  channels: string[];
}

export function convertMsd(src: string, dst: string): ConvertResult {
  const { dataset, problems } = scanDataset(src);
  if (dataset.format !== 'msd') throw new DatasetError(`${join(src, 'dataset.json')}: already in the nnU-Net v2 form (has channel_names); nothing to convert`);
  const missing = problems.filter((p) => p.problem.startsWith('missing'));
  if (missing.length > 0) {
    throw new DatasetError(`${src}: ${missing.length} file(s) listed in dataset.json are missing:\n${missing.slice(0, 20).map((p) => `  ${p.file}`).join('\n')}`);
  }
  if (existsSync(dst) && readdirSync(dst).length > 0) throw new DatasetError(`${dst}: already exists and is not empty; choose a new destination`);
  const ending = dataset.json.file_ending;
  const nChannels = dataset.channels.length;
  mkdirSync(dirname(dst), { recursive: true });
  const tmp = join(dirname(dst), `.${basename(dst)}.partial-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    for (const [cases, sub, labels] of [[dataset.training, 'imagesTr', 'labelsTr'], [dataset.test, 'imagesTs', 'labelsTs']] as const) {
      for (const c of cases) {
        const channelFile = (ch: number) => join(tmp, sub, `${c.id}_${String(ch).padStart(4, '0')}${ending}`);
        if (dataset.channelsInOneFile) {
          const img = readNifti(c.images[0]!);
          const n = channelCount(img);
          if (n !== nChannels) throw new DatasetError(`${c.images[0]}: has ${n} channel(s), dataset.json modality declares ${nChannels}`);
          for (let ch = 0; ch < n; ch++) {
            writeNifti(channelFile(ch), channelOf(img, ch)); // 3-D, same geometry, codes and stored type
          }
        } else {
          c.images.forEach((p, ch) => {
            mkdirSync(dirname(channelFile(ch)), { recursive: true });
            copyFileSync(p, channelFile(ch));
          });
        }
        if (c.label) {
          mkdirSync(join(tmp, labels), { recursive: true });
          copyFileSync(c.label, join(tmp, labels, `${c.id}${ending}`));
        }
      }
    }
    const json = { ...dataset.json, numTraining: dataset.training.length };
    writeFileAtomic(join(tmp, 'dataset.json'), JSON.stringify(json, null, 2) + '\n');
    if (existsSync(dst)) rmSync(dst, { recursive: true }); // empty, checked above
    renameSync(tmp, dst);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { training: dataset.training.length, test: dataset.test.length, channels: dataset.channels };
}
