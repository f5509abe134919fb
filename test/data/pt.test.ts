import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { f16round } from '@petamoriken/float16';
import { unzipSync } from 'fflate';
import { ledger } from '../../src/core/ledger.js';
import { parsePt, PtError, PtTensor, type PtValue, ptToTensor, readPt, type PtDict } from '../../src/data/formats/pt.js';
import { bytesOf, makePtZip, OP, PickleWriter } from './pt-builder.js';

const DATA_DIR = fileURLToPath(new URL('../../../../shared/data/neuralop/', import.meta.url));
const TRAIN = `${DATA_DIR}darcy_train_16.pt`;
const TEST = `${DATA_DIR}darcy_test_16.pt`;
const CAR = `${DATA_DIR}mini_car.pt`;

/** The raw bytes of one archive entry, read with fflate directly (not through the reader). */
function rawEntry(file: string, entry: string): Uint8Array {
  const e = unzipSync(readFileSync(file), { filter: (f) => f.name === entry })[entry];
  assert.ok(e !== undefined, `${file} has no entry ${entry}`);
  return e;
}

function asDict(v: PtValue): PtDict {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PtTensor) && !(v instanceof Uint8Array));
  return v as PtDict;
}

function asTensor(v: PtValue | undefined): PtTensor {
  assert.ok(v instanceof PtTensor, `expected a PtTensor, got ${String(v)}`);
  return v;
}

function stats(a: ArrayLike<number>): { sum: number; min: number; max: number } {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { sum, min, max };
}

function close(a: number, b: number, rel: number, msg: string): void {
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${msg}: ${a} vs ${b}`);
}

/** Runs a crafted archive through parsePt under the name 'crafted.pt'. */
function crafted(p: PickleWriter, storages: Record<string, Uint8Array> = {}, opts: Parameters<typeof makePtZip>[2] = {}): PtValue {
  return parsePt(makePtZip(p.build(), storages, opts), 'crafted.pt');
}

function throwsPt(fn: () => unknown, pattern: RegExp, file = 'crafted.pt'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PtError, `expected a PtError, got ${String(e)}`);
    assert.ok(e.message.includes(file), `message does not name ${file}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Element i of a strided view, by the div/mod formula (independent of the reader's odometer). */
function stridedExpected<T>(src: ArrayLike<T>, offset: number, shape: number[], stride: number[]): T[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    let rem = i;
    let p = offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      p += (rem % shape[d]!) * stride[d]!;
      rem = Math.floor(rem / shape[d]!);
    }
    out.push(src[p]!);
  }
  return out;
}

