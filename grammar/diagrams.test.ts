import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../tests/fixtures.js';
import { grammarDiagrams } from './diagrams.js';

describe('docs/grammar/*.svg', () => {
  it('are the railroad diagrams generated from the parser (npm run accept regenerates them)', () => {
    const dir = join(ROOT, 'docs', 'grammar');
    const diagrams = grammarDiagrams();
    if (process.env.MNXC_ACCEPT === '1') for (const d of diagrams) writeFileSync(join(dir, `${d.rule}.svg`), d.svg);
    expect(readdirSync(dir).filter((f) => f.endsWith('.svg')).sort()).toEqual(diagrams.map((d) => `${d.rule}.svg`).sort());
    for (const d of diagrams) expect(readFileSync(join(dir, `${d.rule}.svg`), 'utf8'), d.rule).toBe(d.svg);
    expect(diagrams.map((d) => d.rule)).toEqual(expect.arrayContaining(['file', 'modelDecl', 'scalingDecl', 'variantDecl', 'forStmt', 'repeatExpr']));
  });
});

describe('docs/language.md', () => {
  it('documents every diagnostic code of the catalogue', async () => {
    const { Messages } = await import('../compiler/diagnostics/catalogue.js');
    const doc = readFileSync(join(ROOT, 'docs', 'language.md'), 'utf8');
    for (const m of Object.values(Messages)) expect(doc, m.code).toContain(`| ${m.code} |`);
  });
});
