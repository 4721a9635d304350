/**
 * A small real run folder for tests (the layout `mnxc train` writes): a compiled IR, plans, the
 * dataset.json, and per fold a checkpoint triplet with freshly initialised weights. Not used by the
 * pipeline itself.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { compileFile } from '../../compiler/compile.js';
import type { IRModel } from '../../ir/types.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writeSafetensors } from '../io/safetensors.js';
import { defaultPlans, savePlans, type Plans, type Triple } from '../data/plan/index.js';
import { buildModel } from '../model/model.js';
import { exportWeights } from '../weights/state-dict.js';

export interface TestRunSpec {
  spec: string;
  set?: string[];
  variant?: string;
  channels: string[];
  /** value → name, background included. */
  labels: Record<string, string>;
  patch: Triple;
  targetSpacing?: Triple;
  /** Fold name → weight seed. */
  folds: Record<string, number>;
  /** Checkpoint names to write per fold (default: final). */
  checkpoints?: string[];
}

export function compileTestIR(spec: string, set: string[] = [], variant?: string): IRModel {
  const r = compileFile(spec, { set, variant });
  if (!r.ir) throw new Error(`${spec}: does not compile: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.ir;
}

export function writeTestRunFolder(dir: string, s: TestRunSpec): { ir: IRModel; plans: Plans } {
  mkdirSync(join(dir, 'spec'), { recursive: true });
  const ir = compileTestIR(s.spec, s.set, s.variant);
  writeFileAtomic(join(dir, 'model.ir.json'), JSON.stringify(ir) + '\n');
  copyFileSync(s.spec, join(dir, 'spec', basename(s.spec)));
  const plans = defaultPlans({
    dataset: { name: 'test', channels: s.channels, labels: s.labels, num_training: 4 },
    target_spacing: s.targetSpacing ?? [1, 1, 1],
    normalization: s.channels.map((name, channel) => ({ channel, name, scheme: 'zscore', use_nonzero_mask: false })),
    median_shape: s.patch,
    patch_size: s.patch,
    model: { spec: `spec/${basename(s.spec)}`, set: {} },
  });
  savePlans(join(dir, 'plans.yaml'), plans);
  const datasetJson = {
    name: 'test',
    channel_names: Object.fromEntries(s.channels.map((n, i) => [String(i), n])),
    labels: Object.fromEntries(Object.entries(s.labels).map(([v, n]) => [n, Number(v)])),
    numTraining: 4,
    file_ending: '.nii.gz',
  };
  writeFileAtomic(join(dir, 'dataset.json'), JSON.stringify(datasetJson, null, 2) + '\n');
  for (const [fold, seed] of Object.entries(s.folds)) {
    const foldDir = join(dir, `fold_${fold}`);
    mkdirSync(foldDir, { recursive: true });
    const model = buildModel(ir, { seed });
    const weights = exportWeights(model);
    model.dispose();
    for (const name of s.checkpoints ?? ['final']) {
      writeSafetensors(join(foldDir, `checkpoint_${name}.weights.safetensors`), weights);
      writeFileAtomic(join(foldDir, `checkpoint_${name}.json`), JSON.stringify({ epoch: 0, seed }) + '\n');
    }
  }
  return { ir, plans };
}
