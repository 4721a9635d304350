import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import { renderSummary, summarize } from '../compiler/emit/summary.js';
import { generateTypeScript } from '../compiler/emit/typescript.js';
import type { IRModel } from '../ir/types.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { ROOT } from '../tests/fixtures.js';
import { goldenCases } from './cases.js';

const ACCEPT = process.env.MNXC_ACCEPT === '1';

/** Compares text with a baseline file; with MNXC_ACCEPT=1 writes it instead. */
function baseline(file: string, actual: string): void {
  const path = join(ROOT, 'specs', file);
  if (ACCEPT) {
    writeFileAtomic(path, actual);
    return;
  }
  if (!existsSync(path)) throw new Error(`missing baseline ${file}: run 'npm run accept' and review the new file`);
  expect(actual, `baseline ${file} differs (run 'npm run accept' to take the new output, then review the diff)`).toBe(readFileSync(path, 'utf8'));
}

/** The IR as JSON with one node / parameter per line, so a golden diff reads like code. */
export function irText(ir: IRModel): string {
  const { nodes, parameters, ...head } = ir;
  const lines = [JSON.stringify(head, null, 1).slice(0, -2) + ',', ' "nodes": ['];
  nodes.forEach((n, i) => lines.push('  ' + JSON.stringify(n) + (i < nodes.length - 1 ? ',' : '')));
  lines.push(' ],', ' "parameters": [');
  parameters.forEach((p, i) => lines.push('  ' + JSON.stringify(p) + (i < parameters.length - 1 ? ',' : '')));
  lines.push(' ]', '}');
  return lines.join('\n') + '\n';
}

describe('golden baselines of the examples', () => {
  for (const c of goldenCases) {
    it(c.name, () => {
      const r = compileFile(join(ROOT, c.spec), { variant: c.variant, set: c.set ?? [], inputSize: c.inputSize });
      expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
      const ir = r.ir!;
      // Spans name files relative to the repository, whatever the working directory.
      const text = irText(ir).split(ROOT + '/').join('');
      JSON.parse(text);
      baseline(`baselines/${c.name}.ir.json`, text);
      baseline(`baselines/${c.name}.summary.txt`, renderSummary(summarize(ir)) + '\n');
      baseline(`baselines/${c.name}.gen.ts`, generateTypeScript(ir, { source: c.spec }));
    });
  }
});

/** Error specs: `# @set: k=v`, `# @variant: V`, `# @input-size: 32,32,32` lines configure a case. */
describe('diagnostics baselines of broken specs', () => {
  const dir = join(ROOT, 'specs', 'errors');
  const files = readdirSync(dir).filter((f) => f.endsWith('.mnx')).sort();
  it('covers every diagnostic code', async () => {
    const { Messages } = await import('../compiler/diagnostics/catalogue.js');
    const codes = Object.values(Messages).map((m) => m.code);
    for (const code of codes) expect(files.some((f) => f.startsWith(code)), `no error spec for ${code}`).toBe(true);
    expect(files.length).toBeGreaterThanOrEqual(25);
  });
  for (const f of files) {
    it(f, () => {
      const text = readFileSync(join(dir, f), 'utf8');
      const header = (key: string) => [...text.matchAll(new RegExp(`^# @${key}: (.*)$`, 'gm'))].map((m) => m[1]!.trim());
      const size = header('input-size')[0];
      const cwd = process.cwd();
      process.chdir(ROOT);
      try {
        const r = compileFile(join('specs', 'errors', f), { set: header('set'), variant: header('variant')[0], inputSize: size ? size.split(',').map(Number) : null });
        const out = renderDiagnostics(r.diagnostics, r.sources);
        const code = f.match(/^(MNX\d{4})/)?.[1];
        if (code) expect(r.diagnostics.map((d) => d.code), `${f} should report ${code}`).toContain(code);
        else expect(r.diagnostics.some((d) => d.severity === 'error')).toBe(true);
        baseline(`errors/${f.replace(/\.mnx$/, '.diagnostics.txt')}`, out);
      } finally {
        process.chdir(cwd);
      }
    });
  }
});
