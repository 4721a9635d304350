import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, inflateRawSync } from 'node:zlib';
import { ZipError } from '../errors.js';

/**
 * The one zip reader: the files `torch.save` writes (held in memory; stored entries, each a view
 * into the file's bytes) and Python wheels (read from disk on demand, stored and deflated
 * members, so taking three files out of a 270 MB wheel never holds it in memory).
 *
 * Reads the central directory (zip64 records included) and checks every offset and size against
 * the real file length, so a truncated or altered file is an error instead of wrong data; a
 * stored entry's CRC-32 is verified when it is read from memory.
 */

export { ZipError };

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
  /** Offset of the entry's data in the file. */
  dataStart: number;
}

/** Random access to the archive's bytes. */
export interface ZipSource {
  readonly size: number;
  read(position: number, length: number): Uint8Array;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;
const STORED = 0;
const DEFLATED = 8;

export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** An archive held in memory. */
export function bytesSource(bytes: Uint8Array): ZipSource {
  return { size: bytes.length, read: (position, length) => bytes.subarray(position, position + length) };
}

function fileSource(fd: number, path: string): ZipSource {
  return {
    size: fstatSync(fd).size,
    read(position, length) {
      const buf = Buffer.alloc(length);
      readFully(fd, buf, position, path);
      return buf;
    },
  };
}

function readFully(fd: number, buf: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new ZipError(`${path}: unexpected end of file (truncated?)`);
    done += n;
  }
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function u64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${what}: ${v} is out of range`);
  return Number(v);
}

export interface ZipDirectoryOptions {
  /** Refuse compressed entries, saying why (e.g. "PyTorch writes stored entries only"). */
  storedOnly?: string;
}

/** Lists the entries of a zip archive (bytes in memory, or a source); `what` names the file in messages. */
export function readZipDirectory(archive: Uint8Array | ZipSource, what: string, options: ZipDirectoryOptions = {}): Map<string, ZipEntry> {
  const src = archive instanceof Uint8Array ? bytesSource(archive) : archive;
  const len = src.size;
  // The end-of-central-directory record is the last 22 bytes plus an optional comment.
  const tailStart = Math.max(0, len - 22 - MAX_COMMENT);
  const tail = src.read(tailStart, len - tailStart);
  const tv = view(tail);
  let eocd = -1; // in tail
  for (let p = tail.length - 22; p >= 0; p--) {
    if (tv.getUint32(p, true) === SIG_EOCD && tailStart + p + 22 + tv.getUint16(p + 20, true) === len) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new ZipError(`${what}: zip end record not found (the file is truncated or not a zip archive)`);
  const eocdAt = tailStart + eocd;
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) throw new ZipError(`${what}: zip64 locator missing`);
    const z = u64(tv, loc + 8, `${what}: zip64 end record offset`);
    if (z + 56 > tailStart + loc) throw new ZipError(`${what}: zip64 end record missing or misplaced`);
    const rv = view(src.read(z, 56));
    if (rv.getUint32(0, true) !== SIG_ZIP64_EOCD) throw new ZipError(`${what}: zip64 end record missing or misplaced`);
    count = u64(rv, 32, `${what}: entry count`);
    cdSize = u64(rv, 40, `${what}: central directory size`);
    cdOffset = u64(rv, 48, `${what}: central directory offset`);
  }
  if (cdOffset + cdSize > eocdAt) throw new ZipError(`${what}: central directory [${cdOffset}, +${cdSize}) lies beyond the file (truncated?)`);
  // Each central record is at least 46 bytes: a count the directory cannot hold is a lie.
  if (count * 46 > cdSize) throw new ZipError(`${what}: central directory claims ${count} entries in ${cdSize} bytes`);

  const cd = src.read(cdOffset, cdSize);
  const dv = view(cd);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || dv.getUint32(p, true) !== SIG_CENTRAL) throw new ZipError(`${what}: central directory record ${i} is damaged`);
    const method = dv.getUint16(p + 10, true);
    const crc32 = dv.getUint32(p + 16, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const recEnd = p + 46 + nameLen + extraLen + commentLen;
    if (recEnd > cd.length) throw new ZipError(`${what}: central directory record ${i} runs past the directory`);
    const name = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
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
    if (options.storedOnly !== undefined && method !== STORED) throw new ZipError(`${what}: entry '${name}' is compressed (method ${method}); ${options.storedOnly}`);
    if (method === STORED && csize !== usize) throw new ZipError(`${what}: entry '${name}' is stored but its sizes differ`);
    const local = localOffset + 30 <= len ? view(src.read(localOffset, 30)) : null;
    if (!local || local.getUint32(0, true) !== SIG_LOCAL) throw new ZipError(`${what}: entry '${name}' local header missing (truncated?)`);
    const dataStart = localOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
    if (dataStart + csize > cdOffset) throw new ZipError(`${what}: entry '${name}' data runs past the end of the data area (truncated?)`);
    if (entries.has(name)) throw new ZipError(`${what}: entry '${name}' appears twice`);
    entries.set(name, { name, method, compressedSize: csize, size: usize, crc32, localHeaderOffset: localOffset, dataStart });
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

/** The data of one stored entry of an archive in memory (a view, not a copy), after checking its CRC-32. */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, what: string): Uint8Array {
  if (entry.method !== STORED) throw new ZipError(`${what}: entry '${entry.name}' is compressed (method ${entry.method})`);
  const data = bytes.subarray(entry.dataStart, entry.dataStart + entry.size);
  if (crc32(data) !== entry.crc32) throw new ZipError(`${what}: entry '${entry.name}' fails its CRC check (damaged file)`);
  return data;
}

/** An archive on disk (a Python wheel), members read on demand. */
export class ZipArchive {
  readonly entries: Map<string, ZipEntry>;

  private constructor(
    readonly path: string,
    private readonly fd: number,
  ) {
    this.entries = readZipDirectory(fileSource(fd, path), path);
  }

  static open(path: string): ZipArchive {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new ZipError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      return new ZipArchive(path, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  /** A member's bytes (for small members such as headers). */
  read(name: string): Buffer {
    const entry = this.entry(name);
    const raw = Buffer.alloc(entry.compressedSize);
    readFully(this.fd, raw, entry.dataStart, this.path);
    const data = entry.method === STORED ? raw : inflateRawSync(raw);
    if (data.length !== entry.size) throw new ZipError(`${this.path}: ${name} is damaged (size ${data.length}, expected ${entry.size})`);
    return data;
  }

  /** Streams a member to `dest` through a temporary file, so `dest` is whole or absent. */
  async extract(name: string, dest: string): Promise<void> {
    const entry = this.entry(name);
    const start = entry.dataStart;
    const temp = `${dest}.partial-${process.pid}`;
    const source = createReadStream('', { fd: this.fd, autoClose: false, start, end: start + entry.compressedSize - 1 });
    const out = createWriteStream(temp, { mode: 0o755 });
    try {
      if (entry.method === STORED) await pipeline(source, out);
      else await pipeline(source, createInflateRaw(), out);
      if (out.bytesWritten !== entry.size) throw new ZipError(`${this.path}: ${name} is damaged (size ${out.bytesWritten}, expected ${entry.size})`);
      renameSync(temp, dest);
    } catch (e) {
      rmSync(temp, { force: true });
      throw e instanceof ZipError ? e : new ZipError(`${this.path}: cannot extract ${name}: ${(e as Error).message}`);
    }
  }

  private entry(name: string): ZipEntry {
    const entry = this.entries.get(name);
    if (!entry) throw new ZipError(`${this.path}: no member ${name}`);
    if (entry.method !== STORED && entry.method !== DEFLATED) {
      throw new ZipError(`${this.path}: ${name} uses compression method ${entry.method} (only stored and deflate are read)`);
    }
    return entry;
  }
}
