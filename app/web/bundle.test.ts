import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { buildWebBundle, WASM_FILES, WEB_ENTRIES, WebBundleError } from './bundle.js';

describe('the browser bundle (app/web/bundle.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnxc-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds the runtime entry as ES modules, with the wasm binaries beside it and no backend loaded up front', async () => {
    const out = join(dir, 'web');
    const b = await buildWebBundle({ outDir: out });
    expect(Object.keys(WEB_ENTRIES)).toContain('mnxc-runtime');
    for (const f of ['mnxc-runtime.js', ...WASM_FILES]) expect(b.files).toContain(f);
    expect(b.files.every((f) => !f.includes('/'))).toBe(true);
    const entry = readFileSync(join(out, 'mnxc-runtime.js'), 'utf8');
    expect(entry).toMatch(/export\s*\{/);
    // The GPU backends are chunks loaded when chosen, not part of what the entry imports statically.
    const statics = [...entry.matchAll(/import\s*(?:[^'"()]*?from\s*)?["'](\.\/[^"']+)["']/g)].map((m) => readFileSync(join(out, m[1]!), 'utf8')).join('\n');
    const all = b.files.filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(out, f), 'utf8')).join('\n');
    for (const backend of ['MathBackendWebGL', 'WebGPUBackend', 'BackendWasm']) {
      expect(all).toContain(backend);
      expect(statics).not.toContain(backend);
    }
    expect(b.bytes).toBeGreaterThan(1e6);
  });

  it('refuses a Node built-in on the browser path, naming the importer', async () => {
    const bad = join(ROOT, 'runtime', 'io', 'safetensors.ts');
    const entry = join(dir, 'bad-entry.ts');
    writeFileSync(entry, `export * from ${JSON.stringify(bad)};\n`);
    const err = await buildWebBundle({ outDir: join(dir, 'bad'), entries: { bad: entry } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebBundleError);
    expect((err as Error).message).toContain("Node built-in 'node:fs' imported by runtime/io/safetensors.ts");
    expect(existsSync(join(dir, 'bad', 'bad.js'))).toBe(false);
  });
});
