import { arena } from '../core/arena.js';
import { platform } from '../core/platform.js';

/** Signatures of the kernels exported by dist/wasm/mpno.wasm (pointers are byte addresses in the arena). */
export interface KernelExports {
  convert(src: number, srcDt: number, dst: number, dstDt: number, n: number): void;
  gemm(
    a: number, aDt: number, rsA: number, csA: number,
    b: number, bDt: number, rsB: number, csB: number,
    c: number, cDt: number, ldc: number,
    m: number, n: number, k: number,
    alpha: number, beta: number, bias: number, biasDt: number, work: number,
    /** Fused activation after bias: 0 none, 1 gelu (erf), 2 gelu (tanh); d: where act′ at the values before it goes (0: nowhere). */
    act: number, d: number,
    /** A residual added before the activation and a factor multiplied after it, like C (0: none). */
    r: number, mm: number,
  ): void;
  gemmWorkBytes(m: number, n: number, k: number, cDt: number): number;
  gemmBatch(
    a: number, aDt: number, rsA: number, csA: number,
    b: number, bDt: number, rsB: number, csB: number,
    c: number, cDt: number, ldc: number,
    m: number, n: number, k: number,
    alpha: number, beta: number, bias: number, biasDt: number, work: number,
    /** As gemm's act and d; d advances by sc with C. sc = 0: the items are summed into one C (beta, bias with the first). */
    count: number, sa: number, sb: number, sc: number, act: number, d: number, r: number, mm: number,
  ): void;
  gemmReduce(
    parts: number, count: number, partStride: number,
    c: number, cDt: number, ldc: number, m: number, n: number,
    beta: number, bias: number, biasDt: number,
  ): void;
  /** out = a ∘ b; op: 0 add, 1 sub, 2 mul. */
  binary(op: number, a: number, aDt: number, b: number, bDt: number, out: number, outDt: number, n: number): void;
  /** out = f(x); op: 0 scale (p0·x), 1 tanh, 2 gelu erf, 3 gelu tanh, 4 clamp to [p0, p1]. */
  unary(op: number, x: number, xDt: number, out: number, outDt: number, n: number, p0: number, p1: number): void;
  /** dx = dy·f′; op: 1 tanh (x = forward output), 2 gelu erf, 3 gelu tanh, 4 clamp to [p0, p1]. */
  unaryBackward(
    op: number, x: number, xDt: number, dy: number, dyDt: number, dx: number, dxDt: number, n: number,
    p0: number, p1: number,
  ): void;
  /** out = gelu(x) and g = gelu′(x) in one pass; op: 2 erf form, 3 tanh form. */
  geluGrad(op: number, x: number, xDt: number, out: number, outDt: number, g: number, gDt: number, n: number): void;
  /** y += alpha·x. */
  axpy(alpha: number, x: number, xDt: number, y: number, yDt: number, n: number): void;
  /** op: 0 sum, 1 sum of squares, 2 max |x|, 3 count of non-finite elements. */
  reduce(op: number, x: number, xDt: number, n: number): number;
  /** out = x·scale[c] + shift[c] over rows [r0, r1) of [B·C, S] (scale / shift 0: none). */
  channelAffine(
    x: number, xDt: number, out: number, outDt: number, scale: number, scaleDt: number, shift: number, shiftDt: number,
    c: number, s: number, r0: number, r1: number,
  ): void;
  /** out[ch] = Σ_b Σ_s x·(y if y ≠ 0) for channels [c0, c1) of [B, C, S]. */
  channelSum(
    x: number, xDt: number, y: number, yDt: number, out: number, outDt: number,
    b: number, c: number, s: number, c0: number, c1: number,
  ): void;
  /** Workspace bytes of one cgemmRun task. */
  cgemmWorkBytes(m: number, k: number): number;
  /** Fused complex GEMM for batch items [b0, b1) of the descriptor at `desc` (see wasm/cgemm.ts). */
  cgemmRun(desc: number, b0: number, b1: number, work: number): void;
  /** Scratch bytes of one fftRun task: buffers of `rows` rows, staging of `stageRows` rows. */
  fftWorkBytes(rows: number, stageRows: number): number;
  /** Runs the FFT pass described at `desc` for lanes [laneStart, laneEnd) (see src/kernels/wasm/fft.ts). */
  fftRun(desc: number, laneStart: number, laneEnd: number, work: number): void;
  /** torch.optim.Adam on f32 elements [0, n) in f64 arithmetic (see wasm/optim.ts); g = 0: zero gradient. */
  adamStep(p: number, g: number, m: number, v: number, n: number, stepSize: number, bc2Sqrt: number, w: number, beta2: number, eps: number, wd: number): void;
  /** neuralop's AdamW on f32 elements [0, n) of a weight in 1 or 2 parts (v shared); g0/g1 = 0: zero gradient. */
  adamwStep(
    parts: number, p0: number, p1: number, g0: number, g1: number, m0: number, m1: number, v: number, n: number,
    alpha: number, beta1: number, beta2: number, eps: number, decay: number,
  ): void;
  /** The first e < n with idx[e] outside [0, rows), or −1 (see wasm/graph.ts). */
  graphCheckIndex(idx: number, n: number, rows: number): number;
  /** out[e, :] = x[idx[e], :] for edges [e0, e1), rows of rowBytes bytes. */
  gatherRows(x: number, idx: number, out: number, rowBytes: number, e0: number, e1: number): void;
  /** out[idx[k], c0:c1] += src[k, c0:c1] over all e edges; acc: f32 [rows, c] for 16-bit dtypes. */
  scatterAddRows(src: number, dt: number, idx: number, out: number, acc: number, rows: number, e: number, c: number, c0: number, c1: number): void;
  /** CSR segment sums (÷ the count if mean ≠ 0) for segments [q0, q1). */
  segmentSum(x: number, dt: number, rowPtr: number, out: number, c: number, mean: number, q0: number, q1: number): void;
  /** Radius search: the cell sort, the per-query counts, the neighbour lists (descriptor in wasm/graph.ts). */
  nbrBounds(p: number, n: number, out: number): number;
  nbrSort(desc: number): void;
  nbrCount(desc: number, q0: number, q1: number): number;
  nbrWorkBytes(most: number): number;
  nbrFill(desc: number, q0: number, q1: number, work: number, most: number): void;
}

