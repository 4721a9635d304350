/**
 * From an unpickled checkpoint to named tensors: pick the state_dict, strip wrapper prefixes
 * (`module.` from DistributedDataParallel, `_orig_mod.` from torch.compile), and copy each
 * tensor out of its storage honouring offset and strides, after checking that the storage
 * really holds every element the tensor reads.
 */

import { readFileSync } from 'node:fs';
import type { SafeTensor, TensorMap } from '../io/safetensors.js';
import { loadTorchCheckpoint } from './checkpoint.js';
import { CheckpointError } from './errors.js';
import { PyTuple } from './pickle.js';
import { ELEMENT_SIZE, TorchTensor, halfToFloat, type TorchDType } from './torch-rules.js';

/** Keys tried, in order, when no key is given. */
export const DEFAULT_STATE_DICT_KEYS = ['state_dict', 'network_weights'];

const WRAPPER_PREFIXES = ['module.', '_orig_mod.'];

/** Largest tensor (elements) read from a storage smaller than it: stride-0 broadcasts. */
const MAX_BROADCAST_ELEMENTS = 1 << 24;

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof TorchTensor) return `tensor [${v.shape.join(', ')}]`;
  if (v instanceof Map) return `dict of ${v.size}`;
  if (Array.isArray(v)) return `list of ${v.length}`;
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v === 'bigint' ? 'int' : typeof v;
}

function allTensors(d: Map<unknown, unknown>): boolean {
  return d.size > 0 && [...d].every(([k, v]) => typeof k === 'string' && v instanceof TorchTensor);
}

/**
 * The dict of tensors inside a checkpoint: under `key` if given; else under `state_dict`,
 * else `network_weights` (nnU-Net v2); else the top level when it holds only tensors.
 */
export function selectStateDict(root: unknown, what: string, key?: string): { dict: Map<unknown, unknown>; key: string | null } {
  if (!(root instanceof Map)) throw new CheckpointError(`${what}: the checkpoint is a ${describe(root)}, not a dict`);
  const listing = (): string =>
    [...root].map(([k, v]) => `${typeof k === 'string' ? k : String(k)} (${describe(v)})`).join(', ') || 'none';
  if (key !== undefined) {
    if (!root.has(key)) {
      throw new CheckpointError(`${what}: no key '${key}' in the checkpoint; its keys: ${listing()}`);
    }
    const d = root.get(key);
    if (!(d instanceof Map) || !allTensors(d)) {
      throw new CheckpointError(`${what}: '${key}' is a ${describe(d)}, not a dict of tensors; the checkpoint's keys: ${listing()}`);
    }
    return { dict: d, key };
  }
  for (const k of DEFAULT_STATE_DICT_KEYS) {
    const d = root.get(k);
    if (d instanceof Map && allTensors(d)) return { dict: d, key: k };
  }
  if (allTensors(root)) return { dict: root, key: null };
  throw new CheckpointError(`${what}: no state_dict found (tried ${DEFAULT_STATE_DICT_KEYS.join(', ')} and the top level); pick one with --key; the checkpoint's keys: ${listing()}`);
}

export function stripWrapperPrefixes(name: string): string {
  let n = name;
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of WRAPPER_PREFIXES) {
      if (n.startsWith(p) && n.length > p.length) {
        n = n.slice(p.length);
        changed = true;
      }
    }
  }
  return n;
}

const scratch = new DataView(new ArrayBuffer(4));

function readElement(dv: DataView, dtype: TorchDType, at: number, le: boolean): number {
  switch (dtype) {
    case 'float32': return dv.getFloat32(at, le);
    case 'float64': return dv.getFloat64(at, le);
    case 'float16': return halfToFloat(dv.getUint16(at, le));
    case 'bfloat16': {
      // bfloat16 is the top half of a float32.
      scratch.setUint32(0, dv.getUint16(at, le) << 16);
      return scratch.getFloat32(0);
    }
    case 'int32': return dv.getInt32(at, le);
    case 'int16': return dv.getInt16(at, le);
    case 'int8': return dv.getInt8(at);
    case 'uint8': return dv.getUint8(at);
    case 'bool': return dv.getUint8(at) ? 1 : 0;
    case 'int64': return 0; // read as bigint by the caller
  }
}

/**
 * Copies a tensor out of its storage. Floating tensors become float32 (float64 is rounded;
 * float16 and bfloat16 convert exactly); integer and bool tensors keep their type.
 */
