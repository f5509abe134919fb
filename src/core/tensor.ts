import { arena } from './arena.js';
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from './codecs.js';
import { type DType, type StorageArray, isDType, itemSize } from './dtype.js';
import { ledger, type Role, ROLES } from './ledger.js';

export type Shape = readonly number[];

/** Checks that a shape is a list of non-negative integers; names `op` and the shape in the error. */
export function checkShape(shape: Shape, op: string): void {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of integers, got ${String(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new RangeError(`${op}: invalid shape [${shape.join(', ')}]: sizes must be non-negative integers`);
    }
  }
}

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** A block of arena memory shared by a tensor and its views; freed when the last of them is released. */
class Storage {
  refs = 1;
  constructor(
    readonly ptr: number,
    readonly bytes: number,
    readonly dtype: DType,
    public role: Role,
  ) {}
}

function viewOf(dtype: DType, byteOffset: number, length: number): StorageArray {
  const buf = arena.buffer;
  switch (dtype) {
    case 'float64': return new Float64Array(buf, byteOffset, length);
    case 'float32': return new Float32Array(buf, byteOffset, length);
    case 'float16':
    case 'bfloat16': return new Uint16Array(buf, byteOffset, length);
  }
}

/**
 * A contiguous n-d array in the arena. Data is stored in its dtype (16-bit types as raw codes in a
 * Uint16Array). Every allocation is counted in the ledger; `release()` gives the memory back and is
 * required (a released tensor cannot be used, and releasing twice is an error).
 */
