import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join, normalize, relative } from 'node:path';
import { DatasetError } from '../../errors.js';
import { describeSchemaErrors, validateMsd, validateV2 } from './schema.js';

/**
 * Loading an nnU-Net raw dataset folder:
 *  - v2: `dataset.json` with channel_names/labels/numTraining/file_ending, images
 *    `imagesTr/{case}_{XXXX}{file_ending}` (XXXX = 4-digit channel), labels `labelsTr/{case}{file_ending}`,
 *    or an explicit `dataset` map of file lists;
 *  - MSD / v1: `dataset.json` with modality/labels/training. When the per-channel `_XXXX` files
 *    exist (nnU-Net v1 raw data) they are used; otherwise each case is one (possibly 4-D) file with
 *    the channels on its 4th axis (`channelsInOneFile`) — `mnxc dataset convert-msd` splits those.
 */

/** dataset.json in the v2 form (MSD files are translated to it). Unknown keys are kept. */
export interface DatasetJson {
  name?: string;
  description?: string;
  channel_names: Record<string, string>;
  /** name → label value, or a list of values for a region. */
  labels: Record<string, number | number[]>;
  numTraining: number;
  file_ending: string;
  regions_class_order?: number[];
  [key: string]: unknown;
}

export interface DatasetCase {
  id: string;
  /** One path per channel, in channel order (paths joined onto the dataset folder). */
  images: string[];
  /** The label file, or null (test cases; training cases whose label is missing). */
  label: string | null;
}

export interface Dataset {
  dir: string;
  format: 'v2' | 'msd';
  json: DatasetJson;
  /** Channel names by index. */
  channels: string[];
  /** Every label value declared (regions flattened), sorted. */
  labelValues: number[];
  /** True for an MSD dataset whose cases are single 4-D files: `images` has one entry per case. */
  channelsInOneFile: boolean;
  training: DatasetCase[];
  test: DatasetCase[];
}

/** A problem with the dataset's files, for `dataset check`; `file` is relative to the dataset folder. */
export interface DatasetProblem {
  file: string;
  case?: string;
  problem: string;
}

export { DatasetError };

function channelFileName(id: string, channel: number, ending: string): string {
  return `${id}_${String(channel).padStart(4, '0')}${ending}`;
}

/**
 * The files of `dir/sub`, symbolic links followed (datasets are often links into an archive); a
 * link that loops or points nowhere is a problem named by the link, not a silently missing file.
 */
