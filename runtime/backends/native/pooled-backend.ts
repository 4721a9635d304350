import * as os from 'node:os';
import type * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { cpuValues } from '../../tfjs-internals.js';

/**
 * The `native` backend: TF.js's cpu backend whose kernel outputs come from a free list of
 * Float32Arrays instead of a fresh (zero-filled) `new Float32Array(n)` each. Disposing a tensor
 * in the cpu backend only drops its array, and the tens of MB per op then wait in V8's external
 * memory for a garbage collection (measured: ~50 collections, 100–130 ms of a 0.7 s MedNeXt-S
 * forward). Here an array the backend really lets go of (its last reference gone) goes back to
 * the list, keyed by length, and the next output of that length reuses it.
 *
 * An array goes back only if `alloc` made it and it never escaped: `readSync`/`read` (what
 * `dataSync()`, `data()`, `array()`, `bufferSync()` return is the backend's own array; a caller
 * may keep it after the tensor is gone) and an array registered twice (a cpu kernel that stores a
 * view of its input as its output, e.g. a contiguous Slice's subarray) mark its buffer escaped
 * for good. Arrays that came from elsewhere (`tf.tensor(userArray)`, the cpu kernels' own) are
 * never pooled.
 *
 * Bounded: at most `capBytes` pooled (default min(¼ of the machine's memory, 8 GiB)), dropping the
 * least recently pooled first. What the pool holds are a step's transient tensors, which without
 * it sit as garbage until a collection: measured at 64³, a MedNeXt-S k3 training step pools 2.9 GB
 * and B k5 3.1 GB with the same peak RSS as without the pool; a 2 GiB cap evicted a quarter of
 * the step's arrays and lost ~40% of the gain. The cap keeps arrays of lengths never asked for
 * again (other shapes) from holding more than that. `MNXC_NATIVE_POOL=0` turns recycling off
 * (every output a fresh array, as the cpu backend does); another number is the cap in MiB.
 */
export class PooledCpuBackend extends MathBackendCPU {
  private pooling_: boolean;
  /** Whether outputs are recycled (initially false with MNXC_NATIVE_POOL=0); see setPooling. */
  get pooling(): boolean {
    return this.pooling_;
  }
  /** Most bytes held in the free list. */
  capBytes: number;
  /** Counters: arrays made new, arrays reused, arrays returned to the list, arrays dropped (cap). */
  readonly stats = { allocated: 0, reused: 0, pooled: 0, evicted: 0 };
  private readonly mine = new WeakSet<ArrayBuffer>();
  /** Buffers that are the values of a stored tensor (registered once). */
  private readonly registered = new WeakSet<ArrayBuffer>();
  private readonly escaped = new WeakSet<ArrayBuffer>();
  private readonly free = new Map<number, Float32Array[]>();
  /** Every pooled array, least recently pooled first (a Set keeps insertion order). */
  private readonly order = new Set<Float32Array>();
  private bytes = 0;

  constructor(options: { pooling?: boolean; capBytes?: number } = {}) {
    super();
    const env = options.pooling === undefined || options.capBytes === undefined ? envPoolSetting() : undefined;
    this.pooling_ = options.pooling ?? env!.pooling;
    this.capBytes = options.capBytes ?? env!.capBytes;
  }

  /** Bytes now held in the free list. */
  get pooledBytes(): number {
    return this.bytes;
  }

  /**
   * A Float32Array of exactly n values for a kernel's output: a recycled one (zero-filled only if
   * `zeroed`; otherwise holding old values the kernel must overwrite entirely), or a new one (zero).
   */
  alloc(n: number, options: { zeroed: boolean }): Float32Array {
    if (!this.pooling || n === 0) return new Float32Array(n);
    const list = this.free.get(n);
    const reused = list?.pop();
    if (reused) {
      if (list!.length === 0) this.free.delete(n);
      this.order.delete(reused);
      this.bytes -= reused.byteLength;
      this.stats.reused++;
      if (options.zeroed) reused.fill(0);
      return reused;
    }
    const out = new Float32Array(n);
    this.mine.add(out.buffer as ArrayBuffer);
    this.stats.allocated++;
    return out;
  }

  /** Turns recycling on or off (off drops the pool); arrays made while off are never pooled. */
  setPooling(on: boolean): void {
    this.pooling_ = on;
    if (!on) this.clearPool();
  }

  /** Drops every pooled array. */
  clearPool(): void {
    this.free.clear();
    this.order.clear();
    this.bytes = 0;
  }

  private note(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const buf = values.buffer as ArrayBuffer;
    if (!this.mine.has(buf)) return;
    if (this.registered.has(buf)) this.escaped.add(buf);
    else this.registered.add(buf);
  }

  private escape(values: unknown): void {
    if (ArrayBuffer.isView(values)) this.escaped.add(values.buffer as ArrayBuffer);
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    this.note(values);
    return super.write(values, shape, dtype);
  }

  override move(dataId: tf.DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    this.note(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    this.escape(values); // a complex tensor's parts were read through this method too
    return values;
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.pooling && this.data.has(dataId) ? cpuValues(this, { dataId, shape: [], dtype: 'float32' }) : undefined;
    const done = super.disposeData(dataId, force);
    if (values && !this.data.has(dataId)) this.release(values);
    return done;
  }

  private release(values: tf.backend_util.BackendValues): void {
    if (!(values instanceof Float32Array)) return;
    const buf = values.buffer as ArrayBuffer;
    if (!this.mine.has(buf) || this.escaped.has(buf)) return;
    // Only a whole array made by alloc (a view of one is registered twice, so escaped).
    if (values.byteOffset !== 0 || values.byteLength !== buf.byteLength) return;
    this.registered.delete(buf);
    if (values.byteLength > this.capBytes) return;
    let list = this.free.get(values.length);
    if (!list) this.free.set(values.length, (list = []));
    list.push(values);
    this.order.add(values);
    this.bytes += values.byteLength;
    this.stats.pooled++;
    for (const old of this.order) {
      if (this.bytes <= this.capBytes) break;
      this.order.delete(old);
      const l = this.free.get(old.length)!;
      l.splice(l.indexOf(old), 1);
      if (l.length === 0) this.free.delete(old.length);
      this.bytes -= old.byteLength;
      this.stats.evicted++;
    }
  }
}

/** min(¼ of the machine's memory, 8 GiB). */
export function defaultPoolCap(): number {
  return Math.min(Math.floor(os.totalmem() / 4), 8 * 1024 ** 3);
}

/**
 * MNXC_NATIVE_POOL: unset, empty or 1: recycling with the default cap; 0: off; another whole
 * number: the cap in MiB. Anything else is an error naming the variable.
 */
export function poolSetting(value = process.env.MNXC_NATIVE_POOL): { pooling: boolean; capBytes: number } {
  if (value === undefined || value === '' || value === '1') return { pooling: true, capBytes: defaultPoolCap() };
  if (value === '0') return { pooling: false, capBytes: defaultPoolCap() };
  if (/^[1-9][0-9]*$/.test(value)) return { pooling: true, capBytes: Number(value) * 2 ** 20 };
  throw new Error(`MNXC_NATIVE_POOL=${value}: expected 0 (off), 1 (on, default cap) or the pool's cap in MiB`);
}

/** poolSetting() of the environment; a bad value is said in one line on stderr and the default used (`mnxc doctor` shows it too). */
function envPoolSetting(): { pooling: boolean; capBytes: number } {
  try {
    return poolSetting();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}; using the default\n`);
    return { pooling: true, capBytes: defaultPoolCap() };
  }
}
