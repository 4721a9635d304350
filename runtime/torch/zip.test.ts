import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { crc32, readZipDirectory, readZipEntry } from './zip.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('zip reader', () => {
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
    expect(() => readZipDirectory(deflated, 'd.zip')).toThrow(/d\.zip: entry 'ck\/data\.pkl' is compressed \(method 8\)/);

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