export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  /** Offset of the first element inside the storage, in elements. */
  readonly offset: number;
  private readonly storage: Storage;
  private released = false;
  private view: StorageArray | undefined;

  private constructor(storage: Storage, shape: Shape, offset: number) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = storage.dtype;
    this.size = shapeSize(shape);
    this.offset = offset;
  }

  /** Allocates an uninitialised tensor. */
  static empty(shape: Shape, dtype: DType = 'float32', role: Role = 'other'): Tensor {
    return Tensor.alloc(shape, dtype, role, 'Tensor.empty');
  }

  /** Allocates an uninitialised tensor; argument errors name `op` (the public constructor called). */
  private static alloc(shape: Shape, dtype: DType, role: Role, op: string): Tensor {
    checkShape(shape, op);
    if (!isDType(dtype)) throw new TypeError(`${op}: unknown dtype '${String(dtype)}'`);
    if (!ROLES.includes(role)) throw new TypeError(`${op}: unknown role '${String(role)}'`);
    const bytes = shapeSize(shape) * itemSize(dtype);
    const ptr = arena.alloc(bytes);
    ledger.allocate(bytes, dtype, role);
    return new Tensor(new Storage(ptr, bytes, dtype, role), shape, 0);
  }

  static zeros(shape: Shape, dtype: DType = 'float32', role: Role = 'other'): Tensor {
    const t = Tensor.alloc(shape, dtype, role, 'Tensor.zeros');
    t.data.fill(0);
    return t;
  }

  /** A tensor filled with `value` (rounded once to the dtype). */
  static full(shape: Shape, value: number, dtype: DType = 'float32', role: Role = 'other'): Tensor {
    const t = Tensor.alloc(shape, dtype, role, 'Tensor.full');
    const code = dtype === 'float16' ? encodeF16([value])[0]! : dtype === 'bfloat16' ? encodeBf16([value])[0]! : value;
    t.data.fill(code);
    return t;
  }

  /** Copies numbers into a new tensor, rounding each once to the dtype. Shape defaults to [values.length]. */
  static fromArray(values: ArrayLike<number>, shape: Shape = [values.length], dtype: DType = 'float32', role: Role = 'other'): Tensor {
    checkShape(shape, 'Tensor.fromArray');
    if (shapeSize(shape) !== values.length) {
      throw new RangeError(`Tensor.fromArray: ${values.length} values do not fill shape ${fmtShape(shape)} (${shapeSize(shape)} elements)`);
    }
    const t = Tensor.alloc(shape, dtype, role, 'Tensor.fromArray');
    t.set(values);
    return t;
  }

  /** Overwrites the elements from numbers, rounding each once to the dtype. */
  set(values: ArrayLike<number>): this {
    if (values.length !== this.size) {
      throw new RangeError(`Tensor.set: ${values.length} values for a tensor of shape ${fmtShape(this.shape)} (${this.size} elements)`);
    }
    const d = this.data;
    if (this.dtype === 'float16') encodeF16(values, d as Uint16Array);
    else if (this.dtype === 'bfloat16') encodeBf16(values, d as Uint16Array);
    else (d as Float32Array | Float64Array).set(values);
    return this;
  }

  private live(op: string): Storage {
    if (this.released) throw new Error(`${op}: tensor of shape ${fmtShape(this.shape)} (${this.dtype}) was already released`);
    return this.storage;
  }

  /** Typed-array view of the elements (raw 16-bit codes for float16/bfloat16). */
  get data(): StorageArray {
    const s = this.live('Tensor.data');
    // an unshared memory detaches its buffer when it grows: a view of it then has no elements
    if (this.view === undefined || (this.view.length === 0 && this.size > 0)) this.view = viewOf(this.dtype, s.ptr + this.offset * itemSize(this.dtype), this.size);
    return this.view;
  }

  /** Byte address of the first element in the arena (for kernels). */
  get ptr(): number {
    const s = this.live('Tensor.ptr');
    return s.ptr + this.offset * itemSize(this.dtype);
  }

  get ndim(): number {
    return this.shape.length;
  }

  get role(): Role {
    return this.storage.role;
  }

  /** Bytes of the elements this tensor spans. */
  get nbytes(): number {
    return this.size * itemSize(this.dtype);
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** True when this tensor shares storage with another (a view or a viewed base). */
  get isShared(): boolean {
    return this.storage.refs > 1;
  }

  /** Changes the ledger role of the storage (e.g. an activation saved for backward). */
  setRole(role: Role): this {
    const s = this.live('Tensor.setRole');
    if (!ROLES.includes(role)) throw new TypeError(`Tensor.setRole: unknown role '${String(role)}'`);
    ledger.retag(s.bytes, s.dtype, s.role, role);
    s.role = role;
    return this;
  }

  /** A view with another shape over the same elements; one size may be -1 (inferred). */
  reshape(shape: Shape): Tensor {
    const s = this.live('Tensor.reshape');
    const dims = [...shape];
    const neg = dims.filter((d) => d === -1).length;
    if (neg > 1) throw new RangeError(`Tensor.reshape: more than one -1 in ${fmtShape(shape)}`);
    if (neg === 1) {
      const rest = dims.reduce((a, d) => (d === -1 ? a : a * d), 1);
      if (rest === 0 || this.size % rest !== 0) {
        throw new RangeError(`Tensor.reshape: cannot reshape ${fmtShape(this.shape)} into ${fmtShape(shape)}`);
      }
      dims[dims.indexOf(-1)] = this.size / rest;
    }
    checkShape(dims, 'Tensor.reshape');
    if (shapeSize(dims) !== this.size) {
      throw new RangeError(`Tensor.reshape: cannot reshape ${fmtShape(this.shape)} (${this.size} elements) into ${fmtShape(shape)}`);
    }
    s.refs++;
    return new Tensor(s, dims, this.offset);
  }

  /** reshape() that consumes this tensor: returns the view and releases this handle. */
  reshapeOwned(shape: Shape): Tensor {
    const v = this.reshape(shape);
    this.release();
    return v;
  }

  /** A view of rows [start, end) of the leading axis. */
  slice(start: number, end: number = this.shape[0] ?? 0): Tensor {
    const s = this.live('Tensor.slice');
    if (this.ndim === 0) throw new RangeError('Tensor.slice: a 0-d tensor has no leading axis');
    const n = this.shape[0]!;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start > end) {
      throw new RangeError(`Tensor.slice: range [${start}, ${end}) is outside the leading axis of ${fmtShape(this.shape)}`);
    }
    const inner = n === 0 ? 0 : this.size / n;
    s.refs++;
    return new Tensor(s, [end - start, ...this.shape.slice(1)], this.offset + start * inner);
  }

  /**
   * When `next` lies in the same storage right after this tensor (same shape and dtype): a view
   * [2, ...shape] over both, this one first. How a ComplexTensor from ComplexTensor.empty is seen
   * as one packed planar tensor without a copy.
   */
  pairView(next: Tensor): Tensor | undefined {
    const s = this.live('Tensor.pairView');
    if (next.storage !== s || next.offset !== this.offset + this.size || !shapeEq(next.shape, this.shape)) return undefined;
    s.refs++;
    return new Tensor(s, [2, ...this.shape], this.offset);
  }

  /** The elements decoded to float64. */
  toFloat64(): Float64Array {
    const d = this.data;
    if (this.dtype === 'float16') return decodeF16(d as Uint16Array, new Float64Array(this.size)) as Float64Array;
    if (this.dtype === 'bfloat16') return decodeBf16(d as Uint16Array, new Float64Array(this.size)) as Float64Array;
    return Float64Array.from(d as Float32Array | Float64Array);
  }

  /** A plain array of the decoded elements (flat). */
  toArray(): number[] {
    return Array.from(this.toFloat64());
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`Tensor.item: tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, not 1`);
    return this.toFloat64()[0]!;
  }

  /** A new tensor with a copy of the elements (same dtype; role defaults to this one's). */
  clone(role: Role = this.role): Tensor {
    const src = this.data; // throws for a released tensor before anything is allocated
    const t = Tensor.alloc(this.shape, this.dtype, role, 'Tensor.clone');
    (t.data as Float32Array).set(src as Float32Array);
    return t;
  }

  /**
   * Gives the memory back (when no other view holds it). Releasing the same tensor twice is an error;
   * views keep the storage alive until they are released too.
   */
  release(): void {
    const s = this.live('Tensor.release');
    this.released = true;
    this.view = undefined;
    s.refs--;
    if (s.refs === 0) {
      arena.free(s.ptr);
      ledger.release(s.bytes, s.dtype, s.role);
    }
  }

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.released ? ', released' : ''})`;
  }
}

/** Complex data as planar real and imaginary tensors of one shape and dtype. */
export class ComplexTensor {
  constructor(readonly re: Tensor, readonly im: Tensor) {
    if (!shapeEq(re.shape, im.shape) || re.dtype !== im.dtype) {
      throw new TypeError(
        `ComplexTensor: real part ${fmtShape(re.shape)} ${re.dtype} and imaginary part ${fmtShape(im.shape)} ${im.dtype} differ`,
      );
    }
  }

  /** Both parts in one block (see packed()): the real part first, the imaginary part right after it. */
  static empty(shape: Shape, dtype: DType = 'float32', role: Role = 'other'): ComplexTensor {
    checkShape(shape, 'ComplexTensor.empty');
    return ComplexTensor.fromPackedOwned(Tensor.empty([2, ...shape], dtype, role));
  }

  static zeros(shape: Shape, dtype: DType = 'float32', role: Role = 'other'): ComplexTensor {
    checkShape(shape, 'ComplexTensor.zeros');
    return ComplexTensor.fromPackedOwned(Tensor.zeros([2, ...shape], dtype, role));
  }

  /** Views of the two halves of a packed planar tensor [2, ...shape] (index 0 the real part); `t` stays the caller's. */
  static fromPacked(t: Tensor): ComplexTensor {
    if (t.ndim < 1 || t.shape[0] !== 2) throw new RangeError(`ComplexTensor.fromPacked: a packed complex tensor is [2, ...shape], got ${fmtShape(t.shape)}`);
    const inner = t.shape.slice(1);
    const re = t.slice(0, 1).reshapeOwned(inner);
    return new ComplexTensor(re, t.slice(1, 2).reshapeOwned(inner));
  }

  /** fromPacked() that consumes `t`. */
  static fromPackedOwned(t: Tensor): ComplexTensor {
    try {
      return ComplexTensor.fromPacked(t);
    } finally {
      t.release();
    }
  }

  /**
   * This complex tensor as one packed planar tensor [2, ...shape]: a view when the parts lie in one
   * block (ComplexTensor.empty), else a copy (ledger role `role`). The caller releases it.
   */
  packed(role: Role = 'activation'): Tensor {
    const v = this.re.pairView(this.im);
    if (v) return v;
    const t = Tensor.empty([2, ...this.shape], this.dtype, role);
    // raw storage copies (16-bit codes stay codes); the typed-array type is the same on both sides
    const dst = t.data as Float32Array;
    dst.set(this.re.data as Float32Array, 0);
    dst.set(this.im.data as Float32Array, this.re.size);
    return t;
  }

  get shape(): Shape {
    return this.re.shape;
  }

  get dtype(): DType {
    return this.re.dtype;
  }

  release(): void {
    this.re.release();
    this.im.release();
  }
}
