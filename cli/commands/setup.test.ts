import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import { ROOT } from '../../tests/fixtures.js';
import { SETUP_STAMP } from '../../runtime/backends/tensorflow.js';

const dir = mkdtempSync(join(tmpdir(), 'mnxc-setup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mnxc(...args: string[]) {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { encoding: 'utf8', cwd: dir });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';

describe('mnxc setup: command line', () => {
  it('asks what to set up, and knows only tensorflow and native (exit 2)', () => {
    expect(mnxc('setup').code).toBe(2);
    const other = mnxc('setup', 'pytorch');
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("cannot set up 'pytorch' (only: tensorflow, native)");
    expect(mnxc('setup', 'native', '--wheel', 'x.whl').code).toBe(2);
  });

  it('has help', () => {
    const help = mnxc('setup', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('mnxc setup tensorflow [--wheel FILE]');
    expect(help.stdout).toContain('mnxc setup native [--python EXE] [--force]');
  });
});

describe.skipIf(process.platform !== 'linux')('mnxc setup tensorflow: bad wheels fail before touching anything', () => {
  const stampBefore = existsSync(SETUP_STAMP) ? statSync(SETUP_STAMP).mtimeMs : null;

  function expectError(args: string[], message: string) {
    const r = mnxc('setup', 'tensorflow', ...args);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }

  it('a missing file', () => {
    expectError(['--wheel', 'missing.whl'], 'missing.whl: no such file');
  });

  it('a file that is not a wheel, or not a zip', () => {
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    expectError(['--wheel', 'notes.txt'], 'notes.txt: not a wheel');
    writeFileSync(join(dir, `tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_${arch}.whl`), 'not a zip');
    expectError(['--wheel', `tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_${arch}.whl`], 'not a zip archive');
  });

  it('a wheel for another platform', () => {
    const name = 'tensorflow-2.21.0-cp311-cp311-macosx_12_0_arm64.whl';
    writeFileSync(join(dir, name), zipSync({ 'tensorflow/__init__.py': new Uint8Array(1) }));
    expectError(['--wheel', name], `built for macosx_12_0_arm64, not Linux ${arch}`);
  });

  it('a wheel without the C library', () => {
    const name = `numpy-2.0.0-cp311-cp311-manylinux_2_17_${arch}.whl`;
    writeFileSync(join(dir, name), zipSync({ 'numpy/__init__.py': new Uint8Array(1) }));
    expectError(['--wheel', name], 'no tensorflow/libtensorflow_cc.so.2 inside (is it a TensorFlow 2.x wheel?)');
  });

  it('left an existing build as it was', () => {
    expect(existsSync(SETUP_STAMP) ? statSync(SETUP_STAMP).mtimeMs : null).toBe(stampBefore);
  });
});

describe('mnxc setup native', () => {
  it('builds the addon (or, with nothing changed, checks it), or says why it cannot', () => {
    const r = mnxc('setup', 'native');
    if (r.code === 0) {
      expect(r.stdout).toMatch(/^native backend (already built|built): C\+\+ kernels \(.+, \d+ threads?\) in \.mnxc\/native/m);
      expect(existsSync(join(ROOT, '.mnxc', 'native', 'mnxc_native.node'))).toBe(true);
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot build the native backend|node-gyp failed/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
