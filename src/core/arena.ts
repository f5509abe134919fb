/**
 * The arena: one shared WebAssembly.Memory that holds every tensor's data, so that wasm kernels on all
 * threads read and write tensors in place. A first-fit/best-fit allocator with coalescing hands out
 * 64-byte aligned blocks whose sizes are rounded up to 64 bytes (so a kernel may read a whole SIMD
 * vector past the last element without leaving the block).
 *
 * Shared memories never detach their buffer on grow, so typed-array views stay valid. Where memory
 * cannot be shared (a page that is not cross-origin isolated: one thread), growing detaches the old
 * buffer, and views are made again (Tensor.data does).
 */
import { platform } from './platform.js';

export const PAGE = 65536;
export const ALIGN = 64;
/** The first page is left to the wasm module (static data, null pointer) and the thread pool's control blocks. */
export const ARENA_BASE = PAGE;
export const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit

export class Arena {
  readonly memory: WebAssembly.Memory;
  /** Whether the memory is shared between threads (unshared on a page that is not cross-origin isolated). */
  readonly shared: boolean;
  private top = ARENA_BASE;
  private readonly freeByStart = new Map<number, number>();
  private readonly freeByEnd = new Map<number, number>();
  private readonly sizes = new Map<number, number>();

  constructor(initialPages = 256) {
    this.shared = platform.sharedMemory();
    this.memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: this.shared });
  }

  /** The memory's bytes; an unshared memory's buffer is replaced when it grows (see Tensor.data). */
  get buffer(): SharedArrayBuffer {
    return this.memory.buffer as unknown as SharedArrayBuffer;
  }

  /** Bytes currently handed out (rounded sizes). */
  get usedBytes(): number {
    let s = 0;
    for (const v of this.sizes.values()) s += v;
    return s;
  }

  /** Bytes of wasm memory reserved so far. */
  get capacityBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Allocates `bytes` (> 0) and returns the block's address. Contents are not cleared. */
  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`arena.alloc: invalid byte count ${bytes}`);
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let best = -1;
    let bestSize = Infinity;
    for (const [start, s] of this.freeByStart) {
      if (s >= size && s < bestSize) {
        best = start;
        bestSize = s;
        if (s === size) break;
      }
    }
    let ptr: number;
    if (best >= 0) {
      this.removeFree(best, bestSize);
      if (bestSize > size) this.addFree(best + size, bestSize - size);
      ptr = best;
    } else {
      ptr = this.top;
      this.ensure(ptr + size);
      this.top = ptr + size;
    }
    this.sizes.set(ptr, size);
    return ptr;
  }

  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`arena.free: ${ptr} is not a live block (double free?)`);
    this.sizes.delete(ptr);
    let start = ptr;
    let end = ptr + size;
    const before = this.freeByEnd.get(start);
    if (before !== undefined) {
      this.removeFree(before, start - before);
      start = before;
    }
    const afterSize = this.freeByStart.get(end);
    if (afterSize !== undefined) {
      this.removeFree(end, afterSize);
      end += afterSize;
    }
    if (end === this.top) this.top = start;
    else this.addFree(start, end - start);
  }

  private addFree(start: number, size: number): void {
    this.freeByStart.set(start, size);
    this.freeByEnd.set(start + size, start);
  }

  private removeFree(start: number, size: number): void {
    this.freeByStart.delete(start);
    this.freeByEnd.delete(start + size);
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const need = Math.ceil((end - have) / PAGE);
    const grow = Math.max(need, Math.min(Math.ceil(have / PAGE / 2), 16384)); // grow by >= 50% (<= 1 GiB)
    const pages = have / PAGE;
    const target = Math.min(MAX_PAGES, pages + grow);
    if (pages + need > MAX_PAGES) {
      throw new RangeError(`arena: out of memory (need ${end} bytes, the wasm32 limit is ${MAX_PAGES * PAGE})`);
    }
    this.memory.grow(target - pages);
  }
}

/** The process-wide arena. */
export const arena = new Arena();
