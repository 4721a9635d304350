import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PRIVATE_TFJS_NODE } from '../backends/tensorflow.js';
import { applyPatch, BINDING_PATCHES, patchBinding } from './tfjs-node-patch.js';

const patch = BINDING_PATCHES[0]!;
const source = `void f() {\n  switch (t) {\n${patch.anchor}      set_one_string();\n      break;\n    }\n  }\n}\n`;
let dir: string | undefined;
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

describe('tfjs-node source patches', () => {
  it('inserts the list(string) branch right after its anchor', () => {
    const out = applyPatch(source, patch);
    expect(out.startsWith(source.slice(0, source.indexOf(patch.anchor) + patch.anchor.length) + patch.insert)).toBe(true);
    expect(out).toContain('TFE_OpSetAttrStringList');
    expect(out.replace(patch.insert, '')).toBe(source);
  });

  it('refuses a source without the anchor, or with it twice', () => {
    expect(() => applyPatch('int main() {}', patch)).toThrow(/is missing/);
    expect(() => applyPatch(source + source, patch)).toThrow(/occurs twice/);
  });

  it('patches from the pristine copy, so running it twice patches once, and skips what does not fit', () => {
    dir = mkdtempSync(join(tmpdir(), 'mnxc-patch-'));
    mkdirSync(join(dir, 'binding'));
    const file = join(dir, patch.file);
    writeFileSync(file, source);
    expect(patchBinding(dir, () => {})).toEqual(['string-list-attrs']);
    expect(patchBinding(dir, () => {})).toEqual(['string-list-attrs']);
    expect(readFileSync(file, 'utf8')).toBe(applyPatch(source, patch));
    expect(readFileSync(`${file}.orig`, 'utf8')).toBe(source);

    // tfjs-node reinstalled (a new source in place of the patched one): that is the pristine copy now.
    const newer = source.replace('set_one_string', 'set_one_string_v2');
    writeFileSync(file, newer);
    expect(patchBinding(dir, () => {})).toEqual(['string-list-attrs']);
    expect(readFileSync(`${file}.orig`, 'utf8')).toBe(newer);
    expect(readFileSync(file, 'utf8')).toBe(applyPatch(newer, patch));

    writeFileSync(`${file}.orig`, 'int main() {}\n');
    writeFileSync(file, 'int main() {}\n');
    const lines: string[] = [];
    expect(patchBinding(dir, (l) => lines.push(l))).toEqual([]);
    expect(lines.join('\n')).toMatch(/not the version .*'string-list-attrs'.*building without it/);
    expect(readFileSync(file, 'utf8')).toBe('int main() {}\n');
  });

  // The tfjs-node that `mnxc setup tensorflow` installs (where it has run): the anchor is there once.
  it.skipIf(!existsSync(join(PRIVATE_TFJS_NODE, `${patch.file}.orig`)))('fits the tfjs-node source setup installs', () => {
    expect(() => applyPatch(readFileSync(join(PRIVATE_TFJS_NODE, `${patch.file}.orig`), 'utf8'), patch)).not.toThrow();
  });
});
