/**
 * FFT plans for one length n: the Stockham mixed-radix stages (radix 4, 2, 3, 5) or, when n has a
 * prime factor above 5, Bluestein's chirp-z algorithm over a 2^a·3^b·5^c length M ≥ 2n − 1.
 * Twiddles are computed in float64 (exact angle reduction by integer index) and kept in float64;
 * each engine rounds them to its working precision.
 *
 * Stockham DIF stage with radix r on a current length ncur (stride s, m = ncur / r):
 *   for p < m, q < s:  a_t = x[q + s·(p + t·m)], b_u = Σ_t a_t·ω_r^(t·u),
 *                      y[q + s·(r·p + u)] = b_u · W^(p·u),  W = exp(∓2πi / ncur)
 * then ncur /= r, s *= r. After all stages the result is in natural order.
 */

export interface Stage {
  radix: number;
  /** ncur / radix. */
  m: number;
  /** Stride s before this stage. */
  s: number;
  /** Forward twiddles W^(p·u) for p < m, u = 1..r−1, stored [p][u−1] as re/im pairs (the inverse conjugates them). */
  tw: Float64Array;
}

export interface Plan {
  n: number;
  /** Stockham stages of n (empty for n = 1), or undefined when Bluestein is used. */
  stages: Stage[] | undefined;
  bluestein: BluesteinPlan | undefined;
}

export interface BluesteinPlan {
  /** Convolution length (2^a·3^b·5^c ≥ 2n − 1). */
  m: number;
  sub: Plan;
  /** Forward chirp c[j] = exp(−iπ j²/n), j < n, as re/im pairs. */
  chirp: Float64Array;
  /** FFT_M of the conjugate chirp filter (forward direction), divided by M, as re/im pairs. */
  filter: Float64Array;
}

export function factorize(n: number): number[] {
  const f: number[] = [];
  let x = n;
  for (const p of [2, 3, 5]) while (x % p === 0) { f.push(p); x /= p; }
  for (let p = 7; p * p <= x; p += 2) while (x % p === 0) { f.push(p); x /= p; }
  if (x > 1) f.push(x);
  return f;
}

export function isSmooth(n: number): boolean {
  return factorize(n).every((p) => p <= 5);
}

/** Smallest 2^a·3^b·5^c ≥ n. */
export function nextSmooth(n: number): number {
  let m = Math.max(1, n);
  while (!isSmooth(m)) m++;
  return m;
}

/** Radix order: 4s first, then a 2 if left, then 3s, then 5s. */
export function radices(n: number): number[] {
  const f = factorize(n);
  const twos = f.filter((p) => p === 2).length;
  const r: number[] = [];
  for (let i = 0; i < twos >> 1; i++) r.push(4);
  if (twos & 1) r.push(2);
  for (const p of f) if (p === 3 || p === 5) r.push(p);
  return r;
}

/** exp(−2πi·num/den) with the angle reduced exactly in integers first. */
export function unitRoot(num: number, den: number): [number, number] {
  const k = ((num % den) + den) % den;
  const a = (-2 * Math.PI * k) / den;
  // use symmetric evaluation so that e.g. k = den/4 gives exactly (0, −1)
  if (4 * k === den) return [0, -1];
  if (2 * k === den) return [-1, 0];
  if (4 * k === 3 * den) return [0, 1];
  if (k === 0) return [1, 0];
  return [Math.cos(a), Math.sin(a)];
}

const cache = new Map<number, Plan>();

