/**
 * Reading a training run folder (the layout `mnxc train` writes, see the shared contracts):
 * plans.yaml, model.ir.json, dataset.json and fold_K/checkpoint_{final,best,latest}.* triplets.
 * A checkpoint counts only when its `.json` exists: the json is written last, so its presence
 * means the weights beside it are complete.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../cli/errors.js';
import type { IRModel } from '../../compiler/ir/types.js';
import { verifyIR } from '../../compiler/ir/verify.js';
import { readDatasetJson, type DatasetJson } from '../data/dataset/index.js';
import { loadPlans, type Plans } from '../data/plan/index.js';
import { inspectUnit } from '../train/checkpoint-unit.js';
import { specHash } from '../train/run-dir.js';

export type CheckpointName = 'final' | 'best' | 'latest';

export interface RunFolder {
  dir: string;
  plans: Plans;
  ir: IRModel;
  dataset: DatasetJson;
  /** Fold folders present (`0` … `4`, `all`), in order. */
  folds: string[];
  /** Number of classes the network predicts (background included). */
  classes: number;
}

/** Output channels of the full-resolution head. */
function outputChannels(ir: IRModel): number {
  const node = ir.nodes.find((n) => n.id === ir.outputs[0]);
  if (!node) throw new Error(`IR has no output ${ir.outputs[0]}`);
  return node.out.channels;
}

export function openRunFolder(dir: string): RunFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: not a run folder (no such directory)`);
  for (const f of ['plans.yaml', 'model.ir.json', 'dataset.json'])
    if (!existsSync(join(dir, f))) throw new UserError(`${join(dir, f)}: missing (a run folder written by mnxc train has plans.yaml, model.ir.json and dataset.json)`);
  const plans = loadPlans(join(dir, 'plans.yaml'));
  const irPath = join(dir, 'model.ir.json');
  let ir: unknown;
  try {
    ir = JSON.parse(readFileSync(irPath, 'utf8'));
  } catch (e) {
    throw new UserError(`${irPath}: not valid JSON (${(e as Error).message})`);
  }
  const problems = verifyIR(ir);
  if (problems.length > 0) throw new UserError(`${irPath}: not a valid model IR:\n  ${problems.slice(0, 10).join('\n  ')}`);
  const model = ir as IRModel;
  if (model.spatialDims !== 3) throw new UserError(`${irPath}: the network is ${model.spatialDims}-D; mnxc predict runs 3-D networks`);
  const dataset = readDatasetJson(dir).json;
  const classes = outputChannels(model);
  const labels = Object.keys(plans.dataset.labels).length;
  if (classes !== labels) throw new UserError(`${irPath}: the network predicts ${classes} classes but plans.yaml declares ${labels} labels`);
  if (model.input.channels !== plans.dataset.channels.length)
    throw new UserError(`${irPath}: the network takes ${model.input.channels} input channel(s) but plans.yaml declares ${plans.dataset.channels.length}`);
  const folds = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^fold_(\d+|all)$/.test(e.name))
    .map((e) => e.name.slice('fold_'.length))
    .sort((a, b) => (a === 'all' ? 1 : b === 'all' ? -1 : Number(a) - Number(b)));
  return { dir, plans, ir: model, dataset, folds, classes };
}

/** `--folds` → fold names; default: every fold folder present. */
export function selectFolds(run: RunFolder, spec: string | undefined): string[] {
  const folds = spec === undefined ? run.folds : spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (folds.length === 0) throw new UserError(`${run.dir}: no fold_K folders (train a fold first, or name the folds with --folds)`);
  for (const f of folds) {
    if (!/^(\d+|all)$/.test(f)) throw new UserError(`--folds: '${f}' is not a fold (0, 1, … or all)`);
    if (!run.folds.includes(f)) throw new UserError(`${join(run.dir, `fold_${f}`)}: no such fold folder (present: ${run.folds.join(', ') || 'none'})`);
  }
  return [...new Set(folds)];
}

/** The weights file of a fold's checkpoint; UserError when the checkpoint is absent or incomplete. */
export function checkpointWeightsPath(run: RunFolder, fold: string, checkpoint: CheckpointName): string {
  const foldDir = join(run.dir, `fold_${fold}`);
  const json = join(foldDir, `checkpoint_${checkpoint}.json`);
  const weights = join(foldDir, `checkpoint_${checkpoint}.weights.safetensors`);
  if (!existsSync(json) || !existsSync(weights)) {
    const present = readdirSync(foldDir)
      .filter((f) => /^checkpoint_\w+\.json$/.test(f))
      .map((f) => f.slice('checkpoint_'.length, -'.json'.length));
    throw new UserError(`${weights}: no complete '${checkpoint}' checkpoint in fold ${fold} (complete checkpoints: ${present.join(', ') || 'none'}; choose one with --checkpoint)`);
  }
  // the files must be the ones the json names (a save still running or killed midway is not)
  const unit = inspectUnit(foldDir, `checkpoint_${checkpoint}`);
  if (!unit.ok) throw new UserError(`fold ${fold}, checkpoint '${checkpoint}' is not whole: ${unit.problem}; wait for its training to save it, or run train --continue on it to roll it back`);
  const trainedWith = unit.json?.spec_hash;
  if (typeof trainedWith === 'string' && trainedWith !== specHash(run.ir))
    throw new UserError(`${json}: fold ${fold} was trained with another network than ${join(run.dir, 'model.ir.json')}; predict with the run folder it was trained in`);
  return weights;
}
