/**
 * Samples and batches as records of named tensors. A grid dataset's batch is {x [B, C_in, …],
 * y [B, C_out, …]}; a point-cloud batch has fields whose first axis runs over the points of every
 * sample of the batch, concatenated (no padding), with row pointers saying where each sample's
 * points start (`segments`), next to per-sample fields stacked on a new first axis (a latent grid's
 * SDF) and fields shared by the whole batch (the latent grid's coordinates).
 */
import type { Tensor } from './tensor.js';
import { fmtShape } from './tensor.js';

export interface Batch {
  /** Number of samples. */
  readonly size: number;
  /** The named tensors (owned by the batch: releaseBatch frees them). */
  readonly tensors: Readonly<Record<string, Tensor>>;
  /**
   * For each ragged field (samples concatenated along axis 0): row pointers [size + 1], sample b's rows
   * being segments[name][b] … segments[name][b + 1] − 1.
   */
  readonly segments: Readonly<Record<string, Int32Array>>;
}

/** What the Trainer, the losses and the CLI need of a dataset. */
export interface Dataset {
  readonly name: string;
  /** Number of samples. */
  readonly length: number;
  /** The field the losses compare a prediction with ('y'). */
  readonly target: string;
  /** The samples at `indices` as one batch (new tensors). */
  batch(indices: readonly number[]): Batch;
  release(): void;
}

/** Frees every tensor of a batch. */
export function releaseBatch(b: Batch): void {
  for (const t of Object.values(b.tensors)) t.release();
}

/** A named field of a batch; a missing one is an error naming the field and what the batch has. */
export function field(b: Batch, name: string, who: string): Tensor {
  const t = b.tensors[name];
  if (!t) throw new RangeError(`${who}: the batch has no field '${name}' (it has ${Object.keys(b.tensors).join(', ') || 'none'})`);
  return t;
}

/** The row pointers of a ragged field; a field without them is an error. */
export function segmentsOf(b: Batch, name: string, who: string): Int32Array {
  const s = b.segments[name];
  if (!s) throw new RangeError(`${who}: batch field '${name}' is not a point field (no per-sample row pointers)`);
  const t = field(b, name, who);
  if (s.length !== b.size + 1 || s[0] !== 0 || s[b.size] !== t.shape[0]) {
    throw new RangeError(`${who}: row pointers of '${name}' (${s.length} entries, ${s[0]} … ${s[s.length - 1]}) do not fit ${b.size} samples of ${fmtShape(t.shape)}`);
  }
  return s;
}

/** Row pointers of samples with `counts` rows each. */
export function rowPointers(counts: readonly number[]): Int32Array {
  const p = new Int32Array(counts.length + 1);
  counts.forEach((c, i) => { p[i + 1] = p[i]! + c; });
  return p;
}
