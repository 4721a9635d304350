/**
 * Shared pieces of the hostile suite: the real CLI in a child process (so signals, exit codes and
 * what reaches the terminal are the real ones), tiny NIfTI images and a tiny run folder.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createImage, writeNifti } from '../../runtime/data/nifti/index.js';
import { ROOT } from '../fixtures.js';

export const MNXC = join(ROOT, 'bin', 'mnxc.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** `mnxc ARGS` in a new Node process, waited for. */
export function mnxcSync(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [MNXC, ...args], { encoding: 'utf8', cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, timeout: opts.timeout ?? 60_000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** `mnxc ARGS` started in the background; `lines` collects stderr as it arrives. */
export function mnxcSpawn(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, [MNXC, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => {
    err += String(d);
    for (const w of waiters.splice(0)) if (w.re.test(err)) w.resolve();
      else waiters.push(w);
  });
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
  /** Resolves once stderr matches `re`. */
  const waitFor = (re: RegExp) => (re.test(err) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ re, resolve })));
  return { child, done, waitFor, stderr: () => err };
}

/** A stack trace's frame lines ("    at f (file:1:2)"). */
export const STACK = /\n\s+at .+:\d+:\d+\)?/;

/** A small image (float32, 1 mm voxels unless `spacing`) written as NIfTI. */
export function writeImage(path: string, shape: [number, number, number], fill: (i: number) => number = (i) => (i % 7) * 10, spacing: [number, number, number] = [1, 1, 1], dtype?: 'uint8' | 'float32') {
  mkdirSync(join(path, '..'), { recursive: true });
  const n = shape[0] * shape[1] * shape[2];
  const data = dtype === 'uint8' ? Uint8Array.from({ length: n }, (_, i) => fill(i)) : Float32Array.from({ length: n }, (_, i) => fill(i));
  const affine = [[spacing[0], 0, 0, 0], [0, spacing[1], 0, 0], [0, 0, spacing[2], 0], [0, 0, 0, 1]];
  writeNifti(path, createImage({ shape, data, affine }));
}

/**
 * A preprocessed sphere dataset (5 cases of 16³) whose plans name examples/tiny.mnx and save
 * checkpoint_latest after every epoch; `trainArgs` trains its fold 'all' at width 2.
 */
export async function makeTrainingData(root: string): Promise<{ pre: string; trainArgs: (run: string, ...extra: string[]) => string[] }> {
  const { makePreprocessedSpheres } = await import('../../runtime/train/testing.js');
  const { savePlans } = await import('../../runtime/data/plan/index.js');
  const made = await makePreprocessedSpheres(root, 5, 16);
  savePlans(join(made.dir, 'plans.yaml'), { ...made.plans, model: { spec: join(ROOT, 'examples', 'tiny.mnx'), set: { n_channels: 2 } }, training: { ...made.plans.training, checkpoint_every: 1 } });
  const trainArgs = (run: string, ...extra: string[]) => ['train', made.dir, '--fold', 'all', '-o', run, '--epochs', '2', '--iterations', '2', '--val-iterations', '1', '--workers', '0', ...extra];
  return { pre: made.dir, trainArgs };
}
