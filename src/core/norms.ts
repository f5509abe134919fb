// Relative L2 differences of plain arrays (host-side measurements: probes of the precision schedule,
// the page's errors); tensors have LpLoss.

/**
 * ‖sa·a − sb·b‖₂ / ‖sb·b‖₂ over several arrays taken as one vector (sa, sb: scale factors of the
 * two sides; 0/0 = 0, x/0 = ∞).
 */
export function relativeDifference(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[], sa = 1, sb = 1): number {
  if (a.length !== b.length) throw new RangeError(`relativeDifference: ${a.length} arrays against ${b.length}`);
  let num = 0;
  let den = 0;
  a.forEach((x, i) => {
    const y = b[i]!;
    if (x.length !== y.length) throw new RangeError(`relativeDifference: array ${i} has ${x.length} values against ${y.length}`);
    for (let k = 0; k < x.length; k++) {
      const yb = sb * y[k]!;
      const d = sa * x[k]! - yb;
      num += d * d;
      den += yb * yb;
    }
  });
  return den === 0 ? (num === 0 ? 0 : Infinity) : Math.sqrt(num / den);
}

/** ‖a − b‖₂ / ‖b‖₂ (0/0 = 0, x/0 = ∞). */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return relativeDifference([a], [b]);
}
