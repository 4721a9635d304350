/**
 * A small, checked reader for the zip files `torch.save` writes: entries are stored
 * (uncompressed), so each entry is a view into the file's bytes. Reads the central directory
 * (zip64 records included), checks every offset and size against the real file length, and
 * verifies an entry's CRC-32 when it is read, so a truncated or altered file is an error
 * instead of wrong numbers.
 */

import { CheckpointError } from './errors.js';

export class ZipError extends CheckpointError {}

export interface ZipEntry {
  name: string;
  /** Offset of the entry's data in the file. */
  dataStart: number;
  size: number;
  crc32: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function u64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${what}: ${v} is out of range`);
  return Number(v);
}

/** Lists the entries of a zip archive held in memory; `what` names the file in messages. */
export function readZipDirectory(bytes: Uint8Array, what: string): Map<string, ZipEntry> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  // The end-of-central-directory record is the last 22 bytes plus an optional comment.
  let eocd = -1;
  for (let p = len - 22; p >= 0 && p >= len - 22 - MAX_COMMENT; p--) {
    if (dv.getUint32(p, true) === SIG_EOCD && p + 22 + dv.getUint16(p + 20, true) === len) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new ZipError(`${what}: zip end record not found (the file is truncated or not a zip archive)`);
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) throw new ZipError(`${what}: zip64 locator missing`);
    const z = u64(dv, loc + 8, `${what}: zip64 end record offset`);
    if (z + 56 > loc || dv.getUint32(z, true) !== SIG_ZIP64_EOCD) throw new ZipError(`${what}: zip64 end record missing or misplaced`);
    count = u64(dv, z + 32, `${what}: entry count`);
    cdSize = u64(dv, z + 40, `${what}: central directory size`);
    cdOffset = u64(dv, z + 48, `${what}: central directory offset`);
  }
  if (cdOffset + cdSize > eocd) throw new ZipError(`${what}: central directory [${cdOffset}, +${cdSize}) lies beyond the file (truncated?)`);
  // Each central record is at least 46 bytes: a count the directory cannot hold is a lie.
  if (count * 46 > cdSize) throw new ZipError(`${what}: central directory claims ${count} entries in ${cdSize} bytes`);

  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || dv.getUint32(p, true) !== SIG_CENTRAL) throw new ZipError(`${what}: central directory record ${i} is damaged`);
    const method = dv.getUint16(p + 10, true);
    const crc32 = dv.getUint32(p + 16, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const recEnd = p + 46 + nameLen + extraLen + commentLen;
    if (recEnd > cdEnd) throw new ZipError(`${what}: central directory record ${i} runs past the directory`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information: the fields that overflowed, in this order.
    let q = p + 46 + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = dv.getUint16(q, true);
      const size = dv.getUint16(q + 2, true);
      if (q + 4 + size > extraEnd) throw new ZipError(`${what}: entry '${name}' has a damaged extra field`);
      if (id === 0x0001) {
        let r = q + 4;
        const take = (field: string): number => {
          if (r + 8 > q + 4 + size) throw new ZipError(`${what}: entry '${name}' zip64 field lacks ${field}`);
          const v = u64(dv, r, `${what}: entry '${name}' ${field}`);
          r += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = take('size');
        if (csize === 0xffffffff) csize = take('compressed size');
        if (localOffset === 0xffffffff) localOffset = take('offset');
      }
      q += 4 + size;
    }
    if (method !== 0) throw new ZipError(`${what}: entry '${name}' is compressed (method ${method}); PyTorch writes stored entries only`);
    if (csize !== usize) throw new ZipError(`${what}: entry '${name}' is stored but its sizes differ`);
    if (localOffset + 30 > len || dv.getUint32(localOffset, true) !== SIG_LOCAL) {
      throw new ZipError(`${what}: entry '${name}' local header missing (truncated?)`);
    }
    const dataStart = localOffset + 30 + dv.getUint16(localOffset + 26, true) + dv.getUint16(localOffset + 28, true);
    if (dataStart + usize > cdOffset) throw new ZipError(`${what}: entry '${name}' data runs past the end of the data area (truncated?)`);
    if (entries.has(name)) throw new ZipError(`${what}: entry '${name}' appears twice`);
    entries.set(name, { name, dataStart, size: usize, crc32 });
    p = recEnd;
  }
  return entries;
}

let crcTables: Uint32Array[] | null = null;

/** CRC-32 (zip's polynomial), eight bytes per step ("slicing-by-8"): about 1 GB/s. */
export function crc32(data: Uint8Array): number {
  if (!crcTables) {
    crcTables = Array.from({ length: 8 }, () => new Uint32Array(256));
    const t0 = crcTables[0]!;
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t0[n] = c >>> 0;
    }
    for (let n = 0; n < 256; n++) {
      for (let k = 1; k < 8; k++) crcTables[k]![n] = (crcTables[k - 1]![n]! >>> 8) ^ t0[crcTables[k - 1]![n]! & 0xff]!;
    }
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = 0xffffffff;
  let i = 0;
  const n8 = data.length - (data.length % 8);
  for (; i < n8; i += 8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The data of one entry (a view, not a copy), after checking its CRC-32. */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, what: string): Uint8Array {
  const data = bytes.subarray(entry.dataStart, entry.dataStart + entry.size);
  if (crc32(data) !== entry.crc32) throw new ZipError(`${what}: entry '${entry.name}' fails its CRC check (damaged file)`);
  return data;
}
