/**
 * The run folder's checkpoints (see the shared run-folder layout): each checkpoint is a triplet
 * `NAME.weights.safetensors` (state_dict, PyTorch names and layouts), `NAME.state.safetensors`
 * (optimiser moments and step) and `NAME.json` (everything else, and the manifest: SHA-256 and
 * size of the other two), saved as one unit by checkpoint-unit.ts: the json is written last and a
 * triplet whose files do not match it is rolled back or refused.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { IRModel } from '../../ir/types.js';
import { parseSafetensors, serializeSafetensors, type TensorMap } from '../io/safetensors.js';
import { CheckpointError, readCheckpointUnit, writeCheckpointUnit } from './checkpoint-unit.js';
import type { EpochRecord } from './progress-svg.js';

export type CheckpointName = 'checkpoint_latest' | 'checkpoint_best' | 'checkpoint_final';

export const CHECKPOINT_FORMAT = 'mnxc-train-checkpoint';

export interface TrainState {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  /** Epoch the run continues with (epochs before it are complete, except `iteration` of this one). */
  epoch: number;
  /** Training iterations of `epoch` already done (non-zero only for a checkpoint taken mid-epoch). */
  iteration: number;
  /** Sum of the losses of those iterations (to finish the epoch's mean exactly). */
  partial_loss_sum: number;
  epochs: number;
  iterations_per_epoch: number;
  /** Optimiser steps taken in total. */
  optimizer_steps: number;
  lr: number;
  ema_pseudo_dice: number | null;
  best_ema_pseudo_dice: number | null;
  best_epoch: number | null;
  /** Batches are drawn from generators derived from (seed, kind, epoch, index): that is the whole RNG state. */
  rng: { scheme: 'per-batch sfc32'; seed: number };
  spec_hash: string;
  plans_hash: string;
  fold: string;
  history: EpochRecord[];
  saved_at: string;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Hash of what the network computes (source positions left out, so editing comments does not count). */
export function specHash(ir: IRModel): string {
  const nodes = ir.nodes.map((n) => ({ id: n.id, op: n.op, inputs: n.inputs, attrs: n.attrs, params: n.params }));
  return sha256(JSON.stringify({ nodes, outputs: ir.outputs, parameters: ir.parameters, input: ir.input.channels, dims: ir.spatialDims }));
}

export function checkpointPaths(foldDir: string, name: CheckpointName) {
  return {
    weights: join(foldDir, `${name}.weights.safetensors`),
    state: join(foldDir, `${name}.state.safetensors`),
    json: join(foldDir, `${name}.json`),
  };
}

export function writeCheckpoint(foldDir: string, name: CheckpointName, weights: TensorMap, optimizer: TensorMap, state: TrainState): void {
  writeCheckpointUnit(foldDir, name, serializeSafetensors(weights, { format: 'pt' }), serializeSafetensors(optimizer), (files) => ({ ...state, files }));
}

/** The complete checkpoint `name`, or null when its json is absent; CheckpointError when it is not whole. */
export function readCheckpoint(foldDir: string, name: CheckpointName): { state: TrainState; weights: TensorMap; optimizer: TensorMap } | null {
  const p = checkpointPaths(foldDir, name);
  const unit = readCheckpointUnit(foldDir, name);
  if (!unit) return null;
  const state = unit.json as unknown as TrainState;
  if (state.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${p.json}: not a training checkpoint (format ${JSON.stringify(state.format)})`);
  for (const key of ['epoch', 'iteration', 'optimizer_steps'] as const)
    if (!Number.isInteger(state[key]) || state[key] < 0) throw new CheckpointError(`${p.json}: field '${key}' is not a whole number ≥ 0 (the file is damaged)`);
  if (!state.rng || !Array.isArray(state.history)) throw new CheckpointError(`${p.json}: fields 'rng' and 'history' are missing (the file is damaged)`);
  try {
    return { state, weights: parseSafetensors(unit.weights, p.weights).tensors, optimizer: parseSafetensors(unit.state, p.state).tensors };
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
}
