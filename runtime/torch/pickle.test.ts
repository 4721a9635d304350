import { describe, expect, it } from 'vitest';
import { CheckpointError } from './errors.js';
import { DEFAULT_LIMITS, PickleError, PyTuple, unpickle } from './pickle.js';
import { torchRules } from './torch-rules.js';

const rules = torchRules('test.pkl', () => {
  throw new PickleError('no storages here');
});
const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const ascii = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const load = (b: Uint8Array, limits = DEFAULT_LIMITS): unknown => unpickle(b, rules, 'test.pkl', 0, limits).value;

/** Concatenates byte pieces; strings are latin-1. */
function bytesOf(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) => (typeof p === 'string' ? ascii(p) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
const u32le = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];

describe('restricted unpickler: plain data', () => {
  it('reads protocol 0 (text opcodes)', () => {
    // python3: pickle.dumps([1, 2.5, 'aé', None, True, (3,), {'k': -7}, 12345678901234567890], protocol=0)
    const b = ascii("(lp0\nI1\naF2.5\naVa\xe9\np1\naNaI01\na(I3\ntp2\na(dp3\nVk\np4\nI-7\nsaL12345678901234567890L\na.");
    const v = load(b) as unknown[];
    expect(v.slice(0, 5)).toEqual([1, 2.5, 'aé', null, true]);
    expect(v[5]).toEqual(new PyTuple([3]));
    expect(v[6]).toEqual(new Map([['k', -7]]));
    expect(v[7]).toBe(12345678901234567890n);
  });

  it('reads protocol 2 (bytes via _codecs.encode, sets via __builtin__.set)', () => {
    // python3: pickle.dumps([1, 2.5, 'aé', None, True, (3,), {'k': -7}, 12345678901234567890, b'xy', {1, 2}], protocol=2).hex()
    const b = hex(
      '80025d7100284b01474004000000000000580300000061c3a971014e884b038571027d710358010000006b71044af9ffffff738a09d20a1feb8ca954ab00635f636f646563730a656e636f64650a710558020000007879710658060000006c6174696e317107867108527109635f5f6275696c74696e5f5f0a7365740a710a5d710b284b014b026585710c52710d652e',
    );
    const v = load(b) as unknown[];
    expect(v.slice(0, 5)).toEqual([1, 2.5, 'aé', null, true]);
    expect(v[7]).toBe(12345678901234567890n);
    expect(Array.from(v[8] as Uint8Array)).toEqual([0x78, 0x79]);
    expect(v[9]).toEqual(new Set([1, 2]));
  });

  it('reads protocol 5 (frames, MEMOIZE, short strings, frozenset)', () => {
    // python3: pickle.dumps([1, 2.5, 'aé', None, True, (3,), {'k': -7}, 12345678901234567890, b'xy', frozenset({1, 2})], protocol=5).hex()
    const b = hex(
      '8005953f000000000000005d94284b014740040000000000008c0361c3a9944e884b0385947d948c016b944af9ffffff738a09d20a1feb8ca954ab004302787994284b014b029194652e',
    );
    const v = load(b) as unknown[];
    expect(v.slice(0, 5)).toEqual([1, 2.5, 'aé', null, true]);
    expect(Array.from(v[8] as Uint8Array)).toEqual([0x78, 0x79]);
    expect(v[9]).toEqual(new Set([1, 2]));
  });

  it('returns where a pickle ends, so several can be read in a row', () => {
    const b = bytesOf([0x80, 2, 0x4b, 7, 0x2e], [0x80, 2, 0x4e, 0x2e]);
    const first = unpickle(b, rules, 't');
    expect(first).toEqual({ value: 7, end: 5 });
    expect(unpickle(b, rules, 't', first.end)).toEqual({ value: null, end: 9 });
  });
});

