import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import { ZipArchive, ZipError } from './zip.js';

const dir = mkdtempSync(join(tmpdir(), 'mnxc-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = i % 7 === 0 ? s >>> 24 : 65 + (i % 13); // compressible, not trivially
  }
  return out;
}

const text = new TextEncoder().encode('#include "tensorflow/c/c_api.h"\n');
const big = bytes(700_000, 7);
const stored = bytes(1000, 3);
const archive = join(dir, 'test.whl');
writeFileSync(
  archive,
  zipSync({
    'pkg/include/a.h': text,
    'pkg/lib.so': big,
    'pkg/stored.bin': [stored, { level: 0 }],
  }),
);

describe('ZipArchive', () => {
  it('lists members and reads deflated and stored ones', () => {
    const zip = ZipArchive.open(archive);
    try {
      expect([...zip.entries.keys()].sort()).toEqual(['pkg/include/a.h', 'pkg/lib.so', 'pkg/stored.bin']);
      expect(zip.entries.get('pkg/stored.bin')!.method).toBe(0);
      expect(zip.entries.get('pkg/lib.so')!.method).toBe(8);
      expect(zip.read('pkg/include/a.h')).toEqual(Buffer.from(text));
      expect(zip.read('pkg/stored.bin')).toEqual(Buffer.from(stored));
    } finally {
      zip.close();
    }
  });

  it('streams a member to a file, leaving no temporary file', async () => {
    const zip = ZipArchive.open(archive);
    const out = join(dir, 'lib.so');
    try {
      await zip.extract('pkg/lib.so', out);
    } finally {
      zip.close();
    }
    expect(readFileSync(out)).toEqual(Buffer.from(big));
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('names the file and the problem for bad input', () => {
    const notZip = join(dir, 'not.whl');
    writeFileSync(notZip, 'just text, no archive');
    expect(() => ZipArchive.open(notZip)).toThrow(ZipError);
    expect(() => ZipArchive.open(notZip)).toThrow(`${notZip}: not a zip archive`);
    expect(() => ZipArchive.open(join(dir, 'missing.whl'))).toThrow(/missing\.whl: cannot open \(ENOENT\)/);
    const truncated = join(dir, 'truncated.whl');
    const whole = readFileSync(archive);
    // Keep the end record but drop the start: the central directory now points past the data.
    writeFileSync(truncated, whole.subarray(whole.length - 200));
    expect(() => ZipArchive.open(truncated)).toThrow(/truncated|damaged/);
    const zip = ZipArchive.open(archive);
    try {
      expect(() => zip.read('pkg/nope')).toThrow(`${archive}: no member pkg/nope`);
    } finally {
      zip.close();
    }
  });
});

const python = spawnSync('python3', ['--version']).status === 0;

describe.skipIf(!python)('ZipArchive on a Zip64 archive written by Python', () => {
  it('reads the 64-bit sizes and offsets', async () => {
    const zip64 = join(dir, 'zip64.whl');
    const script = [
      'import sys, zipfile',
      "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:",
      "    with z.open('big.bin', 'w', force_zip64=True) as f: f.write(bytes(range(256)) * 1000)",
      "    z.writestr('small.txt', 'hello')",
    ].join('\n');
    expect(spawnSync('python3', ['-c', script, zip64]).status).toBe(0);
    const zip = ZipArchive.open(zip64);
    const out = join(dir, 'big.bin');
    try {
      expect(zip.entries.get('big.bin')!.size).toBe(256_000);
      await zip.extract('big.bin', out);
      expect(zip.read('small.txt').toString()).toBe('hello');
    } finally {
      zip.close();
    }
    const expected = Buffer.alloc(256_000);
    for (let i = 0; i < expected.length; i++) expected[i] = i % 256;
    expect(existsSync(out) && readFileSync(out).equals(expected)).toBe(true);
  });
});
