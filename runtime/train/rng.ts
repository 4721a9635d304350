/**
 * Seeded random numbers for training. Every batch gets its own generator derived from
 * (seed, stream, epoch, index), so a batch is the same whichever worker makes it, in whatever
 * order, and a resumed run draws exactly what an uninterrupted one would: no generator state has
 * to be carried across processes.
 */

/** 32-bit integer mix (murmur3 finaliser). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed from several integers (order matters). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = mix32((h ^ mix32(p >>> 0)) + 0x7f4a7c15 + ((p / 2 ** 32) >>> 0));
  return h;
}

export const STREAM = { train: 1, val: 2, init: 3 } as const;

/** sfc32: small, fast, 128-bit state, passes PractRand; state is four uint32s. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  random(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Integer in [lo, hi] (both ends included). */
  intInclusive(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Standard normal (Box–Muller, pairs cached). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * batchgenerators' two-sided draw for a range around 1: half the time from [lo, 1), else from
   * [max(lo, 1), hi] (so shrinking and growing are equally likely whatever the range's asymmetry).
   */
  aroundOne(lo: number, hi: number): number {
    if (this.random() < 0.5 && lo < 1) return this.uniform(lo, 1);
    return this.uniform(Math.max(lo, 1), hi);
  }
}

/** The generator of one batch. */
export function batchRng(seed: number, stream: number, epoch: number, index: number): Rng {
  return new Rng(deriveSeed(seed, stream, epoch, index));
}
