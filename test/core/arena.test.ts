import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALIGN, Arena, ARENA_BASE, MAX_PAGES, PAGE } from '../../src/core/arena.js';
import { Rng } from '../../src/core/rng.js';

const rounded = (bytes: number): number => Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);

describe('Arena', () => {
  it('constants', () => {
    assert.equal(ALIGN, 64);
    assert.equal(PAGE, 65536);
    assert.equal(ARENA_BASE % ALIGN, 0);
    assert.ok(ARENA_BASE >= PAGE, 'the first page is reserved');
    assert.equal(MAX_PAGES * PAGE, 2 ** 32);
  });

  it('hands out 64-byte aligned blocks with rounded sizes above the reserved page', () => {
    const a = new Arena(4);
    assert.ok(a.buffer instanceof SharedArrayBuffer);
    assert.equal(a.capacityBytes, 4 * PAGE);
    assert.equal(a.usedBytes, 0);
    const sizes = [1, 63, 64, 65, 127, 128, 129, 1000, 0, 4096, 7];
    const ptrs: number[] = [];
    let used = 0;
    for (const b of sizes) {
      const p = a.alloc(b);
      assert.equal(p % ALIGN, 0, `alloc(${b}) = ${p} is not aligned`);
      assert.ok(p >= ARENA_BASE, `alloc(${b}) = ${p} is in the reserved page`);
      used += rounded(b);
      assert.equal(a.usedBytes, used, `usedBytes after alloc(${b})`);
      ptrs.push(p);
    }
    // fresh blocks are laid out one after the other, each taking its rounded size
    for (let i = 1; i < sizes.length; i++) assert.equal(ptrs[i], ptrs[i - 1]! + rounded(sizes[i - 1]!));
    assert.equal(ptrs[0], ARENA_BASE);
    assert.equal(new Set(ptrs).size, ptrs.length, 'alloc(0) must still give a distinct block');
    for (const p of ptrs) a.free(p);
    assert.equal(a.usedBytes, 0);
    assert.equal(a.alloc(10), ARENA_BASE, 'freeing everything gives the space back');
  });

  it('coalesces freed neighbours and reuses the merged block at the same address', () => {
    const a = new Arena(4);
    const x = a.alloc(100); // 128
    const y = a.alloc(64); // 64
    const z = a.alloc(200); // 256
    const guard = a.alloc(64); // keeps the blocks below from merging into the top
    assert.deepEqual([y - x, z - y, guard - z], [128, 64, 256]);
    // free the outer two, then the middle one: all three merge
    a.free(x);
    a.free(z);
    a.free(y);
    assert.equal(a.alloc(448), x, 'the merged block (128 + 64 + 256) starts at the first one');
    a.free(x);
    // merging with the block before only
    const p = a.alloc(128);
    const q = a.alloc(64);
    assert.deepEqual([p, q], [x, x + 128]);
    const r = a.alloc(256);
    assert.equal(r, x + 192);
    a.free(p);
    a.free(q);
    assert.equal(a.alloc(192), p, 'free(p), free(q): merged forward');
    a.free(p);
    a.free(r);
    assert.equal(a.alloc(448), p);
    a.free(p);
    // merging with the block after only
    const u = a.alloc(64);
    const v = a.alloc(64);
    const w = a.alloc(320);
    a.free(v);
    a.free(u);
    assert.equal(a.alloc(128), u, 'free(v), free(u): merged backward');
    a.free(u);
    a.free(w);
    a.free(guard);
    assert.equal(a.usedBytes, 0);
    assert.equal(a.alloc(64), ARENA_BASE);
  });

  it('reuses freed blocks (best fit) and splits larger ones', () => {
    const a = new Arena(4);
    const big = a.alloc(1024);
    const sep1 = a.alloc(64);
    const small = a.alloc(256);
    const sep2 = a.alloc(64);
    a.free(big);
    a.free(small);
    assert.equal(a.alloc(256), small, 'the exact-size hole is used');
    const part = a.alloc(200);
    assert.equal(part, big, 'the larger hole is split');
    const rest = a.alloc(768);
    assert.equal(rest, big + 256, 'the remainder of the split hole is reused');
    const top = a.alloc(64);
    assert.equal(top, sep2 + 64);
    for (const p of [sep1, sep2, small, part, rest, top]) a.free(p);
    assert.equal(a.usedBytes, 0);
  });

  it('grows beyond the initial size and keeps earlier typed-array views valid', () => {
    const a = new Arena(2); // one page above the reserved one
    const p = a.alloc(4096);
    const before = new Float64Array(a.buffer, p, 512);
    for (let i = 0; i < 512; i++) before[i] = i * 1.5 - 7;
    const cap0 = a.capacityBytes;
    assert.equal(cap0, 2 * PAGE);
    const q = a.alloc(5 * PAGE + 3); // forces growth
    assert.ok(a.capacityBytes >= q + rounded(5 * PAGE + 3), 'capacity covers the new block');
    assert.ok(a.capacityBytes > cap0);
    assert.equal(a.capacityBytes % PAGE, 0);
    // the old view still reads (and writes) the same memory
    for (let i = 0; i < 512; i++) assert.equal(before[i], i * 1.5 - 7);
    const after = new Float64Array(a.buffer, p, 512);
    for (let i = 0; i < 512; i++) assert.equal(after[i], i * 1.5 - 7);
    before[3] = 42;
    assert.equal(after[3], 42);
    // the new block is writable at its far end
    const tail = new Uint8Array(a.buffer, q + 5 * PAGE, 3);
    tail.set([1, 2, 3]);
    assert.deepEqual([...new Uint8Array(a.buffer, q + 5 * PAGE, 3)], [1, 2, 3]);
    // repeated growth
    const blocks: number[] = [];
    for (let i = 0; i < 20; i++) blocks.push(a.alloc(3 * PAGE));
    for (let i = 0; i < 512; i++) assert.equal(before[i], i === 3 ? 42 : i * 1.5 - 7);
    assert.ok(a.capacityBytes >= blocks[19]! + 3 * PAGE);
  });

  it('double free, freeing a non-block, and bad byte counts throw', () => {
    const a = new Arena(2);
    const p = a.alloc(128);
    a.free(p);
    assert.throws(() => a.free(p), (e: Error) => /arena\.free/.test(e.message) && e.message.includes(String(p)));
    const q = a.alloc(256);
    assert.throws(() => a.free(q + 64), /arena\.free/, 'inside a block');
    assert.throws(() => a.free(q + 256), /arena\.free/, 'past the block (the top)');
    assert.throws(() => a.free(0), /arena\.free/);
    assert.throws(() => a.free(-64), /arena\.free/);
    assert.throws(() => a.free(NaN), /arena\.free/);
    assert.equal(a.usedBytes, 256, 'failed frees change nothing');
    for (const bad of [-1, -64, 1.5, NaN, Infinity, -Infinity, '64' as unknown as number]) {
      assert.throws(() => a.alloc(bad), (e: Error) => e instanceof RangeError && /arena\.alloc/.test(e.message), `alloc(${String(bad)})`);
    }
    assert.throws(() => a.alloc(2 ** 32), (e: Error) => e instanceof RangeError && /out of memory/.test(e.message));
    assert.equal(a.usedBytes, 256, 'failed allocs change nothing');
    assert.equal(a.alloc(64), q + 256, 'the top did not move');
  });

  it('random sequences: aligned, inside the memory, no two live blocks overlap, contents intact', () => {
    const a = new Arena(2);
    const rng = new Rng(99);
    const live = new Map<number, { size: number; tag: number }>();
    const u8 = () => new Uint8Array(a.buffer);
    let used = 0;
    for (let step = 0; step < 6000; step++) {
      if (live.size > 0 && rng.random() < 0.47) {
        const keys = [...live.keys()];
        const p = keys[rng.int(keys.length)]!;
        const { size, tag } = live.get(p)!;
        // the block's contents were not touched by any other block
        const mem = u8();
        for (const off of [0, size >> 1, size - 1]) assert.equal(mem[p + off], tag, `block ${p} corrupted at +${off}`);
        a.free(p);
        live.delete(p);
        used -= rounded(size);
      } else {
        const bytes = rng.random() < 0.05 ? rng.int(200000) : rng.int(3000);
        const p = a.alloc(bytes);
        const size = rounded(bytes);
        assert.equal(p % ALIGN, 0);
        assert.ok(p >= ARENA_BASE);
        assert.ok(p + size <= a.capacityBytes, 'block inside the memory');
        for (const [q, b] of live) {
          assert.ok(p + size <= q || q + b.size <= p, `block [${p}, ${p + size}) overlaps [${q}, ${q + b.size})`);
        }
        const tag = (step % 251) + 1;
        new Uint8Array(a.buffer, p, size).fill(tag);
        live.set(p, { size, tag });
        used += size;
      }
      assert.equal(a.usedBytes, used);
    }
    for (const p of live.keys()) a.free(p);
    assert.equal(a.usedBytes, 0);
    assert.equal(a.alloc(1), ARENA_BASE, 'everything coalesced back');
  });
});