export function checkLength(n: number, op: string): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${op}: transform length must be a positive integer, got ${n}`);
  if (n > 1 << 24) throw new RangeError(`${op}: transform length ${n} is larger than supported (2^24)`);
}

export function makePlan(n: number): Plan {
  checkLength(n, 'fft plan');
  const hit = cache.get(n);
  if (hit) return hit;
  let plan: Plan;
  if (isSmooth(n)) {
    const stages: Stage[] = [];
    let ncur = n;
    let s = 1;
    for (const r of radices(n)) {
      const m = ncur / r;
      const tw = new Float64Array(2 * m * (r - 1));
      for (let p = 0; p < m; p++) {
        for (let u = 1; u < r; u++) {
          const [c, d] = unitRoot(p * u, ncur);
          tw[2 * (p * (r - 1) + u - 1)] = c;
          tw[2 * (p * (r - 1) + u - 1) + 1] = d;
        }
      }
      stages.push({ radix: r, m, s, tw });
      ncur = m;
      s *= r;
    }
    plan = { n, stages, bluestein: undefined };
  } else {
    const m = nextSmooth(2 * n - 1);
    const sub = makePlan(m);
    const chirp = new Float64Array(2 * n);
    for (let j = 0; j < n; j++) {
      // exp(−iπ j²/n) = exp(−2πi · j² / (2n)), j² reduced mod 2n exactly
      const [c, d] = unitRoot((j * j) % (2 * n), 2 * n);
      chirp[2 * j] = c;
      chirp[2 * j + 1] = d;
    }
    // filter h[j] = conj(chirp[|j|]) for j in (−n, n), wrapped into length m; FFT_M(h) / m
    const hr = new Float64Array(m);
    const hi = new Float64Array(m);
    for (let j = 0; j < n; j++) {
      hr[j] = chirp[2 * j]!;
      hi[j] = -chirp[2 * j + 1]!;
      if (j > 0) {
        hr[m - j] = chirp[2 * j]!;
        hi[m - j] = -chirp[2 * j + 1]!;
      }
    }
    fftInPlace64(sub, hr, hi, false);
    const filter = new Float64Array(2 * m);
    for (let j = 0; j < m; j++) {
      filter[2 * j] = hr[j]! / m;
      filter[2 * j + 1] = hi[j]! / m;
    }
    plan = { n, stages: undefined, bluestein: { m, sub, chirp, filter } };
  }
  cache.set(n, plan);
  return plan;
}

/**
 * Unnormalised complex FFT in float64 of one signal (re, im of length plan.n), in place; `inverse`
 * uses exp(+2πi jk/n). This is the float64 engine's core (and the reference for the wasm kernels).
 */
export function fftInPlace64(plan: Plan, re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = plan.n;
  if (plan.bluestein) {
    const { m, sub, chirp, filter } = plan.bluestein;
    const sg = inverse ? -1 : 1; // inverse uses the conjugate chirp
    const yr = new Float64Array(m);
    const yi = new Float64Array(m);
    for (let j = 0; j < n; j++) {
      const cr = chirp[2 * j]!;
      const ci = sg * chirp[2 * j + 1]!;
      yr[j] = re[j]! * cr - im[j]! * ci;
      yi[j] = re[j]! * ci + im[j]! * cr;
    }
    fftInPlace64(sub, yr, yi, false);
    for (let j = 0; j < m; j++) {
      // the inverse filter is FFT_M of the conjugate-direction chirp: conj(FFT(conj h)) (h is even)
      const fr = filter[2 * j]!;
      const fi = filter[2 * j + 1]!;
      const gr = inverse ? filter[2 * ((m - j) % m)]! : fr;
      const gi = inverse ? -filter[2 * ((m - j) % m) + 1]! : fi;
      const a = yr[j]!;
      const b = yi[j]!;
      yr[j] = a * gr - b * gi;
      yi[j] = a * gi + b * gr;
    }
    fftInPlace64(sub, yr, yi, true);
    for (let k = 0; k < n; k++) {
      const cr = chirp[2 * k]!;
      const ci = sg * chirp[2 * k + 1]!;
      re[k] = yr[k]! * cr - yi[k]! * ci;
      im[k] = yr[k]! * ci + yi[k]! * cr;
    }
    return;
  }
  let xr: Float64Array = re;
  let xi: Float64Array = im;
  let yr: Float64Array = new Float64Array(n);
  let yi: Float64Array = new Float64Array(n);
  const sg = inverse ? -1 : 1;
  for (const st of plan.stages!) {
    const { radix: r, m, s, tw } = st;
    const ar = new Float64Array(r);
    const ai = new Float64Array(r);
    for (let p = 0; p < m; p++) {
      for (let q = 0; q < s; q++) {
        for (let t = 0; t < r; t++) {
          ar[t] = xr[q + s * (p + t * m)]!;
          ai[t] = xi[q + s * (p + t * m)]!;
        }
        for (let u = 0; u < r; u++) {
          let br = 0;
          let bi = 0;
          for (let t = 0; t < r; t++) {
            const [c, d0] = unitRoot(t * u, r);
            const d = sg * d0;
            br += ar[t]! * c - ai[t]! * d;
            bi += ar[t]! * d + ai[t]! * c;
          }
          if (u > 0) {
            const c = tw[2 * (p * (r - 1) + u - 1)]!;
            const d = sg * tw[2 * (p * (r - 1) + u - 1) + 1]!;
            const t0 = br * c - bi * d;
            bi = br * d + bi * c;
            br = t0;
          }
          yr[q + s * (r * p + u)] = br;
          yi[q + s * (r * p + u)] = bi;
        }
      }
    }
    [xr, yr] = [yr, xr];
    [xi, yi] = [yi, xi];
  }
  if (xr !== re) {
    re.set(xr);
    im.set(xi);
  }
}
