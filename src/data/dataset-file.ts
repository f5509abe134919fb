import { existsSync, statSync } from 'node:fs';
import { Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import { describeFsError } from './formats/atomic.js';
import { readSafetensors, writeSafetensors } from './formats/safetensors.js';
import { TensorDataset, loadDarcyPt } from './dataset.js';
import { type PointCloudDataset, loadBodies, loadCarPt } from './points.js';
import { readPt } from './formats/pt.js';

/** Metadata every generated dataset file carries (JSON in the safetensors header). */
export interface DatasetMeta {
  format: 'mpno-dataset';
  pde: string;
  resolution: number;
  seed: number;
  samples: number;
  /** Everything else that defines the data (PDE parameters, solver settings, layout). */
  params: Record<string, unknown>;
}

/**
 * Writes x [N, C_in, …] and y [N, C_out, …] (float32) with their metadata as a safetensors file
 * (temporary name, then renamed). Refuses to overwrite unless `force`.
 */
export function writeDataset(path: string, x: Float32Array, xShape: number[], y: Float32Array, yShape: number[], meta: DatasetMeta, force = false): void {
  if (existsSync(path) && !force) throw new Error(`${path} exists; refusing to overwrite it (use --force)`);
  if (x.length !== shapeSize(xShape) || y.length !== shapeSize(yShape) || xShape[0] !== yShape[0]) {
    throw new RangeError(`writeDataset: x ${fmtShape(xShape)} (${x.length} values) and y ${fmtShape(yShape)} (${y.length} values) do not fit`);
  }
  const tx = Tensor.fromArray(x, xShape, 'float32', 'data');
  const ty = Tensor.fromArray(y, yShape, 'float32', 'data');
  try {
    writeSafetensors(path, { x: tx, y: ty }, { mpno: JSON.stringify(meta) });
  } finally {
    tx.release();
    ty.release();
  }
}

/** Reads the metadata of a generated dataset file (null for other files). */
export function readDatasetMeta(path: string): DatasetMeta | null {
  if (!path.endsWith('.safetensors')) return null;
  const { tensors, metadata } = readSafetensors(path, { role: 'data' });
  for (const t of Object.values(tensors)) t.release();
  return metadata['mpno'] ? (JSON.parse(metadata['mpno']) as DatasetMeta) : null;
}

/**
 * Loads a dataset for training or evaluation, the first n samples: neuralop's .pt files (grid data
 * {x, y} as [N, …], a channel axis added; or a list of car CFD samples, a point dataset) or mpno's
 * generated .safetensors files (grid data {x, y} already [N, C, …], or generated bodies).
 */
export function loadAnyDataset(path: string, opts: { n?: number } = {}): TensorDataset | PointCloudDataset {
  if (!existsSync(path)) throw new Error(`${path}: no such data file`);
  if (!statSync(path).isFile()) throw new Error(`${path}: is a directory, not a data file (give a .pt or .safetensors file)`);
  if (!path.endsWith('.safetensors')) {
    try {
      // a list of dicts is neuralop's car CFD data; a dict {x, y} a grid dataset
      return Array.isArray(readPt(path)) ? loadCarPt(path, opts) : loadDarcyPt(path, opts);
    } catch (e) {
      // a read error (permissions, I/O) carries no path; data errors already name the file
      if (typeof (e as { code?: unknown } | null)?.code === 'string') throw new Error(`${path}: cannot read the data file (${describeFsError(e)})`, { cause: e });
      throw e;
    }
  }
  const meta = readDatasetMeta(path);
  if (meta?.params['layout'] === 'points') return loadBodies(path, opts);
  const { tensors, metadata } = readSafetensors(path, { role: 'data' });
  const x = tensors['x'];
  const y = tensors['y'];
  const others = Object.entries(tensors).filter(([k]) => k !== 'x' && k !== 'y');
  for (const [, t] of others) t.release();
  if (!x || !y) {
    x?.release();
    y?.release();
    throw new Error(`${path}: a dataset file needs tensors 'x' and 'y' (found ${Object.keys(tensors).join(', ') || 'none'})`);
  }
  if (!metadata['mpno']) {
    x.release();
    y.release();
    throw new Error(`${path}: not an mpno dataset (no 'mpno' metadata)`);
  }
  const N = x.shape[0]!;
  const n = opts.n ?? N;
  if (!Number.isInteger(n) || n < 1 || n > N) {
    x.release();
    y.release();
    throw new RangeError(`${path}: asked for ${n} samples, the file has ${N}`);
  }
  for (const [name, t] of [['x', x], ['y', y]] as const) {
    const v = t.data as Float32Array;
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]!)) {
        x.release();
        y.release();
        throw new RangeError(`${path}: tensor '${name}' has a non-finite value at element ${i}`);
      }
    }
  }
  if (n === N) return new TensorDataset(x, y, path);
  const xs = x.slice(0, n);
  const ys = y.slice(0, n);
  x.release();
  y.release();
  return new TensorDataset(xs, ys, path);
}

/** loadAnyDataset for the commands that work on grid data: a point dataset is a named error. */
export function loadGridDataset(path: string, who: string, opts: { n?: number } = {}): TensorDataset {
  const d = loadAnyDataset(path, opts);
  if (d instanceof TensorDataset) return d;
  d.release();
  throw new RangeError(`${who}: ${path} is a point-cloud dataset; ${who} works on grid datasets ({x, y})`);
}

/** A grid dataset ({x, y}) of a .pt or generated .safetensors file (see loadAnyDataset). */
export function loadDataset(path: string, opts: { n?: number } = {}): TensorDataset {
  return loadGridDataset(path, 'loadDataset', opts);
}
