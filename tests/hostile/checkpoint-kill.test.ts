/**
 * Issue 19, item 3: a checkpoint is one unit. A real training process is killed with SIGKILL
 * between the renames of a checkpoint save; the unit left on disk fails its manifest, `--continue`
 * rolls it back to the previous whole one and finishes with the weights of an uninterrupted run,
 * bit for bit. Stray temporary files are removed on the next start; a damaged checkpoint (corrupt
 * json, truncated weights) is refused with one line.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectUnit } from '../../runtime/train/checkpoint-unit.js';
import { STACK, makeTrainingData, mnxcSync } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let trainArgs: (run: string, ...extra: string[]) => string[];
let reference: Buffer;
beforeAll(async () => {
  ({ trainArgs } = await makeTrainingData(root));
  const r = mnxcSync(trainArgs(join(root, 'ref')));
  expect(r.code, r.err).toBe(0);
  reference = readFileSync(join(root, 'ref', 'fold_all', 'checkpoint_final.weights.safetensors'));
}, 120_000);

const final = (run: string) => readFileSync(join(run, 'fold_all', 'checkpoint_final.weights.safetensors'));

describe('a checkpoint is saved as one unit', () => {
  it('SIGKILL between the renames of the second checkpoint_latest save: --continue rolls back and ends bit-identical', () => {
    const run = join(root, 'killed');
    const killed = mnxcSync(trainArgs(run), { env: { MNXC_KILL_AT: 'checkpoint_latest:between-renames@2' } });
    expect(killed.signal).toBe('SIGKILL');
    const fold = join(run, 'fold_all');
    // epoch-2 weights beside the epoch-1 manifest and optimiser state: not a whole unit
    const unit = inspectUnit(fold, 'checkpoint_latest');
    expect(unit.ok).toBe(false);
    expect(unit.problem).toMatch(/does not match its manifest/);
    expect((unit.json as { epoch: number }).epoch).toBe(1);
    // a stray temporary file, as a kill inside writeFileAtomic leaves one
    writeFileSync(join(fold, '.progress.json.999999999.1.tmp'), '{');
    const cont = mnxcSync(trainArgs(run, '--continue'));
    expect(cont.code, cont.err).toBe(0);
    expect(cont.err).toMatch(/checkpoint_latest was half-saved \(interrupted\); rolled back/);
    expect(cont.err).toMatch(/continuing from epoch 1 /);
    expect(cont.err).toMatch(/removed stray temporary file .*progress\.json\.999999999\.1\.tmp/);
    expect(readdirSync(fold).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(final(run).equals(reference)).toBe(true);
  });

  it('a corrupt checkpoint json and truncated weights are refused in one line, no stack trace', () => {
    const run = join(root, 'damaged');
    cpSync(join(root, 'ref'), run, { recursive: true });
    const fold = join(run, 'fold_all');
    writeFileSync(join(fold, 'checkpoint_latest.json'), '{"format": "mnxc-train-checkpoint", "epoch": ');
    // (same plans as the run: other plans over a trained fold are refused before any checkpoint is read)
    const bad = mnxcSync(trainArgs(run, '--continue'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/checkpoint_latest\.json: not valid JSON/);
    expect(bad.err).not.toMatch(STACK);
    const fold2 = join(root, 'damaged2', 'fold_all');
    cpSync(join(root, 'ref'), join(root, 'damaged2'), { recursive: true });
    const weights = join(fold2, 'checkpoint_latest.weights.safetensors');
    truncateSync(weights, 100);
    const trunc = mnxcSync(trainArgs(join(root, 'damaged2'), '--continue'));
    expect(trunc.code).toBe(1);
    expect(trunc.err).toMatch(/checkpoint_latest\.weights\.safetensors: does not match its manifest/);
    expect(trunc.err).not.toMatch(STACK);
    expect(existsSync(weights)).toBe(true); // refused, not deleted
  });
});
