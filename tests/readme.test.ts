import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { compileFile } from '../compiler/compile.js';
import { buildModel } from '../runtime/model/model.js';
import { exportWeights } from '../runtime/weights/state-dict.js';
import { writeSafetensors } from '../runtime/io/safetensors.js';
import { FIXTURES, ROOT } from './fixtures.js';
import { startRedis, type TestRedis } from './redis.js';

/**
 * Every command in the README's ```sh blocks is run here, in order, in a scratch folder (so
 * `out/` lands there), or is listed below with the reason it is not. A README command this
 * table does not know fails the test: the README cannot drift from what works.
 */
type Rule = { skip: string } | { append?: string[]; replace?: [string, string][]; background?: true };
const RULES: [RegExp, Rule][] = [
  [/^npm ci && npm run demo$/, { skip: '.ci/run runs npm ci, scripts/setup-tensorflow.sh and the demo itself' }],
  [/^npm test$/, { skip: 'this is the test suite' }],
  [/^pip install /, { skip: 'installs Python packages; .ci/run fetches the wheel with pip download' }],
  [/^mnxc setup tensorflow/, { skip: '.ci/run runs it through scripts/setup-tensorflow.sh' }],
  [/^mnxc example-data /, { append: ['--cases', '5', '--test-cases', '2'] }],
  [/^mnxc train /, { append: ['--epochs', '1', '--iterations', '2', '--val-iterations', '1'] }],
  [/^mnxc predict /, { append: ['--no-tta'] }],
  [/^redis-server /, { skip: 'the test starts its own redis-server on a free port (tests/redis.ts) and points every --redis URL at it' }],
  [/^mnxc worker .*&$/, { background: true }],
  // on a free port of the test's own; the page it serves is fetched before the next command
  [/^mnxc serve .*&$/, { background: true, replace: [['8080', 'FREE_PORT']] }],
  [/^mnxc queue submit predict /, { append: ['--no-tta'] }],
  [/^mnxc import-torch checkpoint_final\.pth/, { replace: [['checkpoint_final.pth', 'FIXTURE_CHECKPOINT'], ['network_weights', 'state_dict']] }],
  [/^mnxc /, {}],
];

function readmeCommands(): string[] {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n')).map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
}

/**
 * Runs `mnxc ARGS` in `cwd` without blocking the worker's event loop: a blocking loop of
 * commands this long starves vitest's RPC ("Timeout calling onTaskUpdate").
 */
function run(args: string[], cwd: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('close', (status) => done({ status, stderr }));
  });
}

/** A port no one listens on now. */
function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

/** The body at `url` once a server answers there (up to 30 s). */
async function fetchWhenUp(url: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(url);
      if (r.ok) return await r.text();
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return `nothing answered at ${url}`;
}

/** Splits a command line into words, honouring single and double quotes. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** Whatever a README command started (redis-server, mnxc worker) is killed even when a command fails. */
const cleanup: (() => void)[] = [];
afterAll(() => cleanup.splice(0).reverse().forEach((f) => f()));

