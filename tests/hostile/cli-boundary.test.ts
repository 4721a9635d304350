/**
 * Issue 19, item 6 (the CLI boundary): a failure that is not a known user error still ends as one
 * line naming the file, what failed and what to do, with a hint to --debug; --debug adds the trace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STACK, mnxcSync } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
writeFileSync(join(root, 'blocker'), 'a file, not a folder');

describe('the CLI boundary', () => {
  it('an operating-system error is one line (path, what, what to do) and a hint; --debug prints the trace', () => {
    const r = mnxcSync(['graph', 'examples/tiny.mnx', '-o', join(root, 'blocker', 'net.svg')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^mnxc graph: error: .*blocker: cannot create \((EEXIST|ENOTDIR): [a-z ]+\); check the folder exists and is writable, or choose another output\n\(run again with --debug for the details\)\n$/);
    expect(r.err).not.toMatch(STACK);
    const d = mnxcSync(['graph', 'examples/tiny.mnx', '-o', join(root, 'blocker', 'net.svg'), '--debug']);
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/mnxc graph: error: .*blocker: cannot create/);
    expect(d.err).toMatch(STACK);
  });
});
