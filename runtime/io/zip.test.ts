import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import { crc32, readZipDirectory, readZipEntry, ZipArchive, ZipError } from './zip.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('zip reader (in memory, as for PyTorch checkpoints)', () => {
  it('computes CRC-32 (the standard check value, and every tail length)', () => {
    expect(crc32(text('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    // slicing-by-8 and the byte-wise tail agree: extending by one byte at a time
    const data = Uint8Array.from({ length: 40 }, (_, i) => (i * 37) & 255);
    const bytewise = (d: Uint8Array): number => {
      let c = 0xffffffff;
      for (const b of d) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    for (let n = 0; n <= data.length; n++) expect(crc32(data.subarray(0, n))).toBe(bytewise(data.subarray(0, n)));
  });

  it('reads stored entries written by another zip writer (fflate)', () => {
    const zip = zipSync({ 'ck/data.pkl': [text('pickle bytes'), { level: 0 }], 'ck/data/0': [new Uint8Array([1, 2, 3]), { level: 0 }] });
    const entries = readZipDirectory(zip, 'a.zip');
    expect([...entries.keys()]).toEqual(['ck/data.pkl', 'ck/data/0']);
    expect(new TextDecoder().decode(readZipEntry(zip, entries.get('ck/data.pkl')!, 'a.zip'))).toBe('pickle bytes');
    expect([...readZipEntry(zip, entries.get('ck/data/0')!, 'a.zip')]).toEqual([1, 2, 3]);
  });

  it('refuses compressed entries, damaged directories and entries past the end', () => {
    const deflated = zipSync({ 'ck/data.pkl': [text('x'.repeat(100)), { level: 6 }] });
    expect(() => readZipDirectory(deflated, 'd.zip', { storedOnly: 'PyTorch writes stored entries only' })).toThrow(/d\.zip: entry 'ck\/data\.pkl' is compressed \(method 8\)/);

    const zip = zipSync({ 'ck/data.pkl': [text('pickle bytes'), { level: 0 }] });
    const eocd = zip.length - 22;
    const dv = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    const cdOffset = dv.getUint32(eocd + 16, true);

    const badCount = zip.slice();
    new DataView(badCount.buffer).setUint16(eocd + 10, 5000, true);
    expect(() => readZipDirectory(badCount, 'c.zip')).toThrow(/claims 5000 entries in \d+ bytes/);

    const badSig = zip.slice();
    badSig[cdOffset] = 0;
    expect(() => readZipDirectory(badSig, 's.zip')).toThrow(/central directory record 0 is damaged/);

    const bigEntry = zip.slice();
    new DataView(bigEntry.buffer).setUint32(cdOffset + 20, 1 << 30, true); // compressed size
    new DataView(bigEntry.buffer).setUint32(cdOffset + 24, 1 << 30, true); // size
    expect(() => readZipDirectory(bigEntry, 'b.zip')).toThrow(/entry 'ck\/data\.pkl' data runs past the end of the data area/);

    expect(() => readZipDirectory(zip.subarray(0, zip.length - 1), 't.zip')).toThrow(/zip end record not found/);
  });
});

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

const header = new TextEncoder().encode('#include "tensorflow/c/c_api.h"\n');
const big = bytes(700_000, 7);
const stored = bytes(1000, 3);
const archive = join(dir, 'test.whl');
writeFileSync(
  archive,
  zipSync({
    'pkg/include/a.h': header,
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
      expect(zip.read('pkg/include/a.h')).toEqual(Buffer.from(header));
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
    expect(() => ZipArchive.open(notZip)).toThrow(`${notZip}: zip end record not found (the file is truncated or not a zip archive)`);
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
