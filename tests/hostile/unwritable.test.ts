/**
 * Issue 19, item 6 (outputs): an output folder that cannot be written is refused before any work
 * by plan, preprocess, train and evaluate (predict: predict-outputs.test.ts), in one line naming
 * the folder. The folder is below a regular file, which no user (root included) can create.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mnxcInProcess as mnxc } from '../cli.js';
import { STACK, makeTrainingData } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-unwritable-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const blocked = join(root, 'blocker', 'out');
let pre: string;
let trainArgs: (run: string, ...extra: string[]) => string[];
beforeAll(async () => {
  ({ pre, trainArgs } = await makeTrainingData(root));
  writeFileSync(join(root, 'blocker'), 'a file, not a folder');
}, 60_000);

const expectRefused = (r: { code: number; out: string; err: string }) => {
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/blocker.out: cannot create the (output folder|run folder|folder of the [a-z ]+) \((ENOTDIR|EEXIST)/);
  expect(r.err).not.toMatch(STACK);
  expect(r.err).not.toMatch(/epoch|case\(s\) preprocessed|\[1\//); // nothing was computed first
};

describe('unwritable outputs are refused before work', () => {
  const dataset = () => join(root, readdirSync(root).find((n) => n.startsWith('Dataset'))!);
  it('plan', async () => expectRefused(await mnxc('plan', dataset(), '-o', join(blocked, 'plans.yaml'))));
  it('preprocess', async () => expectRefused(await mnxc('preprocess', dataset(), '--plans', join(pre, 'plans.yaml'), '-o', blocked, '--workers', '0')));
  it('train', async () => expectRefused(await mnxc(...trainArgs(blocked, '--backend', 'cpu'))));
  it('evaluate', async () => expectRefused(await mnxc('evaluate', '--pred', pre, '--ref', pre, '-o', join(blocked, 'summary.json'))));
});
