/**
 * Reads a file written by `torch.save` into plain data with `TorchTensor`s in it, without
 * executing anything. Two formats:
 *
 * - zip (PyTorch ≥ 1.6, the default): `<folder>/data.pkl` is the pickle, `<folder>/data/<key>`
 *   holds each storage's raw bytes, `<folder>/byteorder` says `little` or `big`.
 * - legacy: five things in a row — a pickled magic number, the protocol version (1001), a
 *   pickled sys_info dict, the main pickle, a pickled list of storage keys — then, for each key
 *   in that order, an 8-byte little-endian element count and the storage's raw bytes.
 *
 * Storage bytes are views into the file; no tensor memory is allocated here.
 */

import { CheckpointError } from './errors.js';
import { PyTuple, unpickle } from './pickle.js';
import { ELEMENT_SIZE, StorageRoot, TorchDTypeValue, TorchStorage, TorchStorageType, torchRules } from './torch-rules.js';
import { looksLikeZip, readZipDirectory, readZipEntry, ZipError } from '../io/zip.js';

export interface LoadedCheckpoint {
  format: 'zip' | 'legacy';
  /** The unpickled object: usually a Map (dict). */
  root: unknown;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function storageTypeOf(v: unknown, ctx: string): TorchStorageType {
  if (v instanceof TorchStorageType) return v;
  if (v instanceof TorchDTypeValue) throw new CheckpointError(`${ctx}: storage ids naming a dtype (torch.${v.name}) are not supported`);
  throw new CheckpointError(`${ctx}: persistent id has no storage type`);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function loadTorchCheckpoint(bytes: Uint8Array, what: string): LoadedCheckpoint {
  if (looksLikeZip(bytes)) return loadZip(bytes, what);
  if (bytes.length >= 2 && bytes[0] === 0x80) return loadLegacy(bytes, what);
  throw new CheckpointError(`${what}: not a PyTorch checkpoint (neither a zip archive nor a pickle)`);
}

/** A damaged archive is a damaged checkpoint: zip errors become CheckpointErrors (same message). */
function loadZip(bytes: Uint8Array, what: string): LoadedCheckpoint {
  try {
    return loadZipEntries(bytes, what);
  } catch (e) {
    throw e instanceof ZipError ? new CheckpointError(e.message) : e;
  }
}

function loadZipEntries(bytes: Uint8Array, what: string): LoadedCheckpoint {
  const entries = readZipDirectory(bytes, what, { storedOnly: 'PyTorch writes stored entries only' });
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new CheckpointError(`${what}: a zip archive but not a PyTorch checkpoint (${pkls.length === 0 ? 'no' : 'several'} <folder>/data.pkl)`);
  }
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  let bigEndian = false;
  const order = entries.get(prefix + 'byteorder');
  if (order) {
    const text = new TextDecoder().decode(readZipEntry(bytes, order, what)).trim();
    if (text !== 'little' && text !== 'big') throw new CheckpointError(`${what}: byteorder is '${text.slice(0, 20)}'`);
    bigEndian = text === 'big';
  }
  const roots = new Map<string, StorageRoot>();
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): unknown => {
    // ('storage', storage_type, key, location, numel)
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length !== 5) {
      throw new CheckpointError(`${what}: unsupported persistent id in data.pkl (only storages are loaded)`);
    }
    const [, typ, key, , numel] = pid.items;
    if (typeof key !== 'string' || !isCount(numel)) throw new CheckpointError(`${what}: malformed storage id`);
    const type = storageTypeOf(typ, what);
    const cached = storages.get(key);
    if (cached) {
      if (cached.dtype !== type.dtype) throw new CheckpointError(`${what}: storage '${key}' is used with two dtypes`);
      return cached;
    }
    const name = `${prefix}data/${key}`;
    const entry = entries.get(name);
    if (!entry) throw new CheckpointError(`${what}: storage record '${name}' is missing`);
    const root = new StorageRoot(name, type.dtype, bigEndian);
    root.bytes = readZipEntry(bytes, entry, what);
    roots.set(key, root);
    const storage = new TorchStorage(root, type.dtype, numel);
    storages.set(key, storage);
    return storage;
  };
  const pkl = readZipEntry(bytes, entries.get(pkls[0]!)!, what);
  const { value, end } = unpickle(pkl, torchRules(what, persistentLoad), `${what}: ${pkls[0]}`);
  if (end !== pkl.length) throw new CheckpointError(`${what}: data.pkl has ${pkl.length - end} bytes after its end`);
  return { format: 'zip', root: value };
}

