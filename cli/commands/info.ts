import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { exitCodeFor, UsageError, UserError } from '../errors.js';
import { readNifti, readNiftiHeader, orientationCode, intensityStats, affineFromHeader, type NiftiImage } from '../../runtime/data/nifti/index.js';
import { defaultMemoryBudget, formatBytes, parseMemorySize } from '../../runtime/infer/memory.js';

const XFORM_NAMES: Record<number, string> = { 0: 'unknown', 1: 'scanner', 2: 'aligned', 3: 'talairach', 4: 'mni', 5: 'template' };
const SPACE_UNITS: Record<number, string> = { 0: 'unknown', 1: 'm', 2: 'mm', 3: 'um' };
const TIME_UNITS: Record<number, string> = { 0: 'unknown', 8: 's', 16: 'ms', 24: 'us', 32: 'Hz', 40: 'ppm', 48: 'rad/s' };

/** Everything `mnxc info` reports about one image; also its `--json` form. */
export function describeImage(file: string, img: NiftiImage, skipped?: string) {
  const h = img.header;
  const stats = intensityStats(img.data);
  return {
    file,
    niftiVersion: h.version,
    byteOrder: h.littleEndian ? 'little' : 'big',
    shape: img.shape,
    dtype: img.dtype,
    scaling: h.scaling ? { slope: h.sclSlope, intercept: h.sclInter } : null,
    spacing: img.spacing,
    units: { space: SPACE_UNITS[h.xyztUnits & 0x07] ?? 'unknown', time: TIME_UNITS[h.xyztUnits & 0x38] ?? 'unknown' },
    affine: img.affine,
    orientation: orientationCode(img.affine),
    qformCode: h.qformCode,
    sformCode: h.sformCode,
    intent: { code: h.intentCode, name: h.intentName },
    description: h.descrip,
    // null rather than NaN when every voxel is non-finite: JSON has no NaN.
    intensity: {
      min: Number.isNaN(stats.min) ? null : stats.min,
      max: Number.isNaN(stats.max) ? null : stats.max,
      mean: Number.isNaN(stats.mean) ? null : stats.mean,
      nonFinite: stats.nonFinite,
      ...(skipped ? { skipped } : {}),
    },
  };
}

/**
 * The image, or only its header when its voxels (and their float copy) would take more than
 * `budget` bytes: then the intensities are left out, with the reason.
 */
function readForInfo(file: string, budget: number): { img: NiftiImage; skipped?: string } {
  const p = readNiftiHeader(file);
  const need = p.dataBytes * 3;
  if (need <= budget) return { img: readNifti(file) };
  const spacing = p.shape.map((_, i) => p.header.pixdim[i + 1] ?? 1);
  const img: NiftiImage = { shape: p.shape, dtype: p.dtype, data: new Float32Array(0), affine: affineFromHeader(p.header, p.shape), spacing, header: p.header };
  return { img, skipped: `not computed: reading the voxels takes about ${formatBytes(need)}, more than the budget of ${formatBytes(budget)} (--max-memory)` };
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, '');
}

function formatText(d: ReturnType<typeof describeImage>): string {
  const lines = [
    `${d.file}`,
    `  format       NIfTI-${d.niftiVersion}, ${d.byteOrder}-endian`,
    `  shape        ${d.shape.join(' × ')}`,
    `  dtype        ${d.dtype}${d.scaling ? ` (scaled: slope ${fmt(d.scaling.slope)}, intercept ${fmt(d.scaling.intercept)})` : ''}`,
    `  spacing      ${d.spacing.map(fmt).join(' × ')}${d.units.space === 'unknown' ? ' (units not set)' : ` ${d.units.space}`}`,
    `  orientation  ${d.orientation}`,
    `  qform_code   ${d.qformCode} (${XFORM_NAMES[d.qformCode] ?? '?'})`,
    `  sform_code   ${d.sformCode} (${XFORM_NAMES[d.sformCode] ?? '?'})`,
    `  affine       ${d.affine.map((r) => r.map((v) => fmt(v).padStart(11)).join(' ')).join('\n               ')}`,
    d.intensity.skipped ? `  intensity    ${d.intensity.skipped}` : `  intensity    min ${d.intensity.min === null ? '-' : fmt(d.intensity.min)}  max ${d.intensity.max === null ? '-' : fmt(d.intensity.max)}  mean ${d.intensity.mean === null ? '-' : fmt(d.intensity.mean)}${d.intensity.nonFinite ? `  (${d.intensity.nonFinite} NaN/Inf voxels)` : ''}`,
  ];
  if (d.intent.code || d.intent.name) lines.push(`  intent       ${d.intent.code}${d.intent.name ? ` (${d.intent.name})` : ''}`);
  if (d.description) lines.push(`  description  ${d.description}`);
  return lines.join('\n');
}

export const command: Command = {
  name: 'info',
  summary: 'show a NIfTI image: shape, type, voxel size, affine, orientation, intensities',
  help: `Usage: mnxc info FILE... [--json]

Reads NIfTI-1/NIfTI-2 images (.nii or .nii.gz) and prints, per file: shape, stored datatype and
scaling, voxel size, qform/sform codes, the voxel-to-world affine (RAS+ mm, as nibabel's
img.affine), the orientation code (nibabel's aff2axcodes, e.g. LPS) and intensity min/max/mean.

Options:
  --json   print JSON: one object (or an array for several files) with keys shape, dtype,
           spacing, affine, orientation, scaling, qformCode, sformCode, units, intensity, ...
  --max-memory SIZE  read the voxels (for the intensities) only when they fit in SIZE, e.g. 2G
           (default: 3/4 of the machine's memory); larger images show the header only

Exit status: 0 when every file was read, 1 when any file is missing or malformed.`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' }, 'max-memory': { type: 'string' } });
    if (positionals.length === 0) throw new UsageError('expected at least one FILE');
    const budget = values['max-memory'] === undefined ? defaultMemoryBudget() : parseMemorySize(values['max-memory']);
    if (budget === null) throw new UsageError(`--max-memory expects a size like 2G or 512M, got '${values['max-memory']}'`);
    const described: ReturnType<typeof describeImage>[] = [];
    const failures: string[] = [];
    for (const file of positionals) {
      try {
        const { img, skipped } = readForInfo(file, budget);
        described.push(describeImage(file, img, skipped));
      } catch (e) {
        if (exitCodeFor(e) === null) throw e;
        failures.push((e as Error).message);
      }
    }
    if (failures.length === 1 && positionals.length === 1) throw new UserError(failures[0]!);
    if (values.json) {
      process.stdout.write(JSON.stringify(positionals.length === 1 ? described[0] : described, null, 2) + '\n');
    } else if (described.length > 0) {
      process.stdout.write(described.map(formatText).join('\n\n') + '\n');
    }
    for (const f of failures) process.stderr.write(`mnxc info: error: ${f}\n`);
    return failures.length ? 1 : 0;
  },
};