describe('readPt: neuralop darcy files', () => {
  for (const [file, n, ref] of [
    [TRAIN, 1000, { xSum: 127858, ySum: 98896.79700605004, yMin: -0.42788004875183105, yMax: 2.057187795639038, y357: 0.27838531136512756, yLast: 0.0011101223062723875, y00: [1.1645013728411868e-05, 0.0003886558988597244, 0.0006263647228479385, 0.0011351504363119602], x00: [1, 1, 1, 0, 0, 0, 0, 0] }],
    [TEST, 50, { xSum: 6298, ySum: 5100.886766330243, yMin: -0.11912135034799576, yMax: 1.9015082120895386, y357: 0.38576534390449524, yLast: 0.0005200441228225827, y00: [0.0001766146597219631, 0.004843875300139189, 0.006949490401893854, 0.008043034002184868], x00: [0, 0, 0, 0, 0, 0, 0, 0] }],
  ] as const) {
    it(`${file.split('/').pop()}: {x: bool, y: float32} [${n}, 16, 16] match the storages read with strides (1, ${n}, ${16 * n})`, () => {
      const v = asDict(readPt(file));
      assert.deepEqual(Object.keys(v), ['x', 'y']);
      const x = asTensor(v['x']);
      const y = asTensor(v['y']);
      assert.equal(x.dtype, 'bool');
      assert.equal(y.dtype, 'float32');
      assert.deepEqual(x.shape, [n, 16, 16]);
      assert.deepEqual(y.shape, [n, 16, 16]);
      assert.ok(x.data instanceof Uint8Array);
      assert.ok(y.data instanceof Float32Array);
      assert.equal(x.data.length, n * 256);
      assert.equal(y.data.length, n * 256);

      // Independent expectation: element [i, j, k] is storage[i + n*j + 16n*k].
      const xs = rawEntry(file, 'archive/data/0');
      const ys = new DataView(rawEntry(file, 'archive/data/1').buffer);
      const xe = new Uint8Array(n * 256);
      const ye = new Float32Array(n * 256);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < 16; j++) {
          for (let k = 0; k < 16; k++) {
            const p = i + n * j + 16 * n * k;
            xe[(i * 16 + j) * 16 + k] = xs[p]!;
            ye[(i * 16 + j) * 16 + k] = ys.getFloat32(4 * p, true);
          }
        }
      }
      assert.deepEqual(x.data, xe);
      assert.deepEqual(y.data, ye);

      // Against values computed separately with numpy (as_strided on the same storages).
      assert.ok(x.data.every((b) => b === 0 || b === 1), 'x is binary');
      const xst = stats(x.data as Uint8Array);
      assert.equal(xst.sum, ref.xSum);
      const yd = y.data as Float32Array;
      assert.ok(yd.every(Number.isFinite), 'y is finite');
      const yst = stats(yd);
      close(yst.sum, ref.ySum, 1e-12, 'sum of y');
      assert.equal(yst.min, ref.yMin);
      assert.equal(yst.max, ref.yMax);
      assert.ok(yst.min > -1 && yst.max < 3, 'plausible range');
      assert.equal(yd[(3 * 16 + 5) * 16 + 7], ref.y357);
      assert.equal(yd[((n - 1) * 16 + 15) * 16 + 0], ref.yLast);
      assert.deepEqual(Array.from(yd.subarray(0, 4)), ref.y00);
      assert.deepEqual(Array.from(x.data.subarray(0, 8) as Uint8Array), ref.x00);
    });
  }

  it('ptToTensor: x to 0/1 float32, y exactly to float32 and rounded once to float16', () => {
    const before = ledger.snapshot().live;
    const v = asDict(readPt(TEST));
    const x = asTensor(v['x']);
    const y = asTensor(v['y']);
    const tx = ptToTensor(x);
    const ty = ptToTensor(y, 'float32', 'data');
    const th = ptToTensor(y, 'float16');
    try {
      assert.equal(tx.dtype, 'float32');
      assert.deepEqual(tx.shape, [50, 16, 16]);
      assert.deepEqual(Array.from(tx.data), Array.from(x.data as Uint8Array));
      assert.equal(ty.role, 'data');
      assert.deepEqual(ty.data, y.data);
      const h = th.toFloat64();
      const yd = y.data as Float32Array;
      for (let i = 0; i < yd.length; i++) assert.equal(h[i], f16round(yd[i]!), `y[${i}]`);
    } finally {
      tx.release();
      ty.release();
      th.release();
    }
    assert.equal(ledger.snapshot().live, before);
  });
});

describe('readPt: mini_car.pt', () => {
  const KEYS = ['vertices', 'vertex_normals', 'triangle_normals', 'centroids', 'triangle_areas', 'distance', 'closest_points', 'normalized_triangle_areas', 'press', 'query_points'];
  const SHAPES = [[3586, 3], [3586, 3], [7168, 3], [7168, 3], [7168], [16, 16, 16, 1], [16, 16, 16, 3], [7168], [1, 3586], [16, 16, 16, 3]];
  // sum / min / max of some tensors, computed with numpy from the same storages
  const REF: Record<string, [number, number, number][]> = {
    vertices: [[4801.129250950427, 0, 1], [5018.599057141691, 0.0008464142447337508, 1], [4610.101793229354, 0, 1]],
    press: [[-147.72208212074474, -2.2046637535095215, 5.3783159255981445], [-152.35250505846238, -2.988431215286255, 5.347538471221924], [124.46840506145963, -2.6369216442108154, 5.459331512451172]],
    distance: [[1498.0997276579383, 9.999999974752427e-07, 0.8668313026428223], [1568.4289418493863, 0.003377851564437151, 0.8871281147003174], [1818.939596220851, 0.07003282755613327, 1]],
  };

  it('is a list of 3 dicts of float32 tensors, each equal to its storage; query_points is one shared tensor', () => {
    const v = readPt(CAR);
    assert.ok(Array.isArray(v));
    assert.equal(v.length, 3);
    for (let s = 0; s < 3; s++) {
      const d = asDict(v[s]!);
      assert.deepEqual(Object.keys(d), KEYS);
      KEYS.forEach((k, j) => {
        const t = asTensor(d[k]);
        assert.equal(t.dtype, 'float32', `${s}.${k}`);
        assert.deepEqual(t.shape, SHAPES[j], `${s}.${k}`);
        // storage keys: sample 0 uses 0..9; later samples 9 new ones each and the shared query_points
        const key = k === 'query_points' ? 9 : s === 0 ? j : 10 + 9 * (s - 1) + j;
        const raw = rawEntry(CAR, `mini_car/data/${key}`);
        const want = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
        assert.deepEqual(t.data, want, `${s}.${k} vs mini_car/data/${key}`);
      });
      for (const [k, refs] of Object.entries(REF)) {
        const st = stats(asTensor(d[k]).data as Float32Array);
        close(st.sum, refs[s]![0], 1e-12, `${s}.${k} sum`);
        assert.equal(st.min, refs[s]![1], `${s}.${k} min`);
        assert.equal(st.max, refs[s]![2], `${s}.${k} max`);
      }
    }
    const q0 = asDict(v[0]!)['query_points'];
    assert.equal(asDict(v[1]!)['query_points'], q0);
    assert.equal(asDict(v[2]!)['query_points'], q0);
    close(stats(asTensor(q0).data as Float32Array).sum, 6144.000022888184, 1e-12, 'query_points sum');
  });
});

