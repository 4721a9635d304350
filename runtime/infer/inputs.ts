/**
 * The images to predict: a folder of `{case}_{XXXX}.nii.gz` files (XXXX = 4-digit channel, as in
 * nnU-Net's imagesTs) or one file holding the only channel.
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { PredictError } from '../errors.js';

export interface InputCase {
  id: string;
  /** One file per channel, in channel order. */
  images: string[];
}

const NIFTI = /^(.+)_(\d{4})\.nii(\.gz)?$/;

function stripNiftiEnding(name: string): string {
  return name.replace(/\.nii(\.gz)?$/, '');
}

export function findInputCases(input: string, channels: number): InputCase[] {
  if (!existsSync(input)) throw new PredictError(`${input}: no such file or folder`);
  if (statSync(input).isFile()) {
    if (!/\.nii(\.gz)?$/.test(input)) throw new PredictError(`${input}: not a NIfTI file (.nii or .nii.gz)`);
    if (channels !== 1)
      throw new PredictError(`${input}: a single file gives one channel, but the model takes ${channels}; pass a folder of {case}_{XXXX}.nii.gz files`);
    const m = NIFTI.exec(basename(input));
    return [{ id: m && m[2] === '0000' ? m[1]! : stripNiftiEnding(basename(input)), images: [input] }];
  }
  const byCase = new Map<string, Map<number, string>>();
  for (const name of readdirSync(input).sort()) {
    const m = NIFTI.exec(name);
    if (!m) continue;
    const files = byCase.get(m[1]!) ?? new Map<number, string>();
    const channel = Number(m[2]);
    if (files.has(channel)) throw new PredictError(`${join(input, name)}: case ${m[1]} has channel ${m[2]} twice (${basename(files.get(channel)!)})`);
    files.set(channel, join(input, name));
    byCase.set(m[1]!, files);
  }
  if (byCase.size === 0) throw new PredictError(`${input}: no images named {case}_{XXXX}.nii.gz`);
  const cases: InputCase[] = [];
  for (const [id, files] of byCase) {
    const extra = [...files.keys()].filter((c) => c >= channels);
    if (extra.length > 0) throw new PredictError(`${files.get(extra[0]!)!}: channel ${String(extra[0]).padStart(4, '0')}, but the model takes ${channels} channel(s) (0000…${String(channels - 1).padStart(4, '0')})`);
    const missing = Array.from({ length: channels }, (_, c) => c).filter((c) => !files.has(c));
    if (missing.length > 0)
      throw new PredictError(`${input}: case ${id} lacks channel file(s) ${missing.map((c) => `${id}_${String(c).padStart(4, '0')}.nii.gz`).join(', ')}`);
    cases.push({ id, images: Array.from({ length: channels }, (_, c) => files.get(c)!) });
  }
  return cases;
}

/** The files `predict` writes for a case (the label map, and the probabilities when asked). */
export function caseOutputs(outDir: string, id: string, saveProbabilities = false): string[] {
  const out = [join(outDir, `${id}.nii.gz`)];
  if (saveProbabilities) out.push(join(outDir, `${id}.probabilities.safetensors.gz`));
  return out;
}

function realOrResolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    // not there yet: its folder's real path and its name
    try {
      return join(realpathSync(resolve(path, '..')), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/**
 * Refuses, before anything is computed, an output that would overwrite an input image (`-o` the
 * input's own folder, or a case `a` whose `a.nii.gz` would be another input file) or another case's
 * output. Paths are compared after following symbolic links.
 */
export function checkOutputCollisions(cases: InputCase[], outDir: string, saveProbabilities = false): void {
  const inputs = new Map<string, string>();
  for (const c of cases) for (const img of c.images) inputs.set(realOrResolved(img), `${img} (an input image of case ${c.id})`);
  const outputs = new Map<string, string>();
  for (const c of cases) {
    for (const out of caseOutputs(outDir, c.id, saveProbabilities)) {
      const real = realOrResolved(out);
      const input = inputs.get(real);
      if (input) throw new PredictError(`${out}: the output of case ${c.id} would overwrite ${input}; write the predictions to another folder (-o)`);
      const other = outputs.get(real);
      if (other) throw new PredictError(`${out}: cases ${other} and ${c.id} would write the same output file; rename one of them`);
      outputs.set(real, c.id);
    }
  }
}
