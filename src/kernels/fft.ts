import { roundBf16, roundF16 } from '../core/codecs.js';
import { Tensor } from '../core/tensor.js';
import { dtCode } from './dtcode.js';
import { type FftPass, checkFftPass } from './fft-pass.js';
import { type Plan, makePlan } from './fft-plan.js';
import { wasm } from './module.js';
import { pool, splitRange } from './pool.js';

type Emulate = FftPass['emulate'];

/**
 * Plans uploaded to the arena, cached per (length, emulated type) for the life of the process.
 * Twiddles are rounded once from float64 to f32, or to the emulated half type (a half FFT holds its
 * twiddles in half).
 */
const uploaded = new Map<string, { ptr: number; rows: number; keep: Tensor[] }>();

function f32Table(values: Float64Array, keep: Tensor[], emulate: Emulate): number {
  const r = emulate === 'float16' ? values.map(roundF16) : emulate === 'bfloat16' ? values.map(roundBf16) : values;
  const t = Tensor.fromArray(r, [r.length], 'float32', 'workspace');
  keep.push(t);
  return t.ptr;
}

/** Writes a plan struct: [0, nstages, (radix, m, s, twPtr)…] or Bluestein [1, M, subPlan, chirp, filter, n]. */
function upload(plan: Plan, emulate: Emulate): { ptr: number; rows: number; keep: Tensor[] } {
  const key = `${plan.n}:${emulate ?? 'float32'}`;
  const hit = uploaded.get(key);
  if (hit) return hit;
  const keep: Tensor[] = [];
  let ptr: number;
  let rows: number;
  if (plan.stages) {
    const st = Tensor.empty([2 + 4 * plan.stages.length], 'float32', 'workspace');
    keep.push(st);
    const i32 = new Int32Array(st.data.buffer, st.ptr, st.size);
    i32[0] = 0;
    i32[1] = plan.stages.length;
    plan.stages.forEach((s, k) => {
      i32.set([s.radix, s.m, s.s, f32Table(s.tw, keep, emulate)], 2 + 4 * k);
    });
    ptr = st.ptr;
    rows = plan.n;
  } else {
    const b = plan.bluestein!;
    const sub = upload(b.sub, emulate);
    const st = Tensor.empty([6], 'float32', 'workspace');
    keep.push(st);
    new Int32Array(st.data.buffer, st.ptr, 6).set([1, b.m, sub.ptr, f32Table(b.chirp, keep, emulate), f32Table(b.filter, keep, emulate), plan.n]);
    ptr = st.ptr;
    rows = b.m;
  }
  const u = { ptr, rows, keep };
  uploaded.set(key, u);
  return u;
}

const GROUP = 16;
/** Signals per thread below which a pass stays on one thread. */
const PARALLEL_WORK = 1 << 16;

/** Runs an FFT pass on the wasm engine (f32 compute; f32/f16/bf16 tensors), split across threads. */
export function fftPass(p: FftPass): void {
  checkFftPass(p);
  const lanes = p.lanes1 * p.lanes2;
  if (lanes === 0 || p.dst.rows.length === 0) return;
  const sdt = dtCode(p.src.re.dtype, 'fft');
  const ddt = dtCode(p.dst.re.dtype, 'fft');
  const u = upload(makePlan(p.n), p.emulate);
  const ssize = p.src.re.dtype === 'float32' ? 4 : 2;
  const dsize = p.dst.re.dtype === 'float32' ? 4 : 2;
  const maps = Tensor.empty([p.src.rows.length + p.dst.rows.length + 26], 'float32', 'workspace');
  try {
    const i32 = new Int32Array(maps.data.buffer, maps.ptr, maps.size);
    const f32 = new Float32Array(maps.data.buffer, maps.ptr, maps.size);
    // identity row maps are passed as 0: the kernel then uses row i for position i without a lookup
    const identity = (r: Int32Array) => r.every((v, i) => v === i);
    const inMap0 = maps.ptr + 26 * 4;
    const outMap0 = inMap0 + p.src.rows.length * 4;
    const inMap = identity(p.src.rows) ? 0 : inMap0;
    const outMap = identity(p.dst.rows) ? 0 : outMap0;
    i32.set(p.src.rows, 26);
    i32.set(p.dst.rows, 26 + p.src.rows.length);
    i32.set([
      p.kind === 'c2c' ? 0 : p.kind === 'r2c' ? 1 : 2, p.inverse ? 1 : 0, p.n, u.ptr,
      p.src.re.ptr + p.src.offset * ssize, p.src.im ? p.src.im.ptr + p.src.offset * ssize : 0, sdt,
      p.src.rowStride, p.src.laneStride1, p.src.laneStride2, p.src.rows.length, inMap,
      p.dst.re.ptr + p.dst.offset * dsize, p.dst.im ? p.dst.im.ptr + p.dst.offset * dsize : 0, ddt,
      p.dst.rowStride, p.dst.laneStride1, p.dst.laneStride2, p.dst.rows.length, outMap,
      p.lanes1, p.lanes2, p.emulate === 'float16' ? 1 : p.emulate === 'bfloat16' ? 2 : 0, 0, u.rows,
    ]);
    f32[23] = p.scale;
    const per = p.kind === 'c2c' || p.emulate ? GROUP : 2 * GROUP; // as the kernel's group size
    const work = lanes * (p.n + u.rows);
    const parts = Math.max(1, Math.min(pool.threads, Math.floor(work / PARALLEL_WORK)));
    const ranges = splitRange(lanes, parts, per);
    const wb = Math.ceil(wasm.fftWorkBytes(u.rows, Math.max(p.src.rows.length, p.dst.rows.length)) / 64) * 64;
    const ws = Tensor.empty([(wb * ranges.length) / 4], 'float32', 'workspace');
    try {
      pool.run('fftRun', ranges.map(([a, b], t) => [maps.ptr, a, b, ws.ptr + t * wb]));
    } finally {
      ws.release();
    }
  } finally {
    maps.release();
  }
}