describe('parsePt: crafted archives', () => {
  it('nested dicts, lists, tuples, scalars, bytes, memo references', () => {
    const w = new PickleWriter().proto(2).op(OP.EMPTY_DICT).put(0).mark();
    w.str('list').op(OP.EMPTY_LIST).put(1).mark();
    w.int(1).float(2.5).str('x').none().bool(true).bool(false).int(-5).int(70000).int(2 ** 40).int(2n ** 70n).int(-(2n ** 70n)).int(-1);
    w.int(1).int(2).int(3).op(OP.TUPLE3).op(OP.EMPTY_TUPLE).bytes([1, 2, 3]).op(OP.APPENDS);
    w.str('nested').op(OP.EMPTY_DICT).str('a').op(OP.EMPTY_LIST).int(7).op(OP.APPEND).op(OP.SETITEM);
    w.str('t').tensor('FloatStorage', '0', 4, 0, [2, 2], [2, 1]).put(5);
    w.str('t_again').get(5);
    w.str('int_keys').op(OP.EMPTY_DICT).int(0).str('zero').op(OP.SETITEM).int(12).str('twelve').op(OP.SETITEM);
    w.str('__proto__').str('not a prototype');
    w.str('list_again').get(1);
    w.op(OP.SETITEMS).stop();
    const v = asDict(crafted(w, { 0: bytesOf(new Float32Array([1, 2, 3, 4])) }));
    assert.deepEqual(Object.keys(v), ['list', 'nested', 't', 't_again', 'int_keys', '__proto__', 'list_again']);
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 'not a prototype');
    assert.deepEqual(v['list'], [1, 2.5, 'x', null, true, false, -5, 70000, 2 ** 40, 2n ** 70n, -(2n ** 70n), -1, [1, 2, 3], [], new Uint8Array([1, 2, 3])]);
    assert.deepEqual(v['nested'], { a: [7] });
    assert.deepEqual(v['int_keys'], { 0: 'zero', 12: 'twelve' });
    assert.equal(v['list_again'], v['list']);
    const t = asTensor(v['t']);
    assert.equal(v['t_again'], t);
    assert.deepEqual(t.shape, [2, 2]);
    assert.deepEqual(t.data, new Float32Array([1, 2, 3, 4]));
  });

  it('protocol 4 forms: FRAME, MEMOIZE, STACK_GLOBAL, NEWOBJ, BUILD, DICT/LIST/TUPLE, long memo, parameters, dtypes, torch.Size', () => {
    const w = new PickleWriter().proto(4).frame(1000);
    w.shortStr('collections').op(OP.MEMOIZE).shortStr('OrderedDict').op(OP.MEMOIZE).op(OP.STACK_GLOBAL).op(OP.MEMOIZE); // memo 0,1,2
    w.op(OP.EMPTY_TUPLE).op(OP.NEWOBJ).op(OP.MEMOIZE).mark(); // the state dict: memo 3
    // a parameter: _rebuild_parameter(_rebuild_tensor_v2(...), True, OrderedDict())
    w.shortStr('weight').op(OP.MEMOIZE); // memo 4
    w.shortStr('torch._utils').shortStr('_rebuild_parameter').op(OP.STACK_GLOBAL);
    w.shortStr('torch._utils').shortStr('_rebuild_tensor_v2').op(OP.STACK_GLOBAL);
    w.mark().mark().shortStr('storage').shortStr('torch').shortStr('DoubleStorage').op(OP.STACK_GLOBAL).shortStr('0').shortStr('cpu').int(6).op(OP.TUPLE).op(OP.BINPERSID);
    w.int(0).intTuple([3, 2]).intTuple([1, 3]).bool(false).get(2).op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.TUPLE).op(OP.REDUCE);
    w.bool(true).get(2).op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.TUPLE3).op(OP.REDUCE).put(300); // LONG_BINPUT
    w.shortStr('same').get(300); // LONG_BINGET
    w.shortStr('d').mark().str8('k').int(1).shortStr('j').int(2).op(OP.DICT);
    w.shortStr('l').mark().int(1).int(2).int(3).int(4).op(OP.LIST);
    w.shortStr('tu').mark().int(5).int(6).int(7).int(8).op(OP.TUPLE);
    w.shortStr('dtype').global('torch', 'float16');
    w.shortStr('size').global('torch', 'Size').int(4).int(5).op(OP.TUPLE2).op(OP.TUPLE1).op(OP.REDUCE);
    w.shortStr('blob').longBytes([9, 8, 7]);
    w.op(OP.SETITEMS);
    // state of the OrderedDict (its _metadata): dropped
    w.op(OP.EMPTY_DICT).shortStr('_metadata').get(2).op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.SETITEM).op(OP.BUILD).stop();
    const st = new Float64Array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    const v = asDict(crafted(w, { 0: bytesOf(st) }));
    assert.deepEqual(Object.keys(v), ['weight', 'same', 'd', 'l', 'tu', 'dtype', 'size', 'blob']);
    const t = asTensor(v['weight']);
    assert.equal(v['same'], t);
    assert.equal(t.dtype, 'float64');
    assert.equal(t.requiresGrad, true);
    assert.deepEqual(t.shape, [3, 2]);
    assert.deepEqual(Array.from(t.data as Float64Array), [0.5, 3.5, 1.5, 4.5, 2.5, 5.5]);
    assert.deepEqual(v['d'], { k: 1, j: 2 });
    assert.deepEqual(v['l'], [1, 2, 3, 4]);
    assert.deepEqual(v['tu'], [5, 6, 7, 8]);
    assert.equal(v['dtype'], 'torch.float16');
    assert.deepEqual(v['size'], [4, 5]);
    assert.deepEqual(v['blob'], new Uint8Array([9, 8, 7]));
  });

  it('every storage type, bit-exact (NaN payloads, -0, int64 extremes)', () => {
    const f64 = new Uint8Array(24);
    const dv = new DataView(f64.buffer);
    dv.setFloat64(0, -0, true);
    dv.setUint32(8, 0x00000001, true); // NaN with a payload (signalling pattern)
    dv.setUint32(12, 0x7ff00000, true);
    dv.setFloat64(16, 1e300, true);
    const cases: [string, string, Uint8Array, number, (t: PtTensor) => void][] = [
      ['DoubleStorage', 'float64', f64, 3, (t) => assert.deepEqual(bytesOf(t.data), f64)],
      ['FloatStorage', 'float32', bytesOf(new Float32Array([1.5, -0, Infinity])), 3, (t) => assert.deepEqual(Array.from(t.data as Float32Array), [1.5, -0, Infinity])],
      ['HalfStorage', 'float16', bytesOf(new Uint16Array([0x3c00, 0x7e01, 0xfc00, 0x8000, 0x0001])), 5, (t) => assert.deepEqual(t.data, new Uint16Array([0x3c00, 0x7e01, 0xfc00, 0x8000, 0x0001]))],
      ['BFloat16Storage', 'bfloat16', bytesOf(new Uint16Array([0x3f80, 0x7fc1, 0xff80, 0x8000])), 4, (t) => assert.deepEqual(t.data, new Uint16Array([0x3f80, 0x7fc1, 0xff80, 0x8000]))],
      ['LongStorage', 'int64', bytesOf(new BigInt64Array([0n, -1n, 2n ** 62n, -(2n ** 63n)])), 4, (t) => assert.deepEqual(t.data, new BigInt64Array([0n, -1n, 2n ** 62n, -(2n ** 63n)]))],
      ['IntStorage', 'int32', bytesOf(new Int32Array([-(2 ** 31), 7])), 2, (t) => assert.deepEqual(t.data, new Int32Array([-(2 ** 31), 7]))],
      ['ShortStorage', 'int16', bytesOf(new Int16Array([-32768, 3])), 2, (t) => assert.deepEqual(t.data, new Int16Array([-32768, 3]))],
      ['CharStorage', 'int8', bytesOf(new Int8Array([-128, 127])), 2, (t) => assert.deepEqual(t.data, new Int8Array([-128, 127]))],
      ['ByteStorage', 'uint8', new Uint8Array([255, 0, 9]), 3, (t) => assert.deepEqual(t.data, new Uint8Array([255, 0, 9]))],
      ['BoolStorage', 'bool', new Uint8Array([1, 0, 1]), 3, (t) => assert.deepEqual(t.data, new Uint8Array([1, 0, 1]))],
    ];
    for (const [storage, dtype, bytes, n, check] of cases) {
      const w = new PickleWriter().proto(2).tensor(storage, '0', n, 0, [n], [1]).stop();
      const t = asTensor(crafted(w, { 0: bytes }));
      assert.equal(t.dtype, dtype, storage);
      assert.deepEqual(t.shape, [n]);
      assert.equal(t.data.byteOffset % t.data.BYTES_PER_ELEMENT, 0);
      check(t);
    }
  });

  it('storage offsets, non-contiguous and zero strides, 0-d and empty tensors', () => {
    const src = Float32Array.from({ length: 24 }, (_, i) => i + 0.5);
    const views: [number, number[], number[]][] = [
      [2, [2, 3], [1, 2]], // transposed
      [1, [2, 3, 2], [12, 1, 3]],
      [0, [2, 3, 4], [1, 2, 6]], // darcy-style (1, n, 16n)
      [5, [3, 2], [0, 1]], // broadcast
      [10, [2, 2], [2, 1]], // contiguous at an offset
      [0, [1, 4], [99, 1]], // size-1 dim with any stride
      [23, [1], [1]], // last element
      [7, [], []], // 0-d
      [0, [0, 3], [3, 1]], // empty
      [30, [0], [1]], // empty: offset is not checked
    ];
    const w = new PickleWriter().proto(2).op(OP.EMPTY_LIST).mark();
    for (const [off, size, stride] of views) w.tensor('FloatStorage', '0', 24, off, size, stride);
    w.op(OP.APPENDS).stop();
    const v = crafted(w, { 0: bytesOf(src) });
    assert.ok(Array.isArray(v));
    views.forEach(([off, size, stride], i) => {
      const t = asTensor(v[i]);
      assert.deepEqual(t.shape, size, `view ${i}`);
      assert.deepEqual(Array.from(t.data as Float32Array), stridedExpected(src, off, size, stride), `view ${i}`);
    });
    assert.deepEqual(Array.from(asTensor(v[7]).data as Float32Array), [7.5]);
    assert.equal(asTensor(v[8]).size, 0);
    // the tensors do not share memory with each other
    (asTensor(v[0]).data as Float32Array)[0] = -1;
    assert.equal((asTensor(v[4]).data as Float32Array)[0], 10.5);

    // 8-, 2- and 1-byte elements through the strided path
    for (const [storage, arr] of [
      ['DoubleStorage', Float64Array.from({ length: 24 }, (_, i) => i * 1.25)],
      ['LongStorage', BigInt64Array.from({ length: 24 }, (_, i) => BigInt(i) * 3000000000n - 7n)],
      ['HalfStorage', Uint16Array.from({ length: 24 }, (_, i) => 0x3c00 + i)],
      ['BoolStorage', Uint8Array.from({ length: 24 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0)],
    ] as const) {
      const w2 = new PickleWriter().proto(2).tensor(storage, '0', 24, 1, [2, 3, 2], [12, 1, 3]).stop();
      const t = asTensor(crafted(w2, { 0: bytesOf(arr) }));
      assert.deepEqual(Array.from(t.data as ArrayLike<number | bigint>), stridedExpected<number | bigint>(arr as ArrayLike<number | bigint>, 1, [2, 3, 2], [12, 1, 3]), storage);
    }
  });

  it('tensors over one storage never share memory (also a parameter and the tensor it wraps)', () => {
    const w = new PickleWriter().proto(2).op(OP.EMPTY_LIST).mark();
    w.global('torch._utils', '_rebuild_parameter').tensor('FloatStorage', '0', 3, 0, [3], [1]).put(9).bool(true);
    w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.TUPLE3).op(OP.REDUCE);
    w.get(9).op(OP.APPENDS).stop();
    const v = crafted(w, { 0: bytesOf(new Float32Array([1, 2, 3])) });
    assert.ok(Array.isArray(v));
    const [p, t] = [asTensor(v[0]), asTensor(v[1])];
    assert.deepEqual([p.requiresGrad, t.requiresGrad], [true, false]);
    (p.data as Float32Array)[0] = 42;
    assert.deepEqual(Array.from(t.data as Float32Array), [1, 2, 3]);
  });

  it('ptToTensor: dtype conversion with one rounding, codes kept for the same 16-bit dtype', () => {
    const before = ledger.snapshot().live;
    const TIE16 = 1 + 2 ** -11 + 2 ** -30; // float16: once -> 1 + 2^-10 (through f32 -> 1)
    const TIEBF = 1 + 2 ** -8 + 2 ** -30; // bfloat16: once -> 1 + 2^-7 (through f32 -> 1)
    const f64 = new PtTensor('float64', [2], new Float64Array([TIE16, TIEBF]));
    const h = ptToTensor(f64, 'float16');
    const b = ptToTensor(f64, 'bfloat16');
    const half = new PtTensor('float16', [2, 2], new Uint16Array([0x3c01, 0x7e01, 0xfc00, 0x8000]));
    const hh = ptToTensor(half, 'float16');
    const hb = ptToTensor(half, 'bfloat16');
    const hf = ptToTensor(half);
    const bf = ptToTensor(new PtTensor('bfloat16', [1], new Uint16Array([0x7fc1])), 'bfloat16');
    const i64 = ptToTensor(new PtTensor('int64', [3], new BigInt64Array([-3n, 5n, 2n ** 40n])), 'float64');
    const i8 = ptToTensor(new PtTensor('int8', [2], new Int8Array([-128, 3])));
    const bo = ptToTensor(new PtTensor('bool', [3], new Uint8Array([1, 0, 2])), 'float16', 'data');
    const z = ptToTensor(new PtTensor('float32', [], new Float32Array([4.25])));
    try {
      assert.equal(h.toArray()[0], 1 + 2 ** -10);
      assert.equal(b.toArray()[1], 1 + 2 ** -7);
      assert.deepEqual(hh.data, new Uint16Array([0x3c01, 0x7e01, 0xfc00, 0x8000]));
      assert.deepEqual(hh.shape, [2, 2]);
      const hbv = hb.toArray();
      assert.equal(hbv[0], 1); // 1 + 2^-10 rounds to 1 in bfloat16
      assert.ok(Number.isNaN(hbv[1]));
      assert.deepEqual([hbv[2], Object.is(hbv[3], -0)], [-Infinity, true]);
      const hfv = hf.toArray();
      assert.equal(hf.dtype, 'float32');
      assert.deepEqual([hfv[0], Number.isNaN(hfv[1]), hfv[2]], [1 + 2 ** -10, true, -Infinity]);
      assert.deepEqual(bf.data, new Uint16Array([0x7fc1]));
      assert.deepEqual(i64.toArray(), [-3, 5, 2 ** 40]);
      assert.deepEqual(i8.toArray(), [-128, 3]);
      assert.deepEqual(bo.toArray(), [1, 0, 1]);
      assert.equal(bo.role, 'data');
      assert.deepEqual(z.shape, []);
      assert.equal(z.item(), 4.25);
    } finally {
      for (const t of [h, b, hh, hb, hf, bf, i64, i8, bo, z]) t.release();
    }
    assert.equal(ledger.snapshot().live, before);
  });
});

