/**
 * Issue 19, item 7 (and the long-chain part of item 6): `import` reads only .mnx files in the
 * spec's folder, the importing file's folder, the shipped library or a --lib folder; a refused
 * import is MNX2018 and shows nothing of its target. A 3000-term `1+1+…` compiles; a multi-megabyte
 * spec is refused up front.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { renderDiagnostics } from '../../compiler/diagnostics/render.js';
import { ROOT } from '../fixtures.js';
import { STACK } from './helpers.js';
import { mnxcInProcess } from '../cli.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-imports-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const secret = join(root, 'secret');
beforeAll(() => {
  mkdirSync(join(root, 'spec'));
  mkdirSync(join(root, 'elsewhere'));
  writeFileSync(join(root, 'secret.txt'), 'TOKEN=hunter2\nmodel x = y\n');
  writeFileSync(join(root, 'elsewhere', 'fam.mnx'), `import "${join(ROOT, 'examples', 'mednext.mnx')}"\nmodel Fam = MedNeXt { n_channels = 2 }\n`);
  symlinkSync(join(root, 'secret.txt'), join(root, 'spec', 'linked.mnx'));
  mkdirSync(secret);
});

function check(text: string, lib?: string[]) {
  const file = join(root, 'spec', `s${Math.random().toString(36).slice(2)}.mnx`);
  writeFileSync(file, text);
  const r = compileFile(file, { lib });
  return { r, text: renderDiagnostics(r.diagnostics, r.sources) };
}

describe('imports', () => {
  it('a file that is not .mnx, a .mnx outside the allowed folders and a link to a non-.mnx file are MNX2018, without their content', () => {
    for (const target of ['/etc/passwd', '/proc/self/environ', join(root, 'secret.txt'), join(root, 'elsewhere', 'fam.mnx'), 'linked.mnx']) {
      const { r, text } = check(`import "${target}"\nmodel A = Fam { }\n`);
      expect(r.ir).toBeNull();
      expect(r.diagnostics.map((d) => d.code)).toContain('MNX2018');
      expect(text).not.toMatch(/hunter2|root:|PATH=/);
      expect(text).not.toMatch(/model x = y/);
    }
  });

  it('--lib DIR allows a folder; the shipped library is always allowed', () => {
    const { r, text } = check(`import "${join(root, 'elsewhere', 'fam.mnx')}"\nmodel A = Fam { }\n`, [join(root, 'elsewhere')]);
    expect(text).toBe('');
    expect(r.ir).not.toBeNull();
  });

  it('mnxc check --lib works from the command line, and a refusal is one diagnostic', async () => {
    const file = join(root, 'spec', 'cli.mnx');
    writeFileSync(file, `import "${join(root, 'elsewhere', 'fam.mnx')}"\nmodel A = Fam { }\n`);
    const refused = await mnxcInProcess('check', file);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/MNX2018/);
    const ok = await mnxcInProcess('check', file, '--lib', join(root, 'elsewhere'));
    expect(ok.code, ok.err).toBe(0);
  });

  it('a 3000-term 1+1+… chain compiles (no recursion as deep as the chain); a 3.4 MB spec is refused quickly', async () => {
    const chain = Array.from({ length: 3000 }, () => '1').join('+');
    const { r, text } = check(`import "${join(ROOT, 'examples', 'mednext.mnx')}"\nmodel A = MedNeXt { n_channels = ${chain} - 2996 }\n`);
    expect(text).toBe('');
    expect(r.ir).not.toBeNull();
    const file = join(root, 'spec', 'huge.mnx');
    writeFileSync(file, `model A = MedNeXt { n_channels = ${Array.from({ length: 1_700_000 }, () => '1').join('+')} }\n`);
    const t0 = performance.now();
    const huge = await mnxcInProcess('check', file);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(huge.code).toBe(1);
    expect(huge.err).toMatch(/MNX5002: the file has \d+ characters, beyond the limit/);
    expect(huge.err).not.toMatch(STACK);
  });
});
