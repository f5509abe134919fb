/** Direct O(N²) n-D DFT in float64: the oracle of the FFT tests. */
export interface CArr {
  re: Float64Array;
  im: Float64Array;
}

/**
 * DFT over the last d axes of a [R, ...sizes] array (flat, row-major), sign −1 forward / +1 inverse,
 * unnormalised. Angles are reduced exactly (integer index products mod n) before cos/sin.
 */
export function dftn(x: CArr, R: number, sizes: number[], inverse: boolean): CArr {
  const N = sizes.reduce((a, b) => a * b, 1);
  const d = sizes.length;
  const re = new Float64Array(R * N);
  const im = new Float64Array(R * N);
  const idx = (flat: number): number[] => {
    const out = new Array<number>(d);
    for (let a = d - 1; a >= 0; a--) {
      out[a] = flat % sizes[a]!;
      flat = Math.floor(flat / sizes[a]!);
    }
    return out;
  };
  const coords = Array.from({ length: N }, (_, i) => idx(i));
  const sg = inverse ? 1 : -1;
  for (let k = 0; k < N; k++) {
    const kc = coords[k]!;
    for (let j = 0; j < N; j++) {
      const jc = coords[j]!;
      let phase = 0;
      for (let a = 0; a < d; a++) phase += ((kc[a]! * jc[a]!) % sizes[a]!) / sizes[a]!;
      const ang = sg * 2 * Math.PI * (phase % 1);
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      for (let r = 0; r < R; r++) {
        const xr = x.re[r * N + j]!;
        const xi = x.im[r * N + j]!;
        re[r * N + k] += xr * c - xi * s;
        im[r * N + k] += xr * s + xi * c;
      }
    }
  }
  return { re, im };
}