describe('parsePt: errors name the file and the problem', () => {
  const f32 = (n: number): Uint8Array => bytesOf(new Float32Array(n));
  const one = (storage = 'FloatStorage', key = '0', numel = 4, off = 0, size = [4], stride = [1]): PickleWriter =>
    new PickleWriter().proto(2).tensor(storage, key, numel, off, size, stride).stop();

  it('not a zip, legacy format, truncated archive', () => {
    let s = 12345;
    const random = Uint8Array.from({ length: 4096 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24));
    random[0] = 0x13;
    throwsPt(() => parsePt(random, 'random.bin'), /not a zip archive/, 'random.bin');
    throwsPt(() => parsePt(new Uint8Array(0), 'empty.pt'), /not a zip archive/, 'empty.pt');
    throwsPt(() => parsePt(new Uint8Array([0x80, 0x02, 0x8a, 0x0a]), 'old.pt'), /legacy/, 'old.pt');
    const real = readFileSync(TEST);
    for (const len of [real.length >> 1, real.length - 10, 30, 4]) {
      throwsPt(() => parsePt(real.subarray(0, len), 'cut.pt'), /truncated or corrupt/, 'cut.pt');
    }
    // a corrupted central directory size field: the entry would read past the end of the file
    const bad = new Uint8Array(real);
    const eocd = bad.length - 22;
    assert.equal(new DataView(bad.buffer).getUint32(eocd, true), 0x06054b50);
    const cd = new DataView(bad.buffer).getUint32(eocd + 16, true);
    new DataView(bad.buffer).setUint32(cd + 20, 10_000_000, true); // compressed size of entry 0
    new DataView(bad.buffer).setUint32(cd + 24, 10_000_000, true); // uncompressed size
    throwsPt(() => parsePt(bad, 'bad.pt'), /truncated or corrupt/, 'bad.pt');
  });

  it('missing data.pkl, missing storage entry, short storage entry', () => {
    throwsPt(() => parsePt(makePtZip(null, { 0: f32(4) }), 'nopkl.pt'), /missing data\.pkl/, 'nopkl.pt');
    throwsPt(() => crafted(one('FloatStorage', '7'), { 0: f32(4) }), /missing storage entry 'archive\/data\/7'/);
    throwsPt(() => crafted(one('FloatStorage', '0', 4), { 0: f32(2) }), /'archive\/data\/0' has 8 bytes, 16 expected/);
  });

  it('unsupported storage types and disallowed globals are refused before anything runs', () => {
    throwsPt(() => crafted(one('QInt8Storage'), { 0: f32(8) }), /unsupported storage type 'torch\.QInt8Storage'/);
    throwsPt(() => crafted(one('QInt8Storage'), { 0: f32(1) }), /unsupported storage type 'torch\.QInt8Storage'/);
    const sys = new PickleWriter().proto(2).global('os', 'system').str('echo pwned').op(OP.TUPLE1).op(OP.REDUCE).stop();
    throwsPt(() => crafted(sys), /global 'os\.system'.*not allowed/);
    const ev = new PickleWriter().proto(4).shortStr('builtins').shortStr('eval').op(OP.STACK_GLOBAL).shortStr('1').op(OP.TUPLE1).op(OP.REDUCE).stop();
    throwsPt(() => crafted(ev), /global 'builtins\.eval'/);
    const np = new PickleWriter().proto(2).global('torch._utils', '_rebuild_device_tensor_from_numpy').stop();
    throwsPt(() => crafted(np), /global 'torch\._utils\._rebuild_device_tensor_from_numpy'/);
    // allowed globals cannot be used as something else
    const st = new PickleWriter().proto(2).global('torch', 'FloatStorage').op(OP.EMPTY_TUPLE).op(OP.REDUCE).stop();
    throwsPt(() => crafted(st), /cannot be called/);
  });

  it('unsupported opcodes, truncated and malformed pickles', () => {
    throwsPt(() => crafted(new PickleWriter().proto(2).raw(0x53, ...new TextEncoder().encode("'a'\n")).stop()), /unsupported pickle opcode 0x53 'S' \(STRING\)/);
    throwsPt(() => crafted(new PickleWriter().proto(2).raw(0xff).stop()), /unsupported pickle opcode 0xff/);
    throwsPt(() => crafted(new PickleWriter().proto(2).op(OP.EMPTY_DICT)), /pickle is truncated/);
    throwsPt(() => crafted(new PickleWriter().proto(2).raw(OP.BINUNICODE, 100, 0, 0, 0, 0x41)), /pickle is truncated/);
    throwsPt(() => crafted(new PickleWriter().proto(2).op(OP.TUPLE2).stop()), /stack underflow/);
    throwsPt(() => crafted(new PickleWriter().proto(2).get(3).stop()), /memo entry 3/);
    throwsPt(() => crafted(new PickleWriter().proto(2).op(OP.EMPTY_LIST).str('k').int(1).op(OP.SETITEM).stop()), /SETITEM/);
    throwsPt(() => crafted(new PickleWriter().proto(9).none().stop()), /protocol 9/);
  });

  it('storage too small for size, stride and offset', () => {
    throwsPt(() => crafted(one('FloatStorage', '0', 4, 0, [2, 3], [3, 1]), { 0: f32(4) }), /too small.*size \[2, 3\], stride \[3, 1\], offset 0: needs 6 float32 elements, has 4/);
    throwsPt(() => crafted(one('FloatStorage', '0', 4, 3, [2], [1]), { 0: f32(4) }), /too small.*offset 3/);
    throwsPt(() => crafted(one('FloatStorage', '0', 4, 0, [2, 2], [1, 3]), { 0: f32(4) }), /too small/);
    throwsPt(() => crafted(one('FloatStorage', '0', 4, 4, [], []), { 0: f32(4) }), /too small/);
    // exactly fitting is fine
    assert.deepEqual(asTensor(crafted(one('FloatStorage', '0', 4, 0, [2, 2], [1, 2]), { 0: f32(4) })).shape, [2, 2]);
  });

  it('big-endian archives are refused', () => {
    throwsPt(() => crafted(one(), { 0: f32(4) }, { byteorder: 'big' }), /big-endian/);
    throwsPt(() => crafted(one(), { 0: f32(4) }, { byteorder: 'middle' }), /unknown byteorder/);
    // without a byteorder entry (older files), little-endian is assumed
    assert.equal(asTensor(crafted(one(), { 0: f32(4) }, { byteorder: null, version: null, prefix: 'model' })).size, 4);
  });
});