describe('restricted unpickler: refusals', () => {
  const refuses = (b: Uint8Array, msg: RegExp): void => {
    expect(() => load(b)).toThrow(PickleError);
    expect(() => load(b)).toThrow(msg);
  };

  it('refuses any global outside the list, by name, however it is named', () => {
    // GLOBAL, then REDUCE (never reached)
    refuses(bytesOf([0x80, 2], 'cposix\nsystem\n', [0x58, ...u32le(2)], 'ls', [0x85, 0x52, 0x2e]), /refusing to load global 'posix\.system'/);
    // STACK_GLOBAL (protocol 4)
    refuses(bytesOf([0x80, 4, 0x8c, 8], 'builtins', [0x8c, 4], 'eval', [0x93, 0x2e]), /refusing to load global 'builtins\.eval'/);
    // INST (protocol 0): module and name inline
    refuses(bytesOf('(S\'x\'\nios\nsystem\n.'), /refusing to load global 'os\.system'/);
    // a near miss of an allowed name
    refuses(bytesOf([0x80, 2], 'ctorch._utils\n_rebuild_tensor_v9\n.'), /refusing to load global 'torch\._utils\._rebuild_tensor_v9'/);
  });

  it('refuses to call allowed names with unexpected arguments, and to BUILD arbitrary objects', () => {
    // collections.OrderedDict([('a', 1)]) — only the empty form torch.save writes
    refuses(bytesOf([0x80, 2], 'ccollections\nOrderedDict\n', [0x5d, 0x85, 0x52, 0x2e]), /OrderedDict: expected no arguments/);
    // _codecs.encode with another codec
    refuses(bytesOf([0x80, 2], 'c_codecs\nencode\n', [0x8c, 1], 'a', [0x8c, 5], 'utf16', [0x86, 0x52, 0x2e]), /only encode\(str, 'latin1'\)/);
    // BUILD on a list
    refuses(bytesOf([0x80, 2, 0x5d, 0x7d, 0x62, 0x2e]), /refusing to set the state of list/);
    // calling a storage type
    refuses(bytesOf([0x80, 2], 'ctorch\nFloatStorage\n', [0x29, 0x52, 0x2e]), /refusing to call torch\.FloatStorage/);
  });

  it('rejects malformed pickles with a position, never another kind of error', () => {
    refuses(bytesOf([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f], 'abc'), /pickle ends early: needs 2147483647 more bytes, 3 left/);
    refuses(bytesOf([0x80, 2, 0x8b, ...u32le(1 << 30), 0x2e]), /integer of 1073741824 bytes is too large/);
    refuses(bytesOf([0x80, 2, 0xff]), /unknown pickle opcode 0xff \(pickle byte 2\)/);
    refuses(bytesOf([0x80, 2, 0x61, 0x2e]), /stack underflow/);
    refuses(bytesOf([0x80, 2, 0x4b, 1, 0x4b, 2, 0x2e]), /stops with a malformed stack/);
    refuses(bytesOf([0x80, 2, 0x4b, 1]), /ends without a STOP/);
    refuses(bytesOf([0x80, 2, 0x68, 9, 0x2e]), /memo entry 9, which was never stored/);
    refuses(bytesOf([0x80, 2, 0x74, 0x2e]), /no MARK/);
    refuses(bytesOf([0x80, 9, 0x2e]), /protocol 9 is newer than 5/);
    refuses(bytesOf([0x80, 2, 0x7d, 0x4b, 1, 0x61, 0x2e]), /APPEND on something that is not a list/);
    refuses(bytesOf([0x80, 2, 0x82, 1, 0x2e]), /extension registry/);
    refuses(bytesOf([0x80, 5, 0x97, 0x2e]), /out-of-band buffers/);
  });

  it('caps the stack, the marks and the memo', () => {
    const small = { ...DEFAULT_LIMITS, maxStack: 100, maxMarks: 10, maxMemo: 50 };
    const many = (op: number[], n: number): number[] => Array.from({ length: n }, () => op).flat();
    expect(() => load(bytesOf([0x80, 2], many([0x4e], 101), [0x2e]), small)).toThrow(/stack exceeds 100 items/);
    expect(() => load(bytesOf([0x80, 2], many([0x28], 11), [0x2e]), small)).toThrow(/deeper than 10 marks/);
    expect(() => load(bytesOf([0x80, 4, 0x4e], many([0x94], 51), [0x2e]), small)).toThrow(/memo exceeds 50 entries/);
    // just under the caps loads
    expect(load(bytesOf([0x80, 4, 0x4e], many([0x94], 50), [0x2e]), small)).toBe(null);
  });

  it('stops calls that repeat work on one memoised object (work budget)', () => {
    // s = 'a' * 200_000 memoised once; then encode(s, 'latin1') 2000 times: 400M characters of
    // work from a 220 kB pickle.
    const s = 'a'.repeat(200_000);
    const call = [0x68, 1, 0x68, 0, 0x68, 2, 0x86, 0x52, 0x30]; // encode, s, 'latin1', TUPLE2, REDUCE, POP
    const b = bytesOf(
      [0x80, 2, 0x58, ...u32le(s.length)], s, [0x71, 0], // s → memo 0
      'c_codecs\nencode\n', [0x71, 1, 0x30], // encode → memo 1
      [0x8c, 6], 'latin1', [0x71, 2, 0x30], // 'latin1' → memo 2
      Array.from({ length: 2000 }, () => call).flat(),
      [0x4e, 0x2e],
    );
    expect(() => load(b)).toThrow(/too much work/);
  });

  it('every refusal is a CheckpointError (what the CLI turns into a clean message)', () => {
    expect(() => load(bytesOf([0x80, 2, 0xff]))).toThrow(CheckpointError);
  });
});
