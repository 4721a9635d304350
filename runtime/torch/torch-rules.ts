/**
 * What a PyTorch checkpoint's pickle may name, and what each name rebuilds. Everything here
 * returns plain data; any other global is refused by name. The list follows what `torch.save`
 * writes for tensors and state dicts, plus NumPy scalars, which the official MedNeXt /
 * nnU-Net trainers store beside the weights (training curves as float64 scalars).
 */

import { PickleError, PyTuple, type PickleRules } from './pickle.js';

export type TorchDType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

export const ELEMENT_SIZE: Record<TorchDType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** `torch.FloatStorage` & co. as they appear inside persistent ids. */
export class TorchStorageType {
  constructor(
    readonly name: string,
    readonly dtype: TorchDType,
  ) {}
}

const STORAGE_TYPES: Record<string, TorchDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

/** `torch.float32` & co. as values (they appear in some metadata). */
export class TorchDTypeValue {
  constructor(readonly name: string) {}
}

const TORCH_DTYPE_NAMES = new Set([
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16',
  'int64', 'long', 'int32', 'int', 'int16', 'short', 'int8', 'uint8', 'bool',
]);

/** The bytes behind one or more storages (one zip record, or one legacy storage record). */
export class StorageRoot {
  /** Set when the record is read; null until then (legacy files store data after the pickle). */
  bytes: Uint8Array | null = null;
  constructor(
    /** Where the data lives, for messages: a zip entry name or `legacy storage <key>`. */
    readonly source: string,
    readonly dtype: TorchDType,
    readonly bigEndian: boolean,
  ) {}
}

/** A typed storage: a root plus (legacy views only) an element offset and length. */
export class TorchStorage {
  constructor(
    readonly root: StorageRoot,
    readonly dtype: TorchDType,
    /** Elements the pickle claims; never trusted for allocation. */
    readonly claimedNumel: number,
    readonly elementOffset = 0,
    readonly viewSize: number | null = null,
  ) {}

  /** Elements really present in the bytes. */
  availableElements(): number {
    const bytes = this.root.bytes;
    if (!bytes) return 0;
    const all = Math.floor(bytes.length / ELEMENT_SIZE[this.dtype]) - this.elementOffset;
    return Math.max(0, this.viewSize === null ? all : Math.min(all, this.viewSize));
  }
}

export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export class NumpyDType {
  byteOrder: string;
  constructor(readonly descr: string) {
    this.byteOrder = descr.startsWith('>') ? '>' : '<';
  }
}

