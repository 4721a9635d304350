import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './fixtures.js';

/**
 * The package as another program sees it: `npm pack` (which builds dist/ with its .d.ts), the
 * tarball unpacked into an empty folder's node_modules/mnxc as npm installs it, with the
 * dependencies this checkout already has beside it (no registry needed: a CI machine that ran
 * `npm ci` has them). There a consumer generates a model's TypeScript with `mnxc`, type-checks
 * it against the shipped declarations, and runs it with `mnxc/runtime` — plain Node, no tsx.
 */
const dir = mkdtempSync(join(tmpdir(), 'mnxc-package-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('npm pack → install into an empty folder → compile and run a generated model', () => {
  it('works from the tarball alone, with typed entry points mnxc and mnxc/runtime', () => {
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir], ROOT)) as { filename: string; files: { path: string }[] }[];
    const files = packed[0]!.files.map((f) => f.path);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/runtime/index.js', 'dist/runtime/index.d.ts', 'bin/mnxc.js', 'examples/tiny.mnx']) expect(files, f).toContain(f);
    expect(files.filter((f) => f.endsWith('.test.ts'))).toEqual([]);

    // Install: the tarball's package/ as node_modules/mnxc; its dependencies from this checkout.
    const app = join(dir, 'app');
    const modules = join(app, 'node_modules');
    mkdirSync(join(modules, 'mnxc'), { recursive: true });
    run('tar', ['-xzf', join(dir, packed[0]!.filename), '--strip-components=1', '-C', join(modules, 'mnxc')], dir);
    for (const name of readdirSync(join(ROOT, 'node_modules'))) if (name !== '.bin' && name !== 'mnxc') symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));

    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { mnxc: '*' } }));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, types: ['node'], outDir: 'out', rootDir: '.' }, files: ['main.ts', 'model.gen.ts'] }),
    );
    writeFileSync(
      join(app, 'generate.mjs'),
      `import { writeFileSync } from 'node:fs';
import { compile, generateTypeScript } from 'mnxc';
const r = compile('node_modules/mnxc/examples/tiny.mnx', { inputSize: [16, 16, 16] });
if (!r.ir) throw new Error('does not compile');
writeFileSync('model.gen.ts', generateTypeScript(r.ir, { source: 'examples/tiny.mnx' }));
writeFileSync('model.ir.json', JSON.stringify(r.ir));
`,
    );
    writeFileSync(
      join(app, 'main.ts'),
      `import { check, summary } from 'mnxc';
import { buildModel, forward, readIR, tf, useBackend, type IRModel } from 'mnxc/runtime';
import * as generated from './model.gen.js';

await useBackend('cpu');
const ir: IRModel = readIR('model.ir.json');
const model = buildModel(ir, { seed: 1 });
const x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 7);
const built = model.forward(x);
const gen = generated.forward((name) => model.variables.get(name)!, x);
const maxDiff = Math.max(...built.map((t, i) => tf.max(tf.abs(tf.sub(t, gen[i]!))).dataSync()[0]!));
const host = await forward(model, { shape: [1, 1, 16, 16, 16], data: new Float32Array(16 ** 3).fill(0.5) });
console.log(JSON.stringify({ ok: check('node_modules/mnxc/examples/tiny.mnx').ok, params: summary(ir).params, parameters: [generated.parameters.length, ir.parameters.length], heads: [built.length, gen.length], maxDiff, shape: host[0]!.shape }));
`,
    );
    run(process.execPath, ['generate.mjs'], app);
    // Type-checks the generated module and the consumer against the shipped .d.ts, then emits JS.
    run(process.execPath, [join(modules, 'typescript', 'bin', 'tsc'), '-p', '.'], app);
    const result = JSON.parse(run(process.execPath, [join('out', 'main.js')], app));
    expect(result.ok).toBe(true);
    expect(result.params).toBeGreaterThan(10_000);
    expect(result.parameters[0]).toBe(result.parameters[1]);
    expect(result.heads).toEqual([5, 5]);
    expect(result.maxDiff).toBeLessThan(1e-5);
    expect(result.shape).toEqual([1, 2, 16, 16, 16]);

    // The installed command line runs from the package too.
    const cli = spawnSync(process.execPath, [join(modules, 'mnxc', 'bin', 'mnxc.js'), 'check', 'node_modules/mnxc/examples/tiny.mnx'], { cwd: app, encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/tiny\.mnx: ok \(MedNeXt_tiny/);
  }, 180_000);
});
