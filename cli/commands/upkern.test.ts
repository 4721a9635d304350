import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../../tests/fixtures.js';
import { readSafetensors } from '../../runtime/io/safetensors.js';

describe('mnxc upkern', () => {
  const work = mkdtempSync(join(tmpdir(), 'mnxc-upkern-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const tiny = join(ROOT, 'examples', 'tiny.mnx');
  const k3 = join(FIXTURES, 'mednext-reference', 'tiny_k3_ds.weights.safetensors');
  const mnxc = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'upkern', ...args], { cwd: work, encoding: 'utf8' });

  it('maps k3 → k5, prints the table, writes the weights and the report', () => {
    const r = mnxc('--from', tiny, '--to', tiny, '--to-set', 'kernel_size=5', '--weights', k3, '--out', 'k5.safetensors', '--report', 'k5.json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^name +action +source shape → target shape$/m);
    expect(r.stdout).toMatch(/^enc_block_0\.0\.conv1\.weight +resample +\[4, 1, 3, 3, 3\] → \[4, 1, 5, 5, 5\]$/m);
    expect(r.stdout).toMatch(/^148 copy, 17 resample, 0 fresh, 0 dropped$/m);
    const out = readSafetensors(join(work, 'k5.safetensors'));
    const want = readSafetensors(join(FIXTURES, 'mednext-reference', 'tiny_k3_upkern_to_k5.weights.safetensors'));
    expect([...out.keys()].sort()).toEqual([...want.keys()].sort());
    let max = 0;
    for (const [k, t] of want) for (let i = 0; i < t.data.length; i++) max = Math.max(max, Math.abs((out.get(k)!.data[i] as number) - (t.data[i] as number)));
    expect(max).toBeLessThanOrEqual(1e-6);
    const report = JSON.parse(readFileSync(join(work, 'k5.json'), 'utf8'));
    expect(report.to.set).toEqual(['kernel_size=5']);
    expect(report.entries).toHaveLength(165);
    expect(report.errors).toEqual([]);
  });

  it('refuses to shrink unless asked, naming the tensor, shapes and spec lines; writes nothing', () => {
    const r = mnxc('--from', tiny, '--from-set', 'kernel_size=5', '--to', tiny, '--weights', k3, '--out', 'small.safetensors');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: the networks do not match \(17 error\(s\)\)/);
    expect(r.stderr).toMatch(/'enc_block_0\.0\.conv1\.weight': kernel shrinks from 5×5×5 to 3×3×3 \(source \[4, 1, 5, 5, 5\] \(.*mednext\.mnx:\d+:\d+/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(work, 'small.safetensors'))).toBe(false);
  });
});
