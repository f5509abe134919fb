import type { Tensor } from '../../core/tensor.js';
import { checkPermute } from '../check.js';

/**
 * Reference permute: for every dst element, its multi-index, the src element it comes from, one
 * element copied (raw storage values: 16-bit codes stay codes). The oracle of the CPU permute.
 */
export function refPermute(src: Tensor, perm: readonly number[], dst: Tensor): void {
  checkPermute('permute', src, perm, dst);
  const nd = src.ndim;
  const srcStrides = new Array<number>(nd).fill(1);
  for (let a = nd - 2; a >= 0; a--) srcStrides[a] = srcStrides[a + 1]! * src.shape[a + 1]!;
  const s = src.data;
  const d = dst.data;
  const idx = new Array<number>(nd).fill(0);
  for (let o = 0; o < dst.size; o++) {
    let rem = o;
    for (let a = nd - 1; a >= 0; a--) {
      idx[a] = rem % dst.shape[a]!;
      rem = Math.floor(rem / dst.shape[a]!);
    }
    let off = 0;
    for (let a = 0; a < nd; a++) off += idx[a]! * srcStrides[perm[a]!]!;
    d[o] = s[off]!;
  }
}