export type KernelName = keyof KernelExports;

/** Every exported kernel, in a fixed order (workers call them by index). */
export const KERNEL_NAMES: readonly KernelName[] = [
  'convert', 'gemm', 'gemmWorkBytes', 'gemmBatch', 'gemmReduce', 'binary', 'unary', 'unaryBackward', 'geluGrad', 'axpy', 'reduce',
  'channelAffine', 'channelSum',
  'fftWorkBytes', 'fftRun', 'cgemmWorkBytes', 'cgemmRun', 'adamStep', 'adamwStep',
  'graphCheckIndex', 'gatherRows', 'scatterAddRows', 'segmentSum',
  'nbrBounds', 'nbrSort', 'nbrCount', 'nbrWorkBytes', 'nbrFill',
];

/** The kernel builds: 'relaxed-simd' adds relaxed-SIMD fused multiply-add (GEMM) to the plain 'simd' one. */
export type KernelVariant = 'simd' | 'relaxed-simd';

const builds: Record<KernelVariant, 'mpno' | 'mpno-relaxed'> = { 'simd': 'mpno', 'relaxed-simd': 'mpno-relaxed' };

function readLeb(b: Uint8Array, at: number): [value: number, next: number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const byte = b[at++];
    if (byte === undefined) throw new RangeError('wasm: truncated LEB128 number');
    v += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return [v, at];
  }
}

