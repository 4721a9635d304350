import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../io/package-root.js';
import { poolSetting } from './pooled-backend.js';
import { registerNativeBackend } from './register.js';

/**
 * Finding and loading the C++ addon (native/, built by `mnxc setup native` into `.mnxc/native/`),
 * its build stamp, and the line `mnxc doctor` shows. Loading registers the `native` backend.
 */

const ROOT = packageRoot(import.meta.url);
export const NATIVE_HOME = join(ROOT, '.mnxc', 'native');
export const NATIVE_HOME_LABEL = '.mnxc/native';
export const NATIVE_ADDON = join(NATIVE_HOME, 'mnxc_native.node');
/** Written last by `mnxc setup native`. */
export const NATIVE_STAMP = join(NATIVE_HOME, 'setup.json');

export interface NativeStamp {
  /** Hash of native/ sources and build flags the addon was built from. */
  sourceHash: string;
  cpu: string;
  node: string;
  builtAt: string;
}

/** The addon's functions (native/src/addon.cc). */
export interface NativeAddon {
  info(): { threads: number; simd: string };
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, batchA: number, batchB: number, m: number, k: number, n: number, transA: boolean, transB: boolean, bias?: Float32Array | null): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: number[], sa: number[], sb: number[]): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  addN(inputs: Float32Array[], out: Float32Array): void;
  sum(x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number): void;
  copy(src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number, shape: number[], srcStrides: number[], dstStrides: number[]): void;
  fill(dst: Float32Array, value: number): void;
  gather(x: Float32Array, indices: Int32Array, out: Float32Array, outer: number, axisLen: number, inner: number): void;
  dwconv3d(mode: 0 | 1 | 2, geometry: number[], a: Float32Array, b: Float32Array, c: Float32Array | null, d: Float32Array | null): void;
  /** y = scale·GELU(x) (scale defaults to 1). */
  gelu(x: Float32Array, y: Float32Array, scale?: number): void;
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  groupNormStats(x: Float32Array, centred: Float32Array | null, mean: Float32Array, rstd: Float32Array, n: number, v: number, c: number, groups: number, eps: number): void;
  channelAffine(x: Float32Array, scale: Float32Array, shift: Float32Array, y: Float32Array, n: number, v: number, c: number): void;
  softmax(x: Float32Array, y: Float32Array, rows: number, k: number): void;
  /** out = epilogue(a·b + bias) for one [m, k]·[k, n] product: 1 exact GELU, 2 + addend [m, n]. Absent before it was added. */
  matmulEpilogue?(a: Float32Array, b: Float32Array, out: Float32Array, m: number, k: number, n: number, bias: Float32Array, epilogue: 1 | 2, addend: Float32Array | null): void;
  /**
   * out = epilogue(prologue(op(a))·op(b) + bias) for one product: prologue 1 = x·(1 + erf(x/√2)) on a's values, 2 = x − centre[k]
   * (centre [k], per column of op(a); only where matmulPrologues ≥ 3); epilogue 0 none, 1 GELU, 2 + addend [m, n], 3 × GELU′(addend).
   * Absent before it was added.
   */
  matmulFused?(a: Float32Array, b: Float32Array, out: Float32Array, m: number, k: number, n: number, transA: boolean, transB: boolean, bias: Float32Array | null, prologue: 0 | 1 | 2, epilogue: 0 | 1 | 2 | 3, addend: Float32Array | null, centre?: Float32Array | null): void;
  /** How many prologue kinds matmulFused knows (absent: 2, or none without matmulFused). */
  matmulPrologues?: number;
  groupNormBackward(dy: Float32Array, centred: Float32Array, rstd: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null, n: number, v: number, c: number, groups: number): void;
}

export function readNativeStamp(): NativeStamp | null {
  try {
    return JSON.parse(readFileSync(NATIVE_STAMP, 'utf8')) as NativeStamp;
  } catch {
    return null;
  }
}

let addon: NativeAddon | null = null;
let loaded: Promise<string | null> | undefined;

/** The loaded addon, or null before a successful `loadNativeBackend()`. */
export function nativeAddon(): NativeAddon | null {
  return addon;
}

/**
 * Loads the addon once and registers the `native` backend. Returns null when it did, else the
 * reason it did not (never throws, prints nothing: `mnxc doctor` shows the reason).
 */
export function loadNativeBackend(): Promise<string | null> {
  loaded ??= Promise.resolve().then(() => {
    const why = loadAddon();
    if (why) return why;
    registerNativeBackend(addon!);
    return null;
  });
  return loaded;
}

function loadAddon(): string | null {
  if (!existsSync(NATIVE_ADDON)) {
    return `not built: run \`mnxc setup native\` (needs a C++ compiler, make and Python 3; \`npm ci\` tries it too)`;
  }
  if (!readNativeStamp()) return `the build in ${NATIVE_HOME_LABEL} is incomplete (run \`mnxc setup native\` again)`;
  try {
    addon = createRequire(import.meta.url)(NATIVE_ADDON) as NativeAddon;
    addon.info();
    return null;
  } catch (e) {
    addon = null;
    return `${NATIVE_HOME_LABEL}/mnxc_native.node failed to load: ${((e as Error).message ?? String(e)).split('\n')[0]}`;
  }
}

/** One line saying what the loaded addon is, for `mnxc doctor`. */
export function describeNativeBackend(): string {
  if (!addon) return 'not loaded';
  const { threads, simd } = addon.info();
  let pool: string;
  try {
    const p = poolSetting();
    pool = p.pooling ? `outputs recycled, up to ${(p.capBytes / 1024 ** 3).toFixed(1)} GiB (MNXC_NATIVE_POOL=0 turns it off)` : 'outputs not recycled (MNXC_NATIVE_POOL=0)';
  } catch (e) {
    pool = (e as Error).message;
  }
  return `C++ kernels (${simd}, ${threads} thread${threads === 1 ? '' : 's'}) over the cpu backend, ${pool}, from ${NATIVE_HOME_LABEL}`;
}

