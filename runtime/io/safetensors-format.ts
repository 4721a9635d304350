import { SafetensorsError } from '../errors.js';

/**
 * The safetensors format from and to bytes (no files: the browser runtime loads weights with
 * this; runtime/io/safetensors.ts reads and writes files). safetensors: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}`,
 * then the raw little-endian tensor bytes in C order.
 */
export type SafeDType = 'F64' | 'F32' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'BOOL';

export type TypedArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: TypedArray;
}

export type TensorMap = Map<string, SafeTensor>;

const BYTES: Record<SafeDType, number> = { F64: 8, F32: 4, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, BOOL: 1 };

export { SafetensorsError };

function view(dtype: SafeDType, bytes: Uint8Array): TypedArray {
  // Copy into an aligned buffer: the data section need not be aligned for the element size.
  // (Node's Buffer#slice does not copy, so copy explicitly.)
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  const buf = copy.buffer;
  switch (dtype) {
    case 'F64': return new Float64Array(buf);
    case 'F32': return new Float32Array(buf);
    case 'I64': return new BigInt64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'I16': return new Int16Array(buf);
    case 'I8': return new Int8Array(buf);
    case 'U16': return new Uint16Array(buf);
    case 'U8':
    case 'BOOL': return new Uint8Array(buf);
  }
}

export function dtypeOf(data: TypedArray): SafeDType {
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint16Array) return 'U16';
  return 'U8';
}

/** Parses a safetensors buffer; `what` names the source in error messages. */
export function parseSafetensors(bytes: Uint8Array, what = 'safetensors data'): { tensors: TensorMap; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SafetensorsError(`${what}: not a safetensors file (only ${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (headerLen > bytes.length - 8 || headerLen > 100_000_000) {
    throw new SafetensorsError(`${what}: header length ${headerLen} exceeds the file size ${bytes.length}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    throw new SafetensorsError(`${what}: header is not valid JSON`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(`${what}: header is not a JSON object`);
  }
  const dataStart = 8 + headerLen;
  const tensors: TensorMap = new Map();
  let metadata: Record<string, string> = {};
  const ranges: { name: string; b: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype as SafeDType;
    if (!(dtype in BYTES)) throw new SafetensorsError(`${what}: tensor '${name}' has unsupported dtype ${String(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(`${what}: tensor '${name}' has an invalid shape`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new SafetensorsError(`${what}: tensor '${name}' has invalid data_offsets`);
    }
    const [b, end] = offs as [number, number];
    const shape = e.shape as number[];
    const n = shape.reduce((a, d) => a * d, 1);
    if (end < b || end - b !== n * BYTES[dtype] || dataStart + end > bytes.length) {
      throw new SafetensorsError(`${what}: tensor '${name}' data [${b}, ${end}) does not match shape [${shape}] ${dtype} or the file size`);
    }
    tensors.set(name, { dtype, shape, data: view(dtype, bytes.subarray(dataStart + b, dataStart + end)) });
    ranges.push({ name, b, end });
  }
  // Each byte of the data section belongs to at most one tensor (as the format's reference reader demands).
  ranges.sort((x, y) => x.b - y.b || x.end - y.end);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1]!, cur = ranges[i]!;
    if (cur.b < prev.end) throw new SafetensorsError(`${what}: tensors '${prev.name}' [${prev.b}, ${prev.end}) and '${cur.name}' [${cur.b}, ${cur.end}) overlap in the data section; the file is damaged or crafted`);
  }
  return { tensors, metadata };
}

/** Serialises tensors; names are sorted, as the reference safetensors writer does. */
export function serializeSafetensors(tensors: TensorMap, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (t.data.length !== n) throw new SafetensorsError(`tensor '${name}': ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data section starts 8-byte aligned.
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

export function f32(shape: number[], data: Float32Array): SafeTensor {
  return { dtype: 'F32', shape, data };
}