export function materializeTensor(t: TorchTensor, name: string, what: string): SafeTensor {
  const { storage, shape, stride, offset } = t;
  const dtype = storage.dtype;
  const size = ELEMENT_SIZE[dtype];
  const bytes = storage.root.bytes;
  const fail = (msg: string): never => {
    throw new CheckpointError(`${what}: tensor '${name}' ${msg}`);
  };
  if (!bytes) fail(`has no data (${storage.root.source} was never written)`);
  let numel = 1;
  let last = offset;
  for (let i = 0; i < shape.length; i++) {
    numel *= shape[i]!;
    if (shape[i]! > 0) last += (shape[i]! - 1) * stride[i]!;
  }
  const available = storage.availableElements();
  if (numel > 0 && (!Number.isSafeInteger(last) || last >= available)) {
    fail(`[${shape.join(', ')}] (offset ${offset}, strides [${stride.join(', ')}]) needs ${last + 1} ${dtype} elements, but ${storage.root.source} holds only ${available} (${bytes!.length} bytes)`);
  }
  if (numel > Math.max(available, MAX_BROADCAST_ELEMENTS)) fail(`[${shape.join(', ')}] is larger than its storage allows`);

  const le = !storage.root.bigEndian;
  const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
  const rel = storage.elementOffset * size;
  // Walk the output in C order, tracking the source element index through the strides.
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  const eachSource = (visit: (k: number, at: number) => void): void => {
    if (numel === 0) return;
    let src = offset;
    for (let k = 0; k < numel; k++) {
      visit(k, rel + src * size);
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]!++;
        src += stride[d]!;
        if (idx[d]! < shape[d]!) break;
        src -= stride[d]! * shape[d]!;
        idx[d] = 0;
      }
    }
  };
  // Fast path: a C-contiguous little-endian tensor whose type is kept is one byte copy.
  let contiguous = true;
  for (let d = rank - 1, expect = 1; d >= 0; d--) {
    if (shape[d]! !== 1 && stride[d]! !== expect) contiguous = false;
    expect *= shape[d]!;
  }
  const kept = { float32: 'F32', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL' } as const;
  if (contiguous && le && dtype in kept) {
    let at = bytes!.byteOffset + rel + offset * size;
    let buf = bytes!.buffer;
    if (at % size !== 0) {
      // Unaligned (legacy files): copy into a fresh buffer. Aligned (zip files align
      // storages to 64 bytes): view the file's bytes, saving a copy of every weight.
      const copy = new Uint8Array(numel * size);
      copy.set(bytes!.subarray(at - bytes!.byteOffset, at - bytes!.byteOffset + numel * size));
      buf = copy.buffer;
      at = 0;
    }
    const data =
      dtype === 'float32' ? new Float32Array(buf, at, numel) :
      dtype === 'int64' ? new BigInt64Array(buf, at, numel) :
      dtype === 'int32' ? new Int32Array(buf, at, numel) :
      dtype === 'int16' ? new Int16Array(buf, at, numel) :
      dtype === 'int8' ? new Int8Array(buf, at, numel) : new Uint8Array(buf, at, numel);
    return { dtype: kept[dtype as keyof typeof kept], shape: [...shape], data };
  }
  switch (dtype) {
    case 'int64': {
      const out = new BigInt64Array(numel);
      eachSource((k, at) => (out[k] = dv.getBigInt64(at, le)));
      return { dtype: 'I64', shape: [...shape], data: out };
    }
    case 'int32': case 'int16': case 'int8': case 'uint8': case 'bool': {
      const out =
        dtype === 'int32' ? new Int32Array(numel) :
        dtype === 'int16' ? new Int16Array(numel) :
        dtype === 'int8' ? new Int8Array(numel) : new Uint8Array(numel);
      eachSource((k, at) => (out[k] = readElement(dv, dtype, at, le)));
      const st = ({ int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL' } as const)[dtype];
      return { dtype: st, shape: [...shape], data: out };
    }
    default: {
      const out = new Float32Array(numel);
      eachSource((k, at) => (out[k] = readElement(dv, dtype, at, le)));
      return { dtype: 'F32', shape: [...shape], data: out };
    }
  }
}

export interface ImportedWeights {
  tensors: TensorMap;
  format: 'zip' | 'legacy';
  /** The checkpoint key the weights came from; null when the file is a bare state_dict. */
  key: string | null;
  /** Source dtype → tensor count, for tensors not stored as float32. */
  converted: Record<string, number>;
  /** Names that lost a `module.` / `_orig_mod.` prefix. */
  stripped: number;
}

/** Reads a PyTorch checkpoint's state_dict as safetensors-ready tensors. */
export function importTorchWeights(bytes: Uint8Array, what: string, key?: string): ImportedWeights {
  const { root, format } = loadTorchCheckpoint(bytes, what);
  const sel = selectStateDict(root, what, key);
  const tensors: TensorMap = new Map();
  const origin = new Map<string, string>();
  const converted: Record<string, number> = {};
  let stripped = 0;
  for (const [k, v] of sel.dict) {
    const raw = k as string;
    const name = stripWrapperPrefixes(raw);
    if (name !== raw) stripped++;
    if (origin.has(name)) throw new CheckpointError(`${what}: '${raw}' and '${origin.get(name)}' both become '${name}' once prefixes are stripped`);
    origin.set(name, raw);
    const t = v as TorchTensor;
    if (t.storage.dtype !== 'float32') converted[t.storage.dtype] = (converted[t.storage.dtype] ?? 0) + 1;
    tensors.set(name, materializeTensor(t, raw, what));
  }
  return { tensors, format, key: sel.key, converted, stripped };
}

export function readTorchWeights(path: string, key?: string): ImportedWeights {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return importTorchWeights(bytes, path, key);
}
