import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, inflateRawSync } from 'node:zlib';

/**
 * A minimal reader for zip archives (a Python wheel is one): the central directory, Zip64 sizes,
 * stored and deflated members. Members are read on demand, so taking three files out of a
 * 270 MB wheel never holds the archive in memory.
 */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipError extends Error {}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

export class ZipArchive {
  readonly entries: Map<string, ZipEntry>;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    entries: ZipEntry[],
  ) {
    this.entries = new Map(entries.map((e) => [e.name, e]));
  }

  static open(path: string): ZipArchive {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new ZipError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      return new ZipArchive(path, fd, readCentralDirectory(path, fd));
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
    readFully(this.fd, raw, this.dataOffset(entry));
    const data = entry.method === STORED ? raw : inflateRawSync(raw);
    if (data.length !== entry.size) throw new ZipError(`${this.path}: ${name} is damaged (size ${data.length}, expected ${entry.size})`);
    return data;
  }

  /** Streams a member to `dest` through a temporary file, so `dest` is whole or absent. */
  async extract(name: string, dest: string): Promise<void> {
    const entry = this.entry(name);
    const start = this.dataOffset(entry);
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

  private dataOffset(entry: ZipEntry): number {
    const header = Buffer.alloc(30);
    readFully(this.fd, header, entry.localHeaderOffset);
    if (header.readUInt32LE(0) !== LOCAL) throw new ZipError(`${this.path}: bad local header for ${entry.name}`);
    return entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  }
}

function readFully(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new ZipError('unexpected end of file');
    done += n;
  }
}

function readCentralDirectory(path: string, fd: number): ZipEntry[] {
  const fileSize = fstatSync(fd).size;
  const tailSize = Math.min(fileSize, 22 + 0xffff);
  const tail = Buffer.alloc(tailSize);
  readFully(fd, tail, fileSize - tailSize);
  let eocd = -1;
  for (let i = tailSize - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError(`${path}: not a zip archive (no end-of-central-directory record)`);
  let count = tail.readUInt16LE(eocd + 10);
  let dirSize = tail.readUInt32LE(eocd + 12);
  let dirOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    // Zip64: the real values sit in the Zip64 end record that the locator points to.
    if (eocd < 20 || tail.readUInt32LE(eocd - 20) !== ZIP64_LOCATOR) throw new ZipError(`${path}: Zip64 locator missing`);
    const record = Buffer.alloc(56);
    readFully(fd, record, Number(tail.readBigUInt64LE(eocd - 20 + 8)));
    if (record.readUInt32LE(0) !== ZIP64_EOCD) throw new ZipError(`${path}: Zip64 end record missing`);
    count = Number(record.readBigUInt64LE(32));
    dirSize = Number(record.readBigUInt64LE(40));
    dirOffset = Number(record.readBigUInt64LE(48));
  }
  if (dirOffset + dirSize > fileSize) throw new ZipError(`${path}: truncated (central directory beyond end of file)`);
  const dir = Buffer.alloc(dirSize);
  readFully(fd, dir, dirOffset);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL) throw new ZipError(`${path}: damaged central directory`);
    const nameLength = dir.readUInt16LE(p + 28);
    const extraLength = dir.readUInt16LE(p + 30);
    const commentLength = dir.readUInt16LE(p + 32);
    const entry: ZipEntry = {
      name: dir.toString('utf8', p + 46, p + 46 + nameLength),
      method: dir.readUInt16LE(p + 10),
      compressedSize: dir.readUInt32LE(p + 20),
      size: dir.readUInt32LE(p + 24),
      localHeaderOffset: dir.readUInt32LE(p + 42),
    };
    applyZip64Extra(entry, dir.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength));
    entries.push(entry);
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Replaces 0xffffffff placeholders with the 64-bit values of the Zip64 extra field, in its fixed order. */
function applyZip64Extra(entry: ZipEntry, extra: Buffer): void {
  for (let q = 0; q + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(q);
    const length = extra.readUInt16LE(q + 2);
    if (id === 0x0001) {
      let r = q + 4;
      for (const field of ['size', 'compressedSize', 'localHeaderOffset'] as const) {
        if (entry[field] === 0xffffffff && r + 8 <= q + 4 + length) {
          entry[field] = Number(extra.readBigUInt64LE(r));
          r += 8;
        }
      }
    }
    q += 4 + length;
  }
}
