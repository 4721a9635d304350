/**
 * A small real run folder for tests (the layout `mnxc train` writes): a compiled IR, plans, the
 * dataset.json, and per fold a checkpoint triplet with freshly initialised weights. Not used by the
 * pipeline itself.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IRModel } from '../ir/types.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { writeSafetensors } from '../runtime/io/safetensors.js';
import { defaultPlans, type Plans, type Triple } from '../runtime/data/plan/index.js';
import { buildModel } from '../runtime/model/model.js';
import { exportWeights } from '../runtime/weights/state-dict.js';
import { requireNetwork } from './network.js';
import { RunFolder } from './run-folder.js';

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
  return requireNetwork(spec, { set, variant }).ir;
}

export function writeTestRunFolder(dir: string, s: TestRunSpec): { ir: IRModel; plans: Plans } {
  const network = requireNetwork(s.spec, { set: s.set ?? [], variant: s.variant });
  const ir = network.ir;
  const plans = defaultPlans({
    dataset: { name: 'test', channels: s.channels, labels: s.labels, num_training: 4 },
    target_spacing: s.targetSpacing ?? [1, 1, 1],
    normalization: s.channels.map((name, channel) => ({ channel, name, scheme: 'zscore', use_nonzero_mask: false })),
    median_shape: s.patch,
    patch_size: s.patch,
  });
  RunFolder.write(dir, { plans, ir, network: network.source });
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
