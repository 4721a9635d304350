/**
 * A restricted unpickler: a stack machine over Python's pickle opcodes (protocols 0–5) that
 * builds plain JavaScript data and never runs anything. Every GLOBAL, call (REDUCE, NEWOBJ,
 * INST, OBJ), BUILD and persistent id goes through `PickleRules`, which decide what a name
 * may mean; the rules for PyTorch checkpoints live in `torch-rules.ts`.
 *
 * Python value → JavaScript value: None → null, bool → boolean, int → number (bigint beyond
 * 2^53), float → number, str → string, bytes/bytearray → Uint8Array (a view), list → Array,
 * tuple → PyTuple, dict → Map, set/frozenset → Set.
 *
 * Hostile input costs bounded time and memory: every read is checked against the bytes left,
 * the stack, the mark stack and the memo have caps, and operations whose cost is not paid for
 * by the bytes that triggered them (a call on a memoised large object) draw on a work budget
 * proportional to the pickle's length.
 */

import { PickleError } from '../errors.js';

export { PickleError };

/** A Python tuple (kept apart from lists so rules can tell argument tuples from data). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

export interface PickleRules {
  /** What a GLOBAL `module.name` stands for; throws a PickleError to refuse. */
  global(module: string, name: string): unknown;
  /** REDUCE / NEWOBJ / INST / OBJ: apply a value returned by `global` to arguments. */
  call(callable: unknown, args: unknown[], charge: (work: number) => void): unknown;
  /** BUILD: set an object's state; returns the object to leave on the stack. */
  build(obj: unknown, state: unknown): unknown;
  /** BINPERSID / PERSID: what a persistent id stands for. */
  persistentLoad(pid: unknown): unknown;
}

export interface PickleLimits {
  maxStack: number;
  maxMarks: number;
  maxMemo: number;
  /** Largest Python int accepted, in bytes. */
  maxLongBytes: number;
}

export const DEFAULT_LIMITS: PickleLimits = {
  maxStack: 4_000_000,
  maxMarks: 10_000,
  maxMemo: 4_000_000,
  maxLongBytes: 1024,
};

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

function intValue(v: bigint): number | bigint {
  return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Little-endian two's-complement integer of any length (LONG1 / LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let hex = '';
  for (let i = b.length - 1; i >= 0; i--) hex += b[i]!.toString(16).padStart(2, '0');
  let v = BigInt('0x' + hex);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return intValue(v);
}

function opName(code: number): string {
  const c = String.fromCharCode(code);
  return code >= 0x20 && code < 0x7f ? `'${c}'` : `0x${code.toString(16).padStart(2, '0')}`;
}

/**
 * Unpickles one pickle starting at `start`; returns the value and the offset just after its
 * STOP opcode (the legacy PyTorch format is several pickles in a row).
 * `what` names the source in error messages.
 */
