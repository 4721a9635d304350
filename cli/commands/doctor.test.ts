import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';

function mnxc(...args: string[]) {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('mnxc doctor', () => {
  it('--json lists every backend with availability and a reason, and what auto picks', () => {
    const r = mnxc('doctor', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.backends.map((b: { name: string }) => b.name)).toEqual(['tensorflow', 'native', 'wasm', 'cpu']);
    for (const b of report.backends) {
      expect(typeof b.available).toBe('boolean');
      expect(typeof b.detail).toBe('string');
      expect(b.detail.length).toBeGreaterThan(0);
    }
    const byName = Object.fromEntries(report.backends.map((b: { name: string }) => [b.name, b]));
    expect(byName.cpu.available).toBe(true);
    expect(byName.wasm.available).toBe(true);
    expect(report.auto).toBe(report.backends.find((b: { available: boolean }) => b.available).name);
    expect(report.versions['@tensorflow/tfjs-core']).toMatch(/^4\.\d+\.\d+$/);
    expect(report.threads.availableParallelism).toBeGreaterThan(0);
    expect(Array.isArray(report.gpu.devices)).toBe(true);
    if (byName.tensorflow.available) {
      expect(report.auto).toBe('tensorflow');
      expect(report.versions.tensorflow).toMatch(/^\d+\.\d+/);
      expect(byName.tensorflow.detail).toContain(`TensorFlow ${report.versions.tensorflow}`);
      expect(typeof report.gpu.tensorflowUsesGpu).toBe('boolean');
    } else {
      expect(report.versions.tensorflow).toBeNull();
      expect(byName.tensorflow.detail).toMatch(/mnxc setup tensorflow|failed to load/);
    }
  });

  it('prints a readable table, and rejects stray arguments', () => {
    const r = mnxc('doctor');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}tensorflow {2}(yes|no )/m);
    expect(r.stdout).toMatch(/^ {2}cpu +yes {2}pure-JavaScript kernels$/m);
    expect(r.stdout).toMatch(/^auto +(tensorflow|native|wasm|cpu)$/m);
    expect(mnxc('doctor', 'now').code).toBe(2);
  });
});