function listFiles(dir: string, sub: string, problems: DatasetProblem[]): string[] {
  const folder = join(dir, sub);
  if (!existsSync(folder)) return [];
  const names: string[] = [];
  for (const e of readdirSync(folder, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    if (e.isFile()) names.push(e.name);
    else if (e.isSymbolicLink()) {
      const path = join(folder, e.name);
      let target = '?';
      try {
        target = readlinkSync(path);
        if (statSync(path).isFile()) names.push(e.name);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        problems.push({ file: `${sub}/${e.name}`, problem: code === 'ELOOP' ? `symbolic link loop (${e.name} → ${target} → … never reaches a file)` : `broken symbolic link (→ ${target}: ${code ?? 'unreadable'})` });
      }
    }
  }
  return names.sort();
}

/** Reads and validates `dir/dataset.json`; throws DatasetError naming the file and the field. */
export function readDatasetJson(dir: string): { format: 'v2' | 'msd'; json: DatasetJson; raw: Record<string, unknown> } {
  const path = join(dir, 'dataset.json');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetError(`${dir}: not a dataset folder (no such directory)`);
  if (!existsSync(path)) throw new DatasetError(`${path}: missing (every dataset folder needs a dataset.json)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DatasetError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DatasetError(`${path}: must be a JSON object`);
  const obj = raw as Record<string, unknown>;
  const isMsd = 'modality' in obj || ('training' in obj && !('channel_names' in obj));
  if (isMsd) {
    if (!validateMsd(obj)) throw new DatasetError(`${path}: invalid MSD/nnU-Net v1 dataset.json:\n  ${describeSchemaErrors(validateMsd.errors).join('\n  ')}`);
    return { format: 'msd', json: msdToV2(obj), raw: obj };
  }
  if (!validateV2(obj)) throw new DatasetError(`${path}: invalid dataset.json:\n  ${describeSchemaErrors(validateV2.errors).join('\n  ')}`);
  const json = obj as DatasetJson;
  const keys = Object.keys(json.channel_names).map(Number).sort((a, b) => a - b);
  keys.forEach((k, i) => {
    if (k !== i) throw new DatasetError(`${path}: channel_names must number the channels 0..${keys.length - 1} without gaps (found "${k}")`);
  });
  return { format: 'v2', json, raw: obj };
}

/** MSD/v1 dataset.json → v2 fields (channel_names, name→value labels, file_ending). */
export function msdToV2(msd: Record<string, unknown>): DatasetJson {
  const modality = msd.modality as Record<string, string>;
  const labels: Record<string, number> = {};
  for (const [value, name] of Object.entries(msd.labels as Record<string, string>)) labels[name] = Number(value);
  const training = msd.training as { image: string }[];
  const ending = training[0]?.image.match(/(\.nii\.gz|\.nii|\.nrrd|\.mha|\.png)$/i)?.[0] ?? '.nii.gz';
  const { modality: _m, labels: _l, training: _t, test: _s, numTest: _n, tensorImageSize: _ts, ...rest } = msd;
  return { ...rest, channel_names: { ...modality }, labels, numTraining: training.length, file_ending: ending };
}

/** Declared label values (regions flattened), sorted and unique. */
export function declaredLabelValues(json: DatasetJson): number[] {
  const values = new Set<number>();
  for (const v of Object.values(json.labels)) for (const x of Array.isArray(v) ? v : [v]) values.add(x);
  return [...values].sort((a, b) => a - b);
}

/**
 * nnU-Net v2's ignore label: the value of `labels.ignore` in dataset.json (v2 requires it to be the
 * highest label value). Undefined when the dataset has none.
 */
export function ignoreLabelOf(json: DatasetJson): number | undefined {
  const v = json.labels.ignore;
  return typeof v === 'number' ? v : undefined;
}

/**
 * nnU-Net v2's region-based labels: when a label maps to a list of values (or the dataset names a
 * `regions_class_order`), every label but background is a region, in dataset.json order, and
 * `regions_class_order` gives the value each region is written back as. Undefined otherwise.
 */
export function regionsOf(json: DatasetJson): { regions: { name: string; labels: number[] }[]; classOrder: number[] } | undefined {
  const entries = Object.entries(json.labels).filter(([name]) => name !== 'background' && name !== 'ignore');
  const order = (json as { regions_class_order?: number[] }).regions_class_order;
  if (!entries.some(([, v]) => Array.isArray(v)) && order === undefined) return undefined;
  const regions = entries.map(([name, v]) => ({ name, labels: Array.isArray(v) ? [...v] : [v] }));
  if (!order || order.length !== regions.length)
    throw new DatasetError(`dataset.json: regions_class_order: needs one label value per region (${regions.length}: ${regions.map((r) => r.name).join(', ')})`);
  return { regions, classOrder: [...order] };
}

/** Strips "./" and joins onto the dataset folder. */
function inDataset(dir: string, rel: string): string {
  return join(dir, normalize(rel));
}

/**
 * Finds the dataset's cases and the structural problems (missing channels or labels, stray
 * files, numTraining that disagrees). Throws DatasetError only when dataset.json itself is unusable.
 */
export function scanDataset(dir: string): { dataset: Dataset; problems: DatasetProblem[] } {
  const { format, json, raw } = readDatasetJson(dir);
  const channels = Object.keys(json.channel_names).map(Number).sort((a, b) => a - b).map((k) => json.channel_names[String(k)]!);
  const ending = json.file_ending;
  const problems: DatasetProblem[] = [];
  let channelsInOneFile = false;
  const training: DatasetCase[] = [];
  const test: DatasetCase[] = [];

  const missing = (path: string, rel: string, id: string, what: string) => {
    if (!existsSync(path)) problems.push({ file: rel, case: id, problem: `missing (${what})` });
  };

  if (format === 'msd') {
    const entries = raw.training as { image: string; label: string }[];
    const tests = ((raw.test as (string | { image: string })[] | undefined) ?? []).map((t) => (typeof t === 'string' ? t : t.image));
    const idOf = (p: string) => p.replace(/^.*\//, '').slice(0, -ending.length || undefined);
    // nnU-Net v1 raw data: the image path names the case; the files on disk carry _XXXX.
    const split = entries.length > 0 && existsSync(inDataset(dir, entries[0]!.image.replace(/[^/]*$/, channelFileName(idOf(entries[0]!.image), 0, ending))));
    channelsInOneFile = !split;
    const caseOf = (image: string, label: string | null): DatasetCase => {
      const id = idOf(image);
      const images = split
        ? channels.map((_, c) => inDataset(dir, image.replace(/[^/]*$/, channelFileName(id, c, ending))))
        : [inDataset(dir, image)];
      return { id, images, label: label === null ? null : inDataset(dir, label) };
    };
    for (const e of entries) training.push(caseOf(e.image, e.label));
    for (const t of tests) test.push(caseOf(t, null));
    for (const c of training) {
      c.images.forEach((p, i) => missing(p, relative(dir, p), c.id, split ? `channel ${i} "${channels[i]}"` : 'image'));
      missing(c.label!, relative(dir, c.label!), c.id, 'label');
    }
  } else if (json.dataset && typeof json.dataset === 'object') {
    for (const [id, entry] of Object.entries(json.dataset as Record<string, { images: string[]; label?: string }>)) {
      const c: DatasetCase = { id, images: entry.images.map((p) => inDataset(dir, p)), label: entry.label ? inDataset(dir, entry.label) : null };
      if (c.images.length !== channels.length) {
        problems.push({ file: 'dataset.json', case: id, problem: `lists ${c.images.length} images, channel_names declares ${channels.length}` });
      }
      c.images.forEach((p, i) => missing(p, entry.images[i]!, id, `channel ${i}`));
      if (c.label) missing(c.label, entry.label!, id, 'label');
      training.push(c);
    }
  } else {
    for (const [sub, into, withLabels] of [['imagesTr', training, true], ['imagesTs', test, false]] as const) {
      const ids = new Map<string, Set<number>>();
      for (const name of listFiles(dir, sub, problems)) {
        const m = name.endsWith(ending) ? /^(.+)_(\d{4})$/.exec(name.slice(0, -ending.length)) : null;
        if (!m) {
          problems.push({ file: `${sub}/${name}`, problem: `not named {case}_{XXXX}${ending} (XXXX = 4-digit channel)` });
          continue;
        }
        const channel = Number(m[2]);
        if (channel >= channels.length) {
          problems.push({ file: `${sub}/${name}`, case: m[1], problem: `channel ${channel} is not declared in channel_names (0..${channels.length - 1})` });
          continue;
        }
        if (!ids.has(m[1]!)) ids.set(m[1]!, new Set());
        ids.get(m[1]!)!.add(channel);
      }
      const labelIds = new Set<string>();
      if (withLabels) {
        for (const name of listFiles(dir, 'labelsTr', problems)) {
          if (!name.endsWith(ending)) {
            problems.push({ file: `labelsTr/${name}`, problem: `not named {case}${ending}` });
            continue;
          }
          const id = name.slice(0, -ending.length);
          labelIds.add(id);
          if (!ids.has(id)) problems.push({ file: `labelsTr/${name}`, case: id, problem: 'label without images (no imagesTr/' + channelFileName(id, 0, ending) + ')' });
        }
      }
      for (const [id, present] of [...ids].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        channels.forEach((name, c) => {
          if (!present.has(c)) problems.push({ file: `${sub}/${channelFileName(id, c, ending)}`, case: id, problem: `missing (channel ${c} "${name}")` });
        });
        const hasLabel = labelIds.has(id);
        if (withLabels && !hasLabel) problems.push({ file: `labelsTr/${id}${ending}`, case: id, problem: 'missing (label)' });
        into.push({
          id,
          images: channels.map((_, c) => join(dir, sub, channelFileName(id, c, ending))),
          label: withLabels && hasLabel ? join(dir, 'labelsTr', `${id}${ending}`) : null,
        });
      }
    }
  }
  if (json.numTraining !== training.length) {
    problems.push({ file: 'dataset.json', problem: `numTraining is ${json.numTraining} but ${training.length} training cases were found` });
  }
  return {
    dataset: { dir, format, json, channels, labelValues: declaredLabelValues(json), channelsInOneFile, training, test },
    problems,
  };
}

/**
 * The dataset for planning and training: cases in a stable order, each with one file per channel
 * and a label. Throws DatasetError listing every structural problem (run `mnxc dataset check`
 * for the voxel-level checks too).
 */
export function loadDataset(dir: string): Dataset {
  const { dataset, problems } = scanDataset(dir);
  const fatal = problems.filter((p) => !p.problem.startsWith('numTraining'));
  if (fatal.length > 0) {
    const lines = fatal.slice(0, 20).map((p) => `  ${p.file}: ${p.problem}`);
    if (fatal.length > 20) lines.push(`  … and ${fatal.length - 20} more`);
    throw new DatasetError(`${dir}: ${fatal.length} problem(s) with the dataset's files:\n${lines.join('\n')}`);
  }
  return dataset;
}
