import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DType } from '../../src/core/dtype.js';
import { ledger } from '../../src/core/ledger.js';
import { Tensor } from '../../src/core/tensor.js';
import {
  decodeSafetensors, encodeSafetensors, readSafetensors, SafetensorsError, writeSafetensors,
} from '../../src/data/formats/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'mpno-safetensors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const enc = new TextEncoder();

function rawBytes(t: Tensor): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, t.nbytes).slice();
}

/** A tensor whose bytes are given directly (NaN payloads and all). */
function fromBytes(shape: number[], dtype: DType, bytes: Uint8Array): Tensor {
  const t = Tensor.empty(shape, dtype);
  const d = t.data;
  new Uint8Array(d.buffer, d.byteOffset, t.nbytes).set(bytes);
  return t;
}

function le64(n: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return [...b];
}

/** A safetensors file from a header object/string and data bytes (padded the way the spec asks). */
function fileOf(header: unknown, data: number[] | Uint8Array = [], pad = true): Uint8Array {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) json += ' '.repeat((8 - (enc.encode(json).length % 8)) % 8);
  const h = enc.encode(json);
  return Uint8Array.from([...le64(h.length), ...h, ...data]);
}

function releaseAll(ts: Record<string, Tensor>): void {
  for (const t of Object.values(ts)) t.release();
}

