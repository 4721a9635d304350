import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './fixtures.js';
import { browserPath, BROWSER_ROOT, checkWalls, IMPORT_RULES, LAYOUT_MODULE, repositoryFiles, staleExceptions, TFJS_INTERNALS_MODULE, type Violation } from './walls.js';
import { TFJS_CORE_CHECKED } from '../runtime/tfjs-internals.js';

const show = (vs: Violation[]) => vs.map((v) => `${v.file}:${v.line}: ${v.rule}: ${v.detail}`).join('\n');

describe('walls between the layers (tests/walls.ts)', () => {
  const files = repositoryFiles(ROOT);

  it('no file of the repository crosses a wall', () => {
    expect(files.size).toBeGreaterThan(100);
    expect(show(checkWalls(files))).toBe('');
  });

  it('every exception names a file that still exists (delete entries for files that moved)', () => {
    expect(staleExceptions(files)).toEqual([]);
  });

  it('fails on each kind of crossing', () => {
    const bad = new Map([
      ['compiler/bad.ts', "import * as tf from '@tensorflow/tfjs-core';\nimport { ops } from '../runtime/ops/index.js';"],
      ['grammar/bad.ts', "export { main } from '../cli/main.js';"],
      ['ir/bad.ts', "import type { MnxModel } from '../runtime/model/model.js';\nimport yaml from 'yaml';"],
      ['runtime/model/bad.ts', "const m = await import('../../compiler/compile.js');\nimport { UserError } from '../../cli/errors.js';"],
      ['runtime/train/bad.ts', 'const tape = tf.engine().state.activeTape;\nconst v = backend.data.get(t.dataId).values;'],
      ['runtime/weights/bad.ts', 'const w = tf.transpose(weight, [4, 3, 0, 1, 2]);'],
      ['cli/bad.ts', "import { compileFile } from '../compiler/compile.js';"],
      ['runtime/infer/bad.ts', "import { Queue } from 'bullmq';"],
      ['cli/commands/bad.ts', "import { Redis } from 'ioredis';"],
      ['runtime/browser/bad.ts', "import { readFileSync } from 'node:fs';\nimport { x } from '../io/helper.js';\nimport type { Stats } from '../io/typed.js';"],
      ['runtime/io/helper.ts', "import { join } from 'path';\nexport const x = process.cwd() + Buffer.from('a');"],
      ['runtime/io/typed.ts', "import { statSync } from 'node:fs';"],
    ]);
    const found = checkWalls(bad).map((v) => `${v.file}:${v.line} ${v.detail}`);
    expect(found).toEqual([
      "compiler/bad.ts:1 imports '@tensorflow/tfjs-core'",
      "compiler/bad.ts:2 imports '../runtime/ops/index.js'",
      "grammar/bad.ts:1 imports '../cli/main.js'",
      "ir/bad.ts:1 imports '../runtime/model/model.js'",
      "ir/bad.ts:2 imports 'yaml'",
      "runtime/model/bad.ts:1 imports '../../compiler/compile.js'",
      "runtime/model/bad.ts:2 imports '../../cli/errors.js'",
      'runtime/train/bad.ts:1 tf.engine().state.activeTape',
      'runtime/train/bad.ts:2 backend.data.get',
      'runtime/weights/bad.ts:1 tf.transpose',
      "runtime/infer/bad.ts:1 imports 'bullmq'",
      "cli/commands/bad.ts:1 imports 'ioredis'",
      "runtime/browser/bad.ts:1 imports 'node:fs' (reached by runtime/browser/bad.ts)",
      "runtime/io/helper.ts:1 imports 'path' (reached by runtime/browser/bad.ts → runtime/io/helper.ts)",
      "runtime/io/helper.ts:2 uses Node's global 'process' (reached by runtime/browser/bad.ts → runtime/io/helper.ts)",
      "runtime/io/helper.ts:2 uses Node's global 'Buffer' (reached by runtime/browser/bad.ts → runtime/io/helper.ts)",
    ]);
  });

  it('the browser path reaches the model builder, ops, kernels and the safetensors format, not the file I/O', () => {
    const { reachable } = browserPath(files);
    for (const f of ['runtime/browser/index.ts', 'runtime/model/model.ts', 'runtime/ops/index.ts', 'runtime/kernels/group-norm.ts', 'runtime/weights/layout.ts', 'runtime/io/safetensors-format.ts', 'ir/rewrites/index.ts']) expect(reachable).toContain(f);
    expect(reachable).not.toContain('runtime/io/safetensors.ts');
  });

  it('docs/architecture.md describes every wall: each layer, the layout module and the TF.js internals module', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
    for (const rule of IMPORT_RULES) for (const folder of rule.files) expect(doc, rule.name).toContain(`\`${folder}\``);
    for (const path of [LAYOUT_MODULE, TFJS_INTERNALS_MODULE, BROWSER_ROOT, 'tests/walls.ts']) expect(doc).toContain(path);
  });

  it('TF.js internals were checked against the installed tfjs-core', () => {
    const installed = JSON.parse(readFileSync(join(ROOT, 'node_modules/@tensorflow/tfjs-core/package.json'), 'utf8')).version as string;
    expect(installed, 'update runtime/tfjs-internals.ts after re-running the backprop, native and model tests').toBe(TFJS_CORE_CHECKED);
  });
});
