// Bulk dtype conversion: n elements from src (dtype s) to dst (dtype d); all converts go through f32.
// Each of the 9 dtype pairs runs its own loop (constant dtypes: no per-element branches), 8 elements
// per iteration.
import { DT_BF16, DT_F16, DT_F32, load1, load4, store1, store4, store8 } from "./common";

@inline function convertBody(src: usize, s: i32, dst: usize, d: i32, n: i32): void {
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) store8(dst, <usize>i, d, load4(src, <usize>i, s), load4(src, <usize>(i + 4), s));
  for (; i + 4 <= n; i += 4) store4(dst, <usize>i, d, load4(src, <usize>i, s));
  for (; i < n; i++) store1(dst, <usize>i, d, load1(src, <usize>i, s));
}

@inline function convertTo(src: usize, s: i32, dst: usize, d: i32, n: i32): void {
  if (d == DT_F32) convertBody(src, s, dst, DT_F32, n);
  else if (d == DT_F16) convertBody(src, s, dst, DT_F16, n);
  else convertBody(src, s, dst, DT_BF16, n);
}

export function convert(src: usize, s: i32, dst: usize, d: i32, n: i32): void {
  if (s == DT_F32) convertTo(src, DT_F32, dst, d, n);
  else if (s == DT_F16) convertTo(src, DT_F16, dst, d, n);
  else convertTo(src, DT_BF16, dst, d, n);
}