/** A name the rules know; calling or building it is decided by `kind`. */
class Known {
  constructor(
    readonly qualname: string,
    readonly kind: string,
  ) {}
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function intTuple(v: unknown, what: string, ctx: string): number[] {
  if (!(v instanceof PyTuple) || !v.items.every((x) => isInt(x) && x >= 0)) {
    throw new PickleError(`${ctx}: ${what} is not a tuple of non-negative integers`);
  }
  return v.items as number[];
}

const NUMPY_SCALAR_MODULES = new Set(['numpy.core.multiarray', 'numpy._core.multiarray']);

/** Decodes a NumPy scalar's raw bytes (`numpy.core.multiarray.scalar(dtype, bytes)`). */
function numpyScalar(dtype: NumpyDType, data: Uint8Array, ctx: string): number | bigint | boolean {
  const code = dtype.descr.replace(/^[<>=|]/, '');
  const size: Record<string, number> = { f8: 8, f4: 4, f2: 2, i8: 8, i4: 4, i2: 2, i1: 1, u8: 8, u4: 4, u2: 2, u1: 1, b1: 1 };
  const n = size[code];
  if (n === undefined) throw new PickleError(`${ctx}: NumPy scalar of dtype '${dtype.descr}' is not supported`);
  if (data.length !== n) throw new PickleError(`${ctx}: NumPy '${code}' scalar has ${data.length} bytes, expected ${n}`);
  const dv = new DataView(data.buffer, data.byteOffset, n);
  const le = dtype.byteOrder !== '>';
  switch (code) {
    case 'f8': return dv.getFloat64(0, le);
    case 'f4': return dv.getFloat32(0, le);
    case 'f2': return halfToFloat(dv.getUint16(0, le));
    case 'i8': { const v = dv.getBigInt64(0, le); return Number.isSafeInteger(Number(v)) ? Number(v) : v; }
    case 'u8': { const v = dv.getBigUint64(0, le); return Number.isSafeInteger(Number(v)) ? Number(v) : v; }
    case 'i4': return dv.getInt32(0, le);
    case 'u4': return dv.getUint32(0, le);
    case 'i2': return dv.getInt16(0, le);
    case 'u2': return dv.getUint16(0, le);
    case 'i1': return dv.getInt8(0);
    case 'u1': return dv.getUint8(0);
    default: return dv.getUint8(0) !== 0; // b1
  }
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Rules for a PyTorch checkpoint. `persistentLoad` turns the format's storage ids into
 * `TorchStorage`s (zip and legacy formats differ there); `ctx` names the file in messages.
 */
export function torchRules(ctx: string, persistentLoad: (pid: unknown) => unknown): PickleRules {
  return {
    global(module, name) {
      const q = `${module}.${name}`;
      if (module === 'collections' && name === 'OrderedDict') return new Known(q, 'ordered_dict');
      if (module === 'torch._utils' && (name === '_rebuild_tensor_v2' || name === '_rebuild_tensor')) return new Known(q, 'rebuild_tensor');
      if (module === 'torch._utils' && (name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state')) return new Known(q, 'rebuild_parameter');
      if (module === 'torch' && name in STORAGE_TYPES) return new TorchStorageType(name, STORAGE_TYPES[name]!);
      if (module === 'torch.storage' && name === 'UntypedStorage') return new TorchStorageType(name, 'uint8');
      if (module === 'torch' && name === 'Size') return new Known(q, 'size');
      if (module === 'torch' && name === 'device') return new Known(q, 'device');
      if (module === 'torch' && TORCH_DTYPE_NAMES.has(name)) return new TorchDTypeValue(name);
      if (module === '_codecs' && name === 'encode') return new Known(q, 'encode');
      // (`__builtin__` is the Python 2 name protocol-2 pickles use.)
      if ((module === 'builtins' || module === '__builtin__') && (name === 'set' || name === 'frozenset')) return new Known(q, 'set');
      if (module === 'numpy' && name === 'dtype') return new Known(q, 'numpy_dtype');
      if (NUMPY_SCALAR_MODULES.has(module) && name === 'scalar') return new Known(q, 'numpy_scalar');
      throw new PickleError(`${ctx}: refusing to load global '${q}' (only tensors, plain data and NumPy scalars are rebuilt)`);
    },

    call(fn, args, charge) {
      if (!(fn instanceof Known)) {
        const what = fn instanceof TorchStorageType ? `torch.${fn.name}` : typeof fn;
        throw new PickleError(`${ctx}: refusing to call ${what}`);
      }
      const bad = (why: string): never => {
        throw new PickleError(`${ctx}: ${fn.qualname}: ${why}`);
      };
      switch (fn.kind) {
        case 'ordered_dict':
          // torch.save pickles OrderedDict() empty and fills it with SETITEMS.
          if (args.length !== 0) bad('expected no arguments');
          return new Map();
        case 'rebuild_tensor': {
          const [storage, offset, size, stride] = args;
          if (args.length < 4) bad('too few arguments');
          if (!(storage instanceof TorchStorage)) return bad('first argument is not a storage');
          if (!isInt(offset) || offset < 0) bad('storage offset is not a non-negative integer');
          const shape = intTuple(size, 'size', `${ctx}: ${fn.qualname}`);
          const strides = intTuple(stride, 'stride', `${ctx}: ${fn.qualname}`);
          if (shape.length !== strides.length) bad(`size has ${shape.length} dimensions but stride has ${strides.length}`);
          return new TorchTensor(storage, offset as number, shape, strides);
        }
        case 'rebuild_parameter':
          if (!(args[0] instanceof TorchTensor)) bad('data is not a tensor');
          return args[0];
        case 'size':
          if (args.length !== 1) bad('expected one argument');
          intTuple(args[0], 'size', `${ctx}: ${fn.qualname}`);
          return args[0];
        case 'device':
          if (typeof args[0] !== 'string') bad('device name is not a string');
          return args.length > 1 && isInt(args[1]) ? `${args[0]}:${args[1]}` : args[0];
        case 'encode': {
          // Protocol 2 pickles Python 3 bytes as _codecs.encode(latin-1 text, 'latin1').
          const [text, enc] = args;
          if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) bad("only encode(str, 'latin1') is supported");
          const s = text as string;
          charge(s.length);
          const out = new Uint8Array(s.length);
          for (let i = 0; i < s.length; i++) {
            const c = s.charCodeAt(i);
            if (c > 255) bad('text is not latin-1');
            out[i] = c;
          }
          return out;
        }
        case 'set': {
          const items = args.length === 0 ? [] : args[0];
          if (!Array.isArray(items)) return bad('argument is not a list');
          charge(items.length);
          return new Set(items);
        }
        case 'numpy_dtype':
          if (typeof args[0] !== 'string') bad('dtype name is not a string');
          return new NumpyDType(args[0] as string);
        case 'numpy_scalar': {
          const [dtype, data] = args;
          if (!(dtype instanceof NumpyDType) || !(data instanceof Uint8Array)) return bad('expected (dtype, bytes)');
          return numpyScalar(dtype, data, ctx);
        }
      }
      return bad('cannot be called');
    },

    build(obj, state) {
      // numpy.dtype's state tuple: (version, byte order, ...).
      if (obj instanceof NumpyDType && state instanceof PyTuple) {
        const order = state.items[1];
        if (order === '<' || order === '>' || order === '|' || order === '=') obj.byteOrder = order === '>' ? '>' : '<';
        return obj;
      }
      // An OrderedDict's state: its attributes (a state_dict's `_metadata`); not needed.
      if (obj instanceof Map && (state instanceof Map || state === null || state instanceof PyTuple)) return obj;
      const what = obj instanceof Known ? obj.qualname : obj === null ? 'None' : Array.isArray(obj) ? 'list' : typeof obj;
      throw new PickleError(`${ctx}: refusing to set the state of ${what}`);
    },

    persistentLoad,
  };
}