/**
 * A copy of a kernel build whose imported memory is declared unshared (limits flag 0x03 → 0x01), for
 * hosts that cannot share memory between threads (a page that is not cross-origin isolated). The
 * kernels use no atomic instructions on their own, so the code is the same; only the pool's threads
 * need the shared memory, and such a host runs one thread.
 */
export function unsharedMemoryBuild(bytes: Uint8Array): Uint8Array {
  const b = new Uint8Array(bytes); // a copy (a Buffer's slice() would be a view)
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) throw new RangeError('wasm: not a WebAssembly module');
  let at = 8;
  while (at < b.length) {
    const id = b[at]!;
    const [size, body] = readLeb(b, at + 1);
    if (id === 2) {
      let [count, p] = readLeb(b, body);
      for (; count > 0; count--) {
        for (let name = 0; name < 2; name++) {
          const [len, q] = readLeb(b, p);
          p = q + len;
        }
        const kind = b[p++]!;
        if (kind === 0) p = readLeb(b, p)[1];
        else if (kind === 1) {
          p++; // reference type
          const flag = b[p++]!;
          p = readLeb(b, p)[1];
          if (flag & 1) p = readLeb(b, p)[1];
        } else if (kind === 2) {
          const flag = b[p]!;
          if (flag === 0x03) b[p] = 0x01;
          p++;
          p = readLeb(b, p)[1];
          if (flag & 1) p = readLeb(b, p)[1];
        } else if (kind === 3) p += 2;
        else throw new RangeError(`wasm: import kind ${kind} is not known`);
      }
      return b;
    }
    at = body + size;
  }
  return b;
}

function read(variant: KernelVariant): Uint8Array<ArrayBuffer> {
  const bytes = platform.kernelBytes(builds[variant]);
  return (platform.sharedMemory() ? bytes : unsharedMemoryBuild(bytes)) as Uint8Array<ArrayBuffer>;
}

/**
 * The relaxed build where the engine accepts it: on by default in Node >= 22 and Chromium >= 114, behind
 * --experimental-wasm-relaxed-simd in Node 20, which is set here (before any compile) when validation
 * fails without it. MPNO_RELAXED_SIMD=0 selects the plain build.
 */
function chooseVariant(): { variant: KernelVariant; bytes: Uint8Array<ArrayBuffer> } {
  if (platform.env('MPNO_RELAXED_SIMD') !== '0') {
    const relaxed = read('relaxed-simd');
    if (WebAssembly.validate(relaxed)) return { variant: 'relaxed-simd', bytes: relaxed };
    // engines without the flag: the plain build
    platform.setEngineFlag('--experimental-wasm-relaxed-simd');
    if (WebAssembly.validate(relaxed)) return { variant: 'relaxed-simd', bytes: relaxed };
  }
  const plain = read('simd');
  if (!WebAssembly.validate(plain)) throw new Error(`mpno: this ${platform.name} cannot run mpno's kernels: it lacks WebAssembly SIMD (128-bit), which Node >= 16.4 and Chromium >= 91, Firefox >= 89, Safari >= 16.4 have`);
  return { variant: 'simd', bytes: plain };
}

const chosen = chooseVariant();

/** Which kernel build this process runs (shared with the worker threads). */
export const kernelVariant: KernelVariant = chosen.variant;

/** The compiled kernel module (shared with the worker threads). */
export const wasmModule = new WebAssembly.Module(chosen.bytes);

export function instantiate(memory: WebAssembly.Memory): KernelExports {
  const inst = new WebAssembly.Instance(wasmModule, { env: { memory } });
  const ex = inst.exports as unknown as Partial<KernelExports>;
  for (const name of KERNEL_NAMES) {
    if (typeof ex[name] !== 'function') throw new Error(`mpno: kernel '${name}' is missing from ${platform.kernelSource(builds[kernelVariant])}; rebuild with 'npm run build'`);
  }
  return ex as KernelExports;
}

/** The kernels instantiated on the main thread over the arena's memory. */
export const wasm: KernelExports = instantiate(arena.memory);
