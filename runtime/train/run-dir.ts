/**
 * The run folder's checkpoints (see the shared run-folder layout): each checkpoint is a triplet
 * `NAME.weights.safetensors` (state_dict, PyTorch names and layouts), `NAME.state.safetensors`
 * (optimiser moments and step) and `NAME.json` (everything else), written in that order and each
 * atomically, so the json's presence means the triplet is complete.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IRModel } from '../../ir/types.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readSafetensors, serializeSafetensors, type TensorMap } from '../io/safetensors.js';
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
  const p = checkpointPaths(foldDir, name);
  writeFileAtomic(p.weights, serializeSafetensors(weights, { format: 'pt' }));
  writeFileAtomic(p.state, serializeSafetensors(optimizer));
  writeFileAtomic(p.json, JSON.stringify(state, null, 2) + '\n');
}

/** The complete checkpoint `name`, or null when its json is absent. */
export function readCheckpoint(foldDir: string, name: CheckpointName): { state: TrainState; weights: TensorMap; optimizer: TensorMap } | null {
  const p = checkpointPaths(foldDir, name);
  if (!existsSync(p.json)) return null;
  const state = JSON.parse(readFileSync(p.json, 'utf8')) as TrainState;
  if (state.format !== CHECKPOINT_FORMAT) throw new Error(`${p.json}: not a training checkpoint (format ${JSON.stringify(state.format)})`);
  return { state, weights: readSafetensors(p.weights), optimizer: readSafetensors(p.state) };
}