function loadLegacy(bytes: Uint8Array, what: string): LoadedCheckpoint {
  const noStorage = (): never => {
    throw new CheckpointError(`${what}: persistent id outside the main pickle`);
  };
  const plainRules = torchRules(what, noStorage);
  const magic = unpickle(bytes, plainRules, what, 0);
  if (magic.value !== LEGACY_MAGIC) {
    throw new CheckpointError(`${what}: not a PyTorch checkpoint (a pickle, but without PyTorch's magic number)`);
  }
  const proto = unpickle(bytes, plainRules, what, magic.end);
  if (proto.value !== LEGACY_PROTOCOL) throw new CheckpointError(`${what}: legacy protocol version ${String(proto.value)} is not supported`);
  const sysInfo = unpickle(bytes, plainRules, what, proto.end);
  let bigEndian = false;
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) bigEndian = true;

  const roots = new Map<string, StorageRoot>();
  const persistentLoad = (pid: unknown): unknown => {
    // ('storage', storage_type, root_key, location, numel, view_metadata)
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length !== 6) {
      throw new CheckpointError(`${what}: unsupported persistent id (only storages are loaded; whole pickled modules are refused)`);
    }
    const [, typ, key, , numel, view] = pid.items;
    if (typeof key !== 'string' || !isCount(numel)) throw new CheckpointError(`${what}: malformed storage id`);
    const type = storageTypeOf(typ, what);
    let root = roots.get(key);
    if (!root) {
      root = new StorageRoot(`legacy storage '${key}'`, type.dtype, bigEndian);
      roots.set(key, root);
    } else if (root.dtype !== type.dtype) {
      throw new CheckpointError(`${what}: storage '${key}' is used with two dtypes`);
    }
    if (view === null) return new TorchStorage(root, type.dtype, numel);
    // Old files: (view_key, offset, size) — a view into the root storage, in elements.
    if (!(view instanceof PyTuple) || view.items.length !== 3 || !isCount(view.items[1]) || !isCount(view.items[2])) {
      throw new CheckpointError(`${what}: malformed storage view of '${key}'`);
    }
    return new TorchStorage(root, type.dtype, view.items[2], view.items[1], view.items[2]);
  };
  const main = unpickle(bytes, torchRules(what, persistentLoad), what, sysInfo.end);
  const keys = unpickle(bytes, plainRules, what, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new CheckpointError(`${what}: the storage key list is malformed`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const root = roots.get(key);
    if (!root) throw new CheckpointError(`${what}: storage '${key}' is listed but no tensor uses it`);
    if (root.bytes) throw new CheckpointError(`${what}: storage '${key}' is listed twice`);
    if (pos + 8 > bytes.length) throw new CheckpointError(`${what}: file ends before storage '${key}' (truncated)`);
    const count = dv.getBigInt64(pos, true);
    const size = ELEMENT_SIZE[root.dtype];
    if (count < 0n || count * BigInt(size) > BigInt(bytes.length - pos - 8)) {
      throw new CheckpointError(`${what}: storage '${key}' claims ${count} elements but only ${bytes.length - pos - 8} bytes remain (truncated)`);
    }
    const n = Number(count) * size;
    root.bytes = bytes.subarray(pos + 8, pos + 8 + n);
    pos += 8 + n;
  }
  return { format: 'legacy', root: main.value };
}
