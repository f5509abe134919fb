import { type Tensor } from './tensor.js';

export interface RngState {
  s: [number, number, number, number];
  /** The second Box–Muller normal, kept for the next call (null when none). */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Seeded generator (xoshiro128** on 32-bit integer arithmetic): the same seed gives the same stream
 * on every run and machine. Normals use Box–Muller with Math.log/sqrt/cos/sin, which V8 computes with
 * its own portable (fdlibm-derived) code, not the platform's libm.
 */
export class Rng {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
      throw new TypeError(`Rng: seed must be a safe integer, got ${String(seed)}`);
    }
    const lo = splitmix32(seed >>> 0);
    const hi = splitmix32(Math.floor(seed / 2 ** 32) ^ 0x5bd1e995);
    for (let i = 0; i < 4; i++) this.s[i] = (lo() ^ hi()) >>> 0;
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /** Unbiased integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + std * z;
    }
    let u = this.random();
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }

  uniformArray(n: number, low = 0, high = 1): Float64Array {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = this.uniform(low, high);
    return a;
  }

  normalArray(n: number, mean = 0, std = 1): Float64Array {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = this.normal(mean, std);
    return a;
  }

  /** Fills a tensor with uniform values (rounded once to its dtype). */
  fillUniform(t: Tensor, low = 0, high = 1): Tensor {
    return t.set(this.uniformArray(t.size, low, high));
  }

  /** Fills a tensor with normal values (rounded once to its dtype). */
  fillNormal(t: Tensor, mean = 0, std = 1): Tensor {
    return t.set(this.normalArray(t.size, mean, std));
  }

  getState(): RngState {
    return { s: [this.s[0]!, this.s[1]!, this.s[2]!, this.s[3]!], spare: this.spare };
  }

  setState(state: RngState): void {
    if (!state || typeof state !== 'object' || !Array.isArray(state.s) || state.s.length !== 4 || state.s.some((x) => !Number.isInteger(x) || x < 0 || x >= 2 ** 32)) {
      throw new TypeError('Rng.setState: state.s must be four 32-bit unsigned integers');
    }
    if (state.s.every((x) => x === 0)) {
      throw new TypeError('Rng.setState: state.s is all zero (xoshiro128** would then give only zeros)');
    }
    const spare = state.spare ?? null;
    if (spare !== null && (typeof spare !== 'number' || !Number.isFinite(spare))) {
      throw new TypeError(`Rng.setState: state.spare must be a finite number or null, got ${String(spare)}`);
    }
    this.s.set(state.s);
    this.spare = spare;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The seed of stream `index` of a family with seed `seed` (a 53-bit hash of both): sample i of a
 * generated data set uses new Rng(streamSeed(seed, i)), so samples can be made in any order or in
 * parallel and come out the same.
 */
export function streamSeed(seed: number, index: number): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`streamSeed: seed must be a safe integer, got ${String(seed)}`);
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`streamSeed: index must be a non-negative safe integer, got ${String(index)}`);
  const mix = (x: number): number => {
    x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
    x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
    return (x ^ (x >>> 16)) >>> 0;
  };
  const sLo = seed >>> 0;
  const sHi = Math.floor(seed / 2 ** 32) >>> 0;
  const iLo = index >>> 0;
  const iHi = Math.floor(index / 2 ** 32) >>> 0;
  const h1 = mix(mix(mix(sLo ^ 0x243f6a88) ^ sHi) ^ mix(iLo + 0x9e3779b9) ^ iHi);
  const h2 = mix(h1 ^ mix(iLo ^ 0x85a308d3) ^ mix(sLo + 0x13198a2e));
  return (h1 & 0x1fffff) * 2 ** 32 + h2;
}