function throwsSt(fn: () => unknown, pattern: RegExp, file = 'bad.safetensors'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected a SafetensorsError, got ${String(e)}`);
    assert.ok(e.message.includes(file), `message does not name ${file}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('safetensors: round trips', () => {
  it('every dtype bit-exact through a file (NaN payloads, ±Inf, -0, subnormals), with metadata and role', () => {
    const before = ledger.snapshot().live;
    const f64 = new Uint8Array(32);
    const dv = new DataView(f64.buffer);
    dv.setFloat64(0, -0, true);
    dv.setUint32(8, 0x12345, true); // NaN with payload
    dv.setUint32(12, 0xfff80000, true);
    dv.setFloat64(16, 5e-324, true);
    dv.setFloat64(24, -Infinity, true);
    const f32 = new Uint8Array(new Uint32Array([0x7fa00001, 0x80000000, 0x00000001, 0x3f800000, 0xff800000, 0x7f7fffff]).buffer);
    const f16 = new Uint8Array(new Uint16Array([0x7e01, 0xfc00, 0x7c00, 0x8000, 0x0001, 0xfbff, 0x3c00, 0x7d55]).buffer);
    const bf = new Uint8Array(new Uint16Array([0x7fc1, 0xff80, 0x7f80, 0x8000, 0x0001, 0x3f80, 0xff81, 0x4049]).buffer);
    const ts: Record<string, Tensor> = {
      d: fromBytes([2, 2], 'float64', f64),
      f: fromBytes([3, 2], 'float32', f32),
      h: fromBytes([2, 2, 2], 'float16', f16),
      b: fromBytes([8], 'bfloat16', bf),
    };
    const path = join(dir, 'all.safetensors');
    writeSafetensors(path, ts, { format: 'pt', 'ünïcødé': 'välue "quoted"\n', empty: '' });
    const got = readSafetensors(path, { role: 'parameter' });
    try {
      assert.deepEqual(Object.keys(got.tensors), ['d', 'f', 'h', 'b']);
      assert.deepEqual(got.metadata, { format: 'pt', 'ünïcødé': 'välue "quoted"\n', empty: '' });
      for (const [k, t] of Object.entries(ts)) {
        const r = got.tensors[k]!;
        assert.equal(r.dtype, t.dtype, k);
        assert.deepEqual(r.shape, t.shape, k);
        assert.equal(r.role, 'parameter');
        assert.deepEqual(rawBytes(r), rawBytes(t), k);
      }
      // the in-memory pair gives the same bytes as the file
      const bytes = encodeSafetensors(ts, { format: 'pt', 'ünïcødé': 'välue "quoted"\n', empty: '' });
      assert.deepEqual(bytes, new Uint8Array(readFileSync(path)));
      const again = decodeSafetensors(bytes, 'mem');
      assert.deepEqual(rawBytes(again.tensors['h']!), f16);
      assert.equal(again.tensors['h']!.role, 'other');
      releaseAll(again.tensors);
    } finally {
      releaseAll(got.tensors);
      releaseAll(ts);
    }
    assert.equal(ledger.snapshot().live, before);
  });

  it('empty tensors and 0-d shapes; no metadata gives {} and no __metadata__ key', () => {
    const ts: Record<string, Tensor> = {
      e: Tensor.empty([0], 'float32'),
      e2: Tensor.empty([2, 0, 3], 'float16'),
      s: Tensor.fromArray([3.5], [], 'float64'),
      s16: Tensor.fromArray([-2], [], 'bfloat16'),
    };
    const bytes = encodeSafetensors(ts);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
    assert.deepEqual(header, {
      e: { dtype: 'F32', shape: [0], data_offsets: [0, 0] },
      e2: { dtype: 'F16', shape: [2, 0, 3], data_offsets: [0, 0] },
      s: { dtype: 'F64', shape: [], data_offsets: [0, 8] },
      s16: { dtype: 'BF16', shape: [], data_offsets: [8, 10] },
    });
    const got = decodeSafetensors(bytes, 'mem');
    try {
      assert.deepEqual(got.metadata, {});
      assert.deepEqual(got.tensors['e']!.shape, [0]);
      assert.deepEqual(got.tensors['e2']!.shape, [2, 0, 3]);
      assert.equal(got.tensors['e2']!.size, 0);
      assert.deepEqual(got.tensors['s']!.shape, []);
      assert.equal(got.tensors['s']!.item(), 3.5);
      assert.equal(got.tensors['s16']!.item(), -2);
    } finally {
      releaseAll(got.tensors);
      releaseAll(ts);
    }
    // nothing at all
    const none = encodeSafetensors({});
    assert.deepEqual([...none], [...le64(8), ...enc.encode('{}      ')]);
    assert.deepEqual(decodeSafetensors(none, 'mem'), { tensors: {}, metadata: {} });
  });

  it('layout follows insertion order; a header listed in another order than the data reads right', () => {
    const ts: Record<string, Tensor> = {
      zeta: Tensor.fromArray([1, 2], [2], 'float32'),
      alpha: Tensor.fromArray([3], [1], 'float64'),
      mid: Tensor.fromArray([4, 5, 6], [3], 'float16'),
    };
    const bytes = encodeSafetensors(ts);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.ok(text.indexOf('"zeta"') < text.indexOf('"alpha"') && text.indexOf('"alpha"') < text.indexOf('"mid"'), text);
    const header = JSON.parse(text) as Record<string, { data_offsets: number[] }>;
    assert.deepEqual(header['zeta']!.data_offsets, [0, 8]);
    assert.deepEqual(header['alpha']!.data_offsets, [8, 16]);
    assert.deepEqual(header['mid']!.data_offsets, [16, 22]);
    assert.equal(bytes.length, 8 + n + 22);
    const got = decodeSafetensors(bytes, 'mem');
    assert.deepEqual(Object.keys(got.tensors), ['zeta', 'alpha', 'mid']);
    assert.deepEqual(got.tensors['mid']!.toArray(), [4, 5, 6]);
    releaseAll(got.tensors);
    releaseAll(ts);

    // header sorted by name while the data holds b then a (as other writers may do)
    const data = [...new Uint8Array(new Float32Array([7, 8]).buffer), ...new Uint8Array(new Float32Array([9]).buffer)];
    const sorted = fileOf({ a: { dtype: 'F32', shape: [1], data_offsets: [8, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data);
    const r = decodeSafetensors(sorted, 'sorted');
    assert.deepEqual(Object.keys(r.tensors), ['a', 'b']);
    assert.deepEqual(r.tensors['a']!.toArray(), [9]);
    assert.deepEqual(r.tensors['b']!.toArray(), [7, 8]);
    releaseAll(r.tensors);
    // unpadded headers and metadata placed last are accepted too
    const unpadded = fileOf({ x: { dtype: 'F64', shape: [], data_offsets: [0, 8] }, __metadata__: { k: 'v' } }, [...new Uint8Array(new Float64Array([0.25]).buffer)], false);
    const u = decodeSafetensors(unpadded, 'unpadded');
    assert.equal(u.tensors['x']!.item(), 0.25);
    assert.deepEqual(u.metadata, { k: 'v' });
    releaseAll(u.tensors);
  });

  it('matches a reference file built by hand from the specification, byte for byte', () => {
    const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]}}';
    assert.equal(json.length, 139);
    const expected = Uint8Array.from([
      144, 0, 0, 0, 0, 0, 0, 0, // header length 139 padded to 144
      ...enc.encode(json), 0x20, 0x20, 0x20, 0x20, 0x20,
      0x00, 0x00, 0x80, 0x3f, // 1.0f
      0x00, 0x00, 0x00, 0xc0, // -2.0f
      0x80, 0x3f, // bfloat16 1.0
    ]);
    const a = Tensor.fromArray([1, -2], [2], 'float32');
    const b = Tensor.fromArray([1], [], 'bfloat16');
    try {
      assert.deepEqual(encodeSafetensors({ a, b }, { format: 'pt' }), expected);
      const path = join(dir, 'ref.safetensors');
      writeSafetensors(path, { a, b }, { format: 'pt' });
      assert.deepEqual(new Uint8Array(readFileSync(path)), expected);
    } finally {
      a.release();
      b.release();
    }
    const r = decodeSafetensors(expected, 'ref');
    assert.deepEqual(r.tensors['a']!.toArray(), [1, -2]);
    assert.equal(r.tensors['b']!.dtype, 'bfloat16');
    assert.deepEqual(r.metadata, { format: 'pt' });
    releaseAll(r.tensors);
  });
});

describe('safetensors: corrupted files give named errors', () => {
  const F32x2 = [...new Uint8Array(new Float32Array([1, 2]).buffer)];
  const t = (dtype: string, shape: unknown, offs: unknown): unknown => ({ dtype, shape, data_offsets: offs });
  const cases: [string, Uint8Array, RegExp][] = [
    ['short', new Uint8Array([1, 2, 3]), /too short/],
    ['length past end', Uint8Array.from([...le64(100), ...enc.encode('{}      ')]), /header length 100 exceeds the 8 bytes/],
    ['huge length', Uint8Array.from([0, 0, 0, 0, 0, 1, 0, 0, ...enc.encode('{}')]), /header length \d+ exceeds/],
    ['tiny length', Uint8Array.from([...le64(1), 0x7b]), /too small/],
    ['bad JSON', fileOf('{"a": {"dtype": "F32",'), /not valid JSON/],
    ['not an object', fileOf('["a"]'), /does not start with a JSON object/],
    ['null-ish', fileOf('{"a": 1}'), /tensor 'a': entry is not an object/],
    ['bad UTF-8', Uint8Array.from([...le64(8), 0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), /not valid UTF-8/],
    ['unknown dtype', fileOf({ w: t('F99', [2], [0, 8]) }, F32x2), /tensor 'w': unknown dtype 'F99'/],
    ['unsupported dtype', fileOf({ w: t('I64', [1], [0, 8]) }, F32x2), /tensor 'w': dtype I64 is not supported/],
    ['missing dtype', fileOf({ w: { shape: [2], data_offsets: [0, 8] } }, F32x2), /tensor 'w': missing dtype/],
    ['negative shape', fileOf({ w: t('F32', [-2], [0, 8]) }, F32x2), /tensor 'w': shape must be/],
    ['fractional shape', fileOf({ w: t('F32', [1.5], [0, 8]) }, F32x2), /tensor 'w': shape must be/],
    ['bad offsets', fileOf({ w: t('F32', [2], [0]) }, F32x2), /tensor 'w': data_offsets must be two/],
    ['reversed offsets', fileOf({ w: t('F32', [0], [8, 0]) }, F32x2), /tensor 'w': data_offsets \[8, 0\] are reversed/],
    ['out of range', fileOf({ w: t('F32', [4], [0, 16]) }, F32x2), /tensor 'w': data_offsets \[0, 16\] are out of range \(the data section has 8 bytes\)/],
    ['size mismatch', fileOf({ w: t('F32', [3], [0, 8]) }, F32x2), /tensor 'w': data_offsets \[0, 8\] span 8 bytes but shape \[3\] of F32 needs 12/],
    ['overlap', fileOf({ w: t('F32', [2], [0, 8]), v: t('F32', [1], [4, 8]) }, F32x2), /tensor 'v' \[4, 8\] overlaps tensor 'w' \[0, 8\]/],
    ['overlap same range', fileOf({ w: t('F32', [2], [0, 8]), v: t('F16', [4], [0, 8]) }, F32x2), /overlaps/],
    ['gap', fileOf({ w: t('F32', [1], [4, 8]) }, F32x2), /tensor 'w' starts at 4, leaving a gap after the header/],
    ['trailing', fileOf({ w: t('F32', [1], [0, 4]) }, F32x2), /4 bytes of data after the last tensor/],
    ['metadata not strings', fileOf({ __metadata__: { n: 3 } }), /metadata 'n' is not a string/],
    ['metadata not object', fileOf({ __metadata__: 'x' }), /'__metadata__' must be an object/],
  ];
  for (const [what, bytes, pattern] of cases) {
    it(what, () => {
      const before = ledger.snapshot().live;
      throwsSt(() => decodeSafetensors(bytes, 'bad.safetensors'), pattern);
      assert.equal(ledger.snapshot().live, before, 'nothing allocated');
    });
  }

  it('readSafetensors names the path; a valid file becomes invalid when truncated', () => {
    const a = Tensor.fromArray([1, 2, 3], [3], 'float32');
    const good = encodeSafetensors({ a });
    a.release();
    const path = join(dir, 'cut.safetensors');
    writeFileSync(path, good.subarray(0, good.length - 1));
    throwsSt(() => readSafetensors(path), /out of range/, path);
    writeFileSync(path, good.subarray(0, 20));
    throwsSt(() => readSafetensors(path), /header length \d+ exceeds/, path);
  });
});

describe('safetensors: atomic writes', () => {
  it('a missing directory gives an error and creates nothing', () => {
    const base = mkdtempSync(join(dir, 'w-'));
    const a = Tensor.fromArray([1], [1]);
    try {
      throwsSt(() => writeSafetensors(join(base, 'nope', 'x.safetensors'), { a }), /could not write/, join(base, 'nope', 'x.safetensors'));
    } finally {
      a.release();
    }
    assert.deepEqual(readdirSync(base), []);
  });

  it('a failing rename removes the temporary file and leaves the target alone', () => {
    const base = mkdtempSync(join(dir, 'w-'));
    const target = join(base, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), 'x');
    const a = Tensor.fromArray([1, 2], [2]);
    try {
      throwsSt(() => writeSafetensors(target, { a }), /could not write/, target);
    } finally {
      a.release();
    }
    assert.deepEqual(readdirSync(base), ['taken']);
    assert.deepEqual(readdirSync(target), ['keep']);
  });

  it('replaces an existing file whole; bad input fails before the disk is touched', () => {
    const base = mkdtempSync(join(dir, 'w-'));
    const path = join(base, 'm.safetensors');
    const a = Tensor.fromArray([1, 2, 3, 4], [2, 2], 'float16');
    const b = Tensor.fromArray([5], [1], 'float64');
    try {
      writeSafetensors(path, { a, b });
      writeSafetensors(path, { b }, { v: '2' });
      assert.deepEqual(readdirSync(base), ['m.safetensors']);
      const r = readSafetensors(path);
      assert.deepEqual(Object.keys(r.tensors), ['b']);
      assert.deepEqual(r.metadata, { v: '2' });
      releaseAll(r.tensors);

      const gone = Tensor.fromArray([1], [1]);
      gone.release();
      const other = join(base, 'o.safetensors');
      throwsSt(() => writeSafetensors(other, { a, gone }), /tensor 'gone' was already released/, other);
      throwsSt(() => writeSafetensors(other, { __metadata__: a }), /cannot be named '__metadata__'/, other);
      throwsSt(() => writeSafetensors(other, { a }, { n: 3 as unknown as string }), /metadata 'n' must be a string/, other);
      assert.deepEqual(readdirSync(base), ['m.safetensors']);
    } finally {
      a.release();
      b.release();
    }
  });
});

describe('safetensors complex64 (C64)', () => {
  it('float32 [..., 2] tensors written as C64 read back as float32 [..., 2], named in `complex`', () => {
    const vals = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i + 0.5) * 3);
    const t = Tensor.fromArray(vals, [2, 3, 2, 2], 'float32');
    const r = Tensor.fromArray(Float32Array.from([1.5, -2.25]), [2], 'float32');
    const bytes = encodeSafetensors({ w: t, b: r }, undefined, { complex: new Set(['w']) });
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))))) as Record<string, { dtype: string; shape: number[] }>;
    assert.equal(header['w']!.dtype, 'C64');
    assert.deepEqual(header['w']!.shape, [2, 3, 2]);
    const back = decodeSafetensors(bytes, 'mem');
    assert.deepEqual(back.complex, ['w']);
    assert.deepEqual(back.tensors['w']!.shape, [2, 3, 2, 2]);
    assert.deepEqual(Array.from(back.tensors['w']!.data as Float32Array), Array.from(vals));
    const odd = Tensor.fromArray(Float32Array.from([1, 2, 3]), [3], 'float32');
    assert.throws(() => encodeSafetensors({ odd }, undefined, { complex: new Set(['odd']) }), /complex64 tensor is written from float32 \[\.\.\., 2\]/);
    for (const x of [t, r, odd, ...Object.values(back.tensors)]) x.release();
  });
});