describe('README commands', () => {
  it('every command runs (or is listed with the reason it is not)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mnxc-readme-'));
    symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
    // The files the README's examples refer to.
    await tf.setBackend('cpu');
    const s = compileFile(join(ROOT, 'examples', 'mednext.mnx'), { variant: 'S', inputSize: [32, 32, 32] }).ir!;
    writeSafetensors(join(dir, 'W.safetensors'), exportWeights(buildModel(s, { seed: 1 })));
    writeSafetensors(join(dir, 'I.safetensors'), new Map([['input', { dtype: 'F32', shape: [1, 1, 32, 32, 32], data: new Float32Array(32 ** 3).fill(0.5) }]]));
    const k3 = compileFile(join(ROOT, 'examples', 'paper', 'mednext_S_k3.mnx'), {}).ir!;
    writeSafetensors(join(dir, 'k3.safetensors'), exportWeights(buildModel(k3, { seed: 2 })));
    const nn = JSON.parse(readFileSync(join(FIXTURES, 'nnunet-reference', 'plain_unet_iso.json'), 'utf8'));
    writeFileSync(join(dir, 'nnUNetPlans.json'), JSON.stringify({ dataset_name: 'Dataset001_Example', configurations: { '3d_fullres': { patch_size: [128, 128, 128], architecture: nn.nnunet_plans_equivalent } } }));
    // A ResEnc M plans file: the network nnUNetPlannerResEncM plans for the liver-CT fingerprint.
    const presets = JSON.parse(readFileSync(join(FIXTURES, 'resenc-reference', 'param_counts.json'), 'utf8'));
    const m = presets.rows.find((r: { fingerprint: string; preset: string; configuration: string }) => r.fingerprint === 'liver_ct_1mm' && r.preset === 'M' && r.configuration === '3d_fullres');
    const mKwargs = Object.fromEntries(Object.entries(m.constructor_args).filter(([k]) => !['input_channels', 'num_classes', 'deep_supervision'].includes(k)));
    writeFileSync(join(dir, 'nnUNetResEncUNetMPlans.json'), JSON.stringify({ dataset_name: 'Dataset001_Example', plans_name: 'nnUNetResEncUNetMPlans', configurations: { '3d_fullres': { patch_size: m.patch_size, batch_size: m.batch_size, architecture: { network_class_name: 'dynamic_network_architectures.architectures.unet.ResidualEncoderUNet', arch_kwargs: mKwargs, _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'] } } } }));
    writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ channel_names: { 0: 'CT' }, labels: { background: 0, a: 1, b: 2 }, numTraining: 1, file_ending: '.nii.gz' }));
    const checkpoint = join(FIXTURES, 'torch-checkpoints', 'tiny_k3_ds_model_final_checkpoint.model');
    // The README's Redis URL is replaced by a redis-server of the test's own (started at its first use).
    const README_REDIS = 'redis://127.0.0.1:6379';
    let redis: TestRedis | undefined;
    const background: { line: string; proc: ChildProcess; exit: Promise<{ code: number | null; stderr: () => string }> }[] = [];

    for (const line of readmeCommands()) {
      const rule = RULES.find(([re]) => re.test(line));
      expect(rule, `README command not covered by tests/readme.test.ts: ${line}`).toBeDefined();
      const r = rule![1];
      if ('skip' in r) continue;
      let cmd = line.replace(/\s*&$/, '');
      for (const [a, b] of r.replace ?? []) cmd = cmd.replace(a, b);
      if (cmd.includes(README_REDIS)) {
        if (!redis) {
          redis = await startRedis();
          cleanup.push(redis.stop);
        }
        cmd = cmd.replaceAll(README_REDIS, redis.url);
      }
      const port = cmd.includes('FREE_PORT') ? await freePort() : 0;
      const args = [...words(cmd).slice(1).map((w) => (w === 'FIXTURE_CHECKPOINT' ? checkpoint : w === 'FREE_PORT' ? String(port) : w)), ...(r.append ?? [])];
      if ('background' in r) {
        const proc = spawn(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        cleanup.push(() => proc.kill('SIGKILL'));
        background.push({ line, proc, exit: new Promise((res) => proc.once('exit', (code) => res({ code, stderr: () => stderr }))) });
        if (args[0] === 'serve') {
          const page = await fetchWhenUp(`http://127.0.0.1:${port}/`);
          expect(page, `${line}\n${stderr}`).toContain('<script type="module" src="./mnxc-page.js">');
        }
        continue;
      }
      const p = await run(args, dir);
      expect(p.status, `${line}\n${p.stderr}`).toBe(0);
    }
    // Long-running commands (mnxc worker) stop cleanly on SIGTERM.
    for (const b of background) {
      b.proc.kill('SIGTERM');
      const { code, stderr } = await b.exit;
      expect(code, `${b.line}\n${stderr()}`).toBe(0);
    }
  }, 600_000);
});

/** Fenced code blocks in order, with their language tag ('' for none). */
function fencedBlocks(text: string): { lang: string; body: string }[] {
  const out: { lang: string; body: string }[] = [];
  let open: { lang: string; lines: string[] } | null = null;
  for (const line of text.split('\n')) {
    const fence = line.match(/^```(\S*)\s*$/);
    if (fence && !open) open = { lang: fence[1]!, lines: [] };
    else if (fence && open) {
      out.push({ lang: open.lang, body: open.lines.join('\n') });
      open = null;
    } else open?.lines.push(line);
  }
  return out;
}

describe('.mnx examples in the docs', () => {
  /** Unlabelled fenced blocks that declare a model are .mnx specs: each must compile cleanly. */
  for (const doc of ['README.md', 'docs/language.md']) {
    it(`${doc}: every spec example compiles`, () => {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      // Fragments elided with '…' are excerpts, not specs.
      const specs = fencedBlocks(text).filter((b) => b.lang === '' && /^\s*model \w+\s*\(/m.test(b.body) && !b.body.includes('…')).map((b) => b.body);
      expect(specs.length).toBeGreaterThan(0);
      for (const spec of specs) {
        const r = compileFile(join(ROOT, 'docs', 'example.mnx'), { text: spec, inputSize: [64, 64, 64] });
        expect(r.diagnostics.map((d) => `${d.code} ${d.message}`), spec).toEqual([]);
      }
    });
  }
});
