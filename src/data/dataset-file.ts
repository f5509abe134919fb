import { existsSync, statSync } from 'node:fs';
import { Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import { describeFsError } from './formats/atomic.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from './formats/safetensors.js';
import { TensorDataset, UnitGaussianNormalizer, darcyFromPt, gridFromSafetensors } from './dataset.js';
import { type BodyArrays, type PointCloudDataset, carsFromPt, loadBodies, normalizeSdf, unitGrid } from './points.js';
import { readPt } from './formats/pt.js';
import { fileKind } from './formats/hdf5.js';
import { Hdf5GridReader } from './hdf5-dataset.js';
import { LazyGridDataset, type SampleCache } from './lazy.js';
import { ConcatReader, SafetensorsGridReader, type ShardInfo, isShardPattern, resolveShardSet } from './shards.js';
import { type DataSource, needsHdf5 } from './sources.js';

/** Metadata every generated dataset file carries (JSON in the safetensors header). */
export interface DatasetMeta {
  format: 'mpno-dataset';
  pde: string;
  resolution: number;
  seed: number;
  samples: number;
  /** Everything else that defines the data (PDE parameters, solver settings, layout). */
  params: Record<string, unknown>;
  /** A shard of a generation (mpno generate --shard i/n): `samples` is the shard's count. */
  shard?: ShardInfo;
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
  const { metadata } = readSafetensorsHeader(path);
  return metadata['mpno'] ? (JSON.parse(metadata['mpno']) as DatasetMeta) : null;
}

/** Any dataset mpno trains on: grid data in memory or read lazily, or point clouds. */
export type AnyDataset = TensorDataset | LazyGridDataset | PointCloudDataset;

/** Grid data {x, y}, in memory or read lazily. */
export type GridDataset = TensorDataset | LazyGridDataset;

export function isGridDataset(d: AnyDataset): d is GridDataset {
  return d instanceof TensorDataset || d instanceof LazyGridDataset;
}

export interface LoadOptions {
  /** The first n samples (after a source's index). */
  n?: number;
  /**
   * The cache lazy datasets read through. HDF5/.mat sources and shard sets are always read lazily
   * (without a cache: one that keeps everything read); a plain .safetensors file is read lazily when
   * a cache is given, else into memory.
   */
  cache?: SampleCache;
  /** The config field of the source, for errors (default 'data source'). */
  at?: string;
}

/**
 * Loads a dataset for training or evaluation (see LoadOptions for what is read lazily): neuralop's
 * .pt files (grid data {x, y} as [N, …], a channel axis added; or a list of car CFD samples, a point
 * dataset), mpno's generated .safetensors files (grid data {x, y} already [N, C, …], or generated
 * bodies), shard sets (`name-*-of-N.safetensors`), and HDF5 / MATLAB v7.3 files (a source object,
 * or a path whose datasets are 'x' and 'y'; h5wasm must be started: initHdf5()).
 */
export function loadAnyDataset(source: DataSource, opts: LoadOptions = {}): AnyDataset {
  const nOpt = opts.n !== undefined ? { n: opts.n } : {};
  if (typeof source === 'string' && isShardPattern(source)) {
    const parts = resolveShardSet(source);
    return new LazyGridDataset(new ConcatReader(source, parts), opts.cache, nOpt);
  }
  const path = typeof source === 'string' ? source : source.file;
  if (!existsSync(path)) throw new Error(`${path}: no such data file`);
  if (!statSync(path).isFile()) throw new Error(`${path}: is a directory, not a data file (give a .pt or .safetensors file)`);
  if (typeof source !== 'string' || needsHdf5(source) || fileKind(path) !== 'other') {
    const reader = new Hdf5GridReader(typeof source === 'string' ? { file: source } : source, opts.at);
    try {
      return new LazyGridDataset(reader, opts.cache, nOpt);
    } catch (e) {
      reader.close();
      throw e;
    }
  }
  if (opts.cache && path.endsWith('.safetensors') && readDatasetMeta(path)?.params['layout'] !== 'points') {
    const reader = new SafetensorsGridReader(path);
    try {
      return new LazyGridDataset(reader, opts.cache, nOpt);
    } catch (e) {
      reader.close();
      throw e;
    }
  }
  return loadFile(path, opts);
}

/** A .pt or .safetensors file read into memory. */
function loadFile(path: string, opts: { n?: number }): TensorDataset | PointCloudDataset {
  if (!path.endsWith('.safetensors')) {
    try {
      // a list of dicts is neuralop's car CFD data; a dict {x, y} a grid dataset
      const v = readPt(path);
      return Array.isArray(v) ? carsFromPt(v, path, opts) : darcyFromPt(v, path, opts);
    } catch (e) {
      // a read error (permissions, I/O) carries no path; data errors already name the file
      if (typeof (e as { code?: unknown } | null)?.code === 'string') throw new Error(`${path}: cannot read the data file (${describeFsError(e)})`, { cause: e });
      throw e;
    }
  }
  const meta = readDatasetMeta(path);
  if (meta?.params['layout'] === 'points') return loadBodies(path, opts);
  return gridFromSafetensors(readSafetensors(path, { role: 'data' }), path, opts);
}

/** loadAnyDataset for the commands that work on grid data: a point dataset is a named error. */
export function loadGridDataset(source: DataSource, who: string, opts: { n?: number } = {}): TensorDataset {
  const d = loadAnyDataset(source, opts);
  if (d instanceof TensorDataset) return d;
  if (d instanceof LazyGridDataset) {
    // the commands that take a whole grid dataset in memory (bound) read it out of the lazy one
    try {
      const { x, y } = d.gather(Array.from({ length: d.length }, (_, i) => i));
      return new TensorDataset(x, y, d.name);
    } finally {
      d.release();
    }
  }
  d.release();
  throw new RangeError(`${who}: ${typeof source === 'string' ? source : source.file} is a point-cloud dataset; ${who} works on grid datasets ({x, y})`);
}

/** A grid dataset ({x, y}) of a .pt or generated .safetensors file (see loadAnyDataset). */
export function loadDataset(path: string, opts: { n?: number } = {}): TensorDataset {
  return loadGridDataset(path, 'loadDataset', opts);
}

/**
 * neuralop's output normaliser fitted on a training set's targets: over the whole tensor in memory,
 * streamed over chunks for a lazy dataset (the same result bit for bit), over all points of all
 * samples for point data.
 */
export function fitOutputNormalizer(d: AnyDataset): UnitGaussianNormalizer {
  if (d instanceof TensorDataset) return UnitGaussianNormalizer.fit(d.y);
  if (d instanceof LazyGridDataset) return UnitGaussianNormalizer.fitChunks(d.reader.ySample, (fn) => d.forEachTargetChunk(fn));
  const y = d.targets();
  try {
    return UnitGaussianNormalizer.fit(y);
  } finally {
    y.release();
  }
}

/**
 * Writes generated bodies as one safetensors file: vertices, normals [ΣP, 3], areas [ΣP], cp [ΣP, 1],
 * triangles [ΣT, 3] (each sample's own vertex numbers, stored as F32: exact below 2^24), sdf
 * [N, 1, G, G, G] (normalised by normalizeSdf) and query_points [G, G, G, 3]; the metadata holds
 * each sample's point and triangle counts. Written to a temporary name and renamed.
 */
export function writeBodies(path: string, bodies: readonly BodyArrays[], G: number, meta: DatasetMeta): void {
  const P = bodies.map((b) => b.vertices.length / 3);
  const T = bodies.map((b) => b.triangles.length / 3);
  const cat = (get: (b: BodyArrays) => ArrayLike<number>, total: number) => {
    const out = new Float32Array(total);
    let o = 0;
    for (const b of bodies) {
      const a = get(b);
      for (let i = 0; i < a.length; i++) out[o + i] = a[i]!;
      o += a.length;
    }
    return out;
  };
  const sp = P.reduce((a, b) => a + b, 0);
  const st = T.reduce((a, b) => a + b, 0);
  const S = G * G * G;
  const sdf = new Float32Array(bodies.length * S);
  bodies.forEach((b, i) => {
    if (b.sdf.length !== S) throw new RangeError(`writeBodies: body ${i} has ${b.sdf.length} SDF values for a ${G}³ grid`);
    for (let k = 0; k < S; k++) sdf[i * S + k] = normalizeSdf(b.sdf[k]!);
  });
  const tensors = {
    vertices: Tensor.fromArray(cat((b) => b.vertices, 3 * sp), [sp, 3], 'float32', 'data'),
    normals: Tensor.fromArray(cat((b) => b.normals, 3 * sp), [sp, 3], 'float32', 'data'),
    areas: Tensor.fromArray(cat((b) => b.vertexAreas, sp), [sp], 'float32', 'data'),
    cp: Tensor.fromArray(cat((b) => b.cp, sp), [sp, 1], 'float32', 'data'),
    triangles: Tensor.fromArray(cat((b) => b.triangles, 3 * st), [st, 3], 'float32', 'data'),
    sdf: Tensor.fromArray(sdf, [bodies.length, 1, G, G, G], 'float32', 'data'),
    query_points: Tensor.fromArray(unitGrid(G), [G, G, G, 3], 'float32', 'data'),
  };
  try {
    writeSafetensors(path, tensors, { mpno: JSON.stringify({ ...meta, params: { ...meta.params, layout: 'points', points: P, triangles: T, grid: G } }) });
  } finally {
    for (const t of Object.values(tensors)) t.release();
  }
}