describe('complex storages and allow-listed references (neuralop checkpoints)', () => {
  const FIX = fileURLToPath(new URL('../../../test/fixtures/neuralop/', import.meta.url));
  const PARITY = fileURLToPath(new URL('../../../test/fixtures/parity/darcy_trained.safetensors', import.meta.url));

  it('a complex64 parameter reads as float32 with a trailing (re, im) axis, bit for bit', async () => {
    const { readSafetensors } = await import('../../src/data/formats/safetensors.js');
    const sd = readPt(`${FIX}darcy_plain.pt`) as PtDict;
    const w = sd['fno_blocks.convs.1.weight.tensor'] as PtTensor;
    assert.ok(w.complex);
    assert.equal(w.dtype, 'float32');
    assert.deepEqual(w.shape, [8, 8, 6, 4, 2]);
    const ref = readSafetensors(PARITY).tensors;
    assert.deepEqual(Array.from(w.data as Float32Array), Array.from(ref['state/fno_blocks.convs.1.weight.tensor']!.data as Float32Array));
    for (const t of Object.values(ref)) t.release();
  });

  it('a function in the pickle is refused unless allow-listed, and then comes back as a name', async () => {
    const { PtRef } = await import('../../src/data/formats/pt.js');
    assert.throws(() => readPt(`${FIX}darcy_metadata.pkl`), /global 'torch\._C\._nn\.gelu', which is not allowed/);
    const m = readPt(`${FIX}darcy_metadata.pkl`, { allowRefs: new Set(['torch._C._nn.gelu', 'neuralop.layers.spectral_convolution.SpectralConv']) }) as PtDict;
    assert.ok(m['non_linearity'] instanceof PtRef);
    assert.equal((m['non_linearity'] as InstanceType<typeof PtRef>).qualified, 'torch._C._nn.gelu');
    // an allow-listed name is still never called
    assert.throws(() => readPt(`${FIX}evil_metadata.pkl`, { allowRefs: new Set(['posix.system']) }), /REDUCE of posix\.system \(a name only\), which is not callable/);
  });
});