export function unpickle(
  bytes: Uint8Array,
  rules: PickleRules,
  what: string,
  start = 0,
  limits: PickleLimits = DEFAULT_LIMITS,
): { value: unknown; end: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let pos = start;
  // Work not paid for by input bytes (see the header comment).
  let budget = 64 * (end - start) + 10_000_000;
  const charge = (work: number): void => {
    budget -= work;
    if (budget < 0) throw new PickleError(`${what}: pickle needs too much work to load (a decompression bomb?)`);
  };

  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let opPos = start;

  const fail = (msg: string): never => {
    throw new PickleError(`${what}: ${msg} (pickle byte ${opPos})`);
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > end) fail(`pickle ends early: needs ${n} more bytes, ${end - pos} left`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(end)) fail(`length ${v} exceeds the pickle`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  /** A text line (protocol 0 arguments), without its newline. */
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail('pickle ends inside a text argument');
    const s = latin1.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };

  const push = (v: unknown): void => {
    if (stack.length >= limits.maxStack) fail(`pickle stack exceeds ${limits.maxStack} items`);
    stack.push(v);
  };
  const floor = (): number => (marks.length ? marks[marks.length - 1]! : 0);
  const pop = (): unknown => {
    if (stack.length <= floor()) fail('pickle stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= floor()) fail('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('pickle has no MARK to pop to');
    return stack.splice(m!);
  };
  const put = (i: number): void => {
    if (!memo.has(i) && memo.size >= limits.maxMemo) fail(`pickle memo exceeds ${limits.maxMemo} entries`);
    memo.set(i, top());
  };
  const get = (i: number): void => {
    if (!memo.has(i)) fail(`pickle refers to memo entry ${i}, which was never stored`);
    push(memo.get(i));
  };
  const asList = (v: unknown, op: string): unknown[] => {
    if (!Array.isArray(v)) fail(`${op} on something that is not a list`);
    return v as unknown[];
  };
  const asDict = (v: unknown, op: string): Map<unknown, unknown> => {
    if (!(v instanceof Map)) fail(`${op} on something that is not a dict`);
    return v as Map<unknown, unknown>;
  };
  const asSet = (v: unknown, op: string): Set<unknown> => {
    if (!(v instanceof Set)) fail(`${op} on something that is not a set`);
    return v as Set<unknown>;
  };
  const argsOf = (v: unknown, op: string): unknown[] => {
    if (!(v instanceof PyTuple)) fail(`${op} arguments are not a tuple`);
    return (v as PyTuple).items;
  };
  const setItems = (d: Map<unknown, unknown>, items: unknown[]): void => {
    if (items.length % 2 !== 0) fail('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  };
  const textInt = (s: string): number | bigint => {
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[+-]?\d{1,400}$/.test(t)) fail(`bad integer literal '${s.slice(0, 40)}'`);
    return intValue(BigInt(t));
  };
  const call = (fn: unknown, args: unknown[]): unknown => rules.call(fn, args, charge);

  while (true) {
    opPos = pos;
    if (pos >= end) fail('pickle ends without a STOP opcode');
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) fail(`pickle protocol ${v} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: { // STOP '.'
        if (stack.length !== 1 || marks.length !== 0) fail('pickle stops with a malformed stack');
        return { value: stack[0], end: pos };
      }
      case 0x28: // MARK '('
        if (marks.length >= limits.maxMarks) fail(`pickle nests deeper than ${limits.maxMarks} marks`);
        marks.push(stack.length);
        break;
      case 0x30: // POP '0'
        if (stack.length === floor() && marks.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK '1'
        popMark();
        break;
      case 0x32: // DUP '2'
        push(top());
        break;

      // constants and numbers
      case 0x4e: push(null); break; // NONE 'N'
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT 'J'
      case 0x4b: push(u8()); break; // BININT1 'K'
      case 0x4d: push(u16()); break; // BININT2 'M'
      case 0x8a: { // LONG1
        push(decodeLong(take(u8())));
        break;
      }
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0 || n > limits.maxLongBytes) fail(`integer of ${n} bytes is too large`);
        push(decodeLong(take(n)));
        break;
      }
      case 0x49: { // INT 'I' (text; I00/I01 are booleans)
        const s = line();
        push(s === '00' ? false : s === '01' ? true : textInt(s));
        break;
      }
      case 0x4c: push(textInt(line())); break; // LONG 'L'
      case 0x47: { // BINFLOAT 'G' (big-endian double)
        need(8);
        push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x46: { // FLOAT 'F'
        const s = line().trim();
        const v = Number(s);
        if (s === '' || (Number.isNaN(v) && !/^[+-]?nan$/i.test(s))) fail(`bad float literal '${s.slice(0, 40)}'`);
        push(v);
        break;
      }

      // strings and bytes
      case 0x58: push(utf8.decode(take(u32()))); break; // BINUNICODE 'X'
      case 0x8c: push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x56: { // UNICODE 'V' (raw-unicode-escape text)
        const s = line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string, b: string) =>
          String.fromCodePoint(parseInt(a ?? b, 16)),
        );
        push(s);
        break;
      }
      case 0x42: push(take(u32())); break; // BINBYTES 'B'
      case 0x43: push(take(u8())); break; // SHORT_BINBYTES 'C'
      case 0x8e: push(take(u64())); break; // BINBYTES8
      case 0x96: push(take(u64())); break; // BYTEARRAY8
      case 0x54: { // BINSTRING 'T' (Python 2 str, read as latin-1)
        const n = i32();
        if (n < 0) fail('negative string length');
        push(latin1.decode(take(n)));
        break;
      }
      case 0x55: push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING 'U'
      case 0x53: { // STRING 'S' (a quoted Python 2 literal)
        const s = line();
        const q = s[0];
        if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('bad STRING literal');
        push(
          s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[\\'"nrt0])/g, (_m, e: string) =>
            e[0] === 'x' ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ n: '\n', r: '\r', t: '\t', '0': '\0' } as Record<string, string>)[e] ?? e,
          ),
        );
        break;
      }

      // containers
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE ')'
      case 0x5d: push([]); break; // EMPTY_LIST ']'
      case 0x7d: push(new Map()); break; // EMPTY_DICT '}'
      case 0x8f: push(new Set()); break; // EMPTY_SET
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE 't'
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x6c: push(popMark()); break; // LIST 'l'
      case 0x64: { // DICT 'd'
        const d = new Map<unknown, unknown>();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x91: push(new Set(popMark())); break; // FROZENSET
      case 0x61: { // APPEND 'a'
        const v = pop();
        asList(top(), 'APPEND').push(v);
        break;
      }
      case 0x65: { // APPENDS 'e'
        const items = popMark();
        const list = asList(top(), 'APPENDS');
        for (const v of items) list.push(v);
        break;
      }
      case 0x73: { // SETITEM 's'
        const v = pop();
        const k = pop();
        asDict(top(), 'SETITEM').set(k, v);
        break;
      }
      case 0x75: { // SETITEMS 'u'
        const items = popMark();
        setItems(asDict(top(), 'SETITEMS'), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = asSet(top(), 'ADDITEMS');
        for (const v of items) s.add(v);
        break;
      }

      // memo
      case 0x70: { // PUT 'p'
        const i = Number(textInt(line()));
        put(i);
        break;
      }
      case 0x71: put(u8()); break; // BINPUT 'q'
      case 0x72: put(u32()); break; // LONG_BINPUT 'r'
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x67: get(Number(textInt(line()))); break; // GET 'g'
      case 0x68: get(u8()); break; // BINGET 'h'
      case 0x6a: get(u32()); break; // LONG_BINGET 'j'

      // names, calls, state: all decided by the rules
      case 0x63: { // GLOBAL 'c'
        const module = line();
        const name = line();
        push(rules.global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        push(rules.global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE 'R'
        const args = argsOf(pop(), 'REDUCE');
        const fn = pop();
        push(call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = argsOf(pop(), 'NEWOBJ');
        const cls = pop();
        push(call(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = argsOf(pop(), 'NEWOBJ_EX');
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail('NEWOBJ_EX with keyword arguments is not supported');
        push(call(cls, args));
        break;
      }
      case 0x69: { // INST 'i'
        const module = line();
        const name = line();
        const args = popMark();
        push(call(rules.global(module, name), args));
        break;
      }
      case 0x6f: { // OBJ 'o'
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        push(call(items[0], items.slice(1)));
        break;
      }
      case 0x62: { // BUILD 'b'
        const state = pop();
        const obj = pop();
        push(rules.build(obj, state));
        break;
      }
      case 0x51: push(rules.persistentLoad(pop())); break; // BINPERSID 'Q'
      case 0x50: push(rules.persistentLoad(line())); break; // PERSID 'P'
      case 0x82:
      case 0x83:
      case 0x84:
        fail('pickle uses the copyreg extension registry (EXT1/2/4), which is not supported');
        break;
      case 0x97:
        fail('pickle uses out-of-band buffers (NEXT_BUFFER), which are not supported');
        break;
      case 0x98: // READONLY_BUFFER: a flag on the buffer on top; nothing to do
        top();
        break;
      default:
        fail(`unknown pickle opcode ${opName(op)}`);
    }
  }
}
