// Bulk dtype conversion: n elements from src (dtype s) to dst (dtype d); all converts go through f32.
import { load4, store4, load1, store1 } from "./common";

export function convert(src: usize, s: i32, dst: usize, d: i32, n: i32): void {
  let i: i32 = 0;
  const n4 = n & ~3;
  for (; i < n4; i += 4) store4(dst, <usize>i, d, load4(src, <usize>i, s));
  for (; i < n; i++) store1(dst, <usize>i, d, load1(src, <usize>i, s));
}

