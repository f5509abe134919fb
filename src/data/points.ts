/**
 * Point-cloud datasets (GINO's data): each sample is a record of named tensors, some over its own
 * points (any count per sample), some on the latent grid; batches concatenate the point fields (no
 * padding) with per-sample row pointers, stack the grid fields and share the latent grid.
 *
 * Two sources: neuralop's car CFD samples (mini_car.pt, a list of dicts, read directly) and mpno's
 * generated bodies (`mpno generate bodies`, a safetensors file of concatenated samples).
 */
import { type Batch, type Dataset, rowPointers } from '../core/batch.js';
import { Tensor, fmtShape, shapeEq, shapeSize } from '../core/tensor.js';
import { type SafetensorsContents, decodeSafetensors } from './formats/safetensors-codec.js';
import { platform } from '../core/platform.js';
import { isPtTensor, ptToTensor, readPt, type PtTensor, type PtValue } from './formats/pt.js';
import type { DatasetMeta } from './dataset-file.js';
import type { BodySample } from './generators/bodies.js';

/** One sample: point fields [P, …] and grid fields [C, G1, G2, G3]. */
export type PointSample = Record<string, Tensor>;

/** The stored values of `parts` (one dtype) one after another in a new tensor of `shape`. */
function concatRows(parts: readonly Tensor[], shape: readonly number[]): Tensor {
  const out = Tensor.empty(shape, parts[0]!.dtype, 'data');
  let off = 0;
  for (const t of parts) {
    out.data.set(t.data as never, off);
    off += t.size;
  }
  return out;
}

/**
 * Samples with point fields (axis 0 over the sample's points, named in `pointFields`), grid fields
 * (stacked into [B, …] in a batch) and shared fields (the same tensor for every sample, e.g. the latent
 * grid's coordinates; copied into each batch). The target is 'y'.
 */
export class PointCloudDataset implements Dataset {
  readonly target = 'y';

  constructor(
    readonly samples: readonly PointSample[],
    readonly pointFields: ReadonlySet<string>,
    readonly shared: Readonly<Record<string, Tensor>>,
    readonly name = 'points',
  ) {
    if (samples.length === 0) throw new RangeError(`${name}: a point dataset needs at least one sample`);
    const keys = Object.keys(samples[0]!).sort();
    samples.forEach((s, i) => {
      const k = Object.keys(s).sort();
      if (k.join() !== keys.join()) throw new RangeError(`${name}: sample ${i} has fields ${k.join(', ')}; sample 0 has ${keys.join(', ')}`);
      for (const f of keys) {
        const t = s[f]!;
        const t0 = samples[0]![f]!;
        const same = this.pointFields.has(f) ? shapeEq(t.shape.slice(1), t0.shape.slice(1)) : shapeEq(t.shape, t0.shape);
        if (!same || t.dtype !== t0.dtype) throw new RangeError(`${name}: field '${f}' of sample ${i} is ${fmtShape(t.shape)} ${t.dtype}, sample 0's ${fmtShape(t0.shape)} ${t0.dtype}`);
      }
    });
  }

  get length(): number {
    return this.samples.length;
  }

  /** Points of each sample in a point field. */
  pointCounts(f = 'input_geom'): number[] {
    return this.samples.map((s) => s[f]!.shape[0]!);
  }

  batch(indices: readonly number[]): Batch {
    if (indices.length === 0) throw new RangeError(`${this.name}: an empty batch`);
    const picked = indices.map((i) => {
      const s = this.samples[i];
      if (!Number.isInteger(i) || !s) throw new RangeError(`${this.name}: sample index ${i} is outside 0…${this.length - 1}`);
      return s;
    });
    const tensors: Record<string, Tensor> = {};
    const segments: Record<string, Int32Array> = {};
    for (const f of Object.keys(picked[0]!)) {
      const parts = picked.map((s) => s[f]!);
      const t0 = parts[0]!;
      const ragged = this.pointFields.has(f);
      tensors[f] = concatRows(parts, ragged ? [parts.reduce((a, t) => a + t.shape[0]!, 0), ...t0.shape.slice(1)] : [parts.length, ...t0.shape]);
      if (ragged) segments[f] = rowPointers(parts.map((t) => t.shape[0]!));
    }
    for (const [k, t] of Object.entries(this.shared)) tensors[k] = t.clone();
    return { size: indices.length, tensors, segments };
  }

  /** The target values of every sample as one [ΣP, C] tensor (to fit the output normaliser). */
  targets(): Tensor {
    const ys = this.samples.map((s) => s[this.target]!);
    return concatRows(ys, [ys.reduce((a, t) => a + t.shape[0]!, 0), ...ys[0]!.shape.slice(1)]);
  }

  release(): void {
    for (const s of this.samples) for (const t of Object.values(s)) t.release();
    for (const t of Object.values(this.shared)) t.release();
  }
}

/** The first n samples of a dataset (the others released). */
function firstSamples(samples: PointSample[], n: number | undefined, file: string): PointSample[] {
  const N = samples.length;
  const k = n ?? N;
  if (!Number.isInteger(k) || k < 1 || k > N) {
    for (const s of samples) for (const t of Object.values(s)) t.release();
    throw new RangeError(`${file}: asked for ${k} samples, the file has ${N}`);
  }
  for (const s of samples.slice(k)) for (const t of Object.values(s)) t.release();
  return samples.slice(0, k);
}

function checkFinite(t: Tensor, what: string): void {
  const v = t.toFloat64();
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) throw new RangeError(`${what} has a non-finite value at element ${i}`);
}

/**
 * Vertex quadrature weights of a mesh given without its triangles (neuralop's car data: vertices,
 * triangle centroids): each centroid's triangle is taken as its three nearest vertices, and a third
 * of that triangle's area (in the vertices' coordinates) goes to each of them.
 */
export function vertexAreasFromCentroids(vertices: Float64Array, centroids: Float64Array): Float64Array {
  const V = vertices.length / 3;
  const T = centroids.length / 3;
  const w = new Float64Array(V);
  const best = new Int32Array(3);
  const bd = new Float64Array(3);
  for (let t = 0; t < T; t++) {
    bd.fill(Infinity);
    const cx = centroids[3 * t]!, cy = centroids[3 * t + 1]!, cz = centroids[3 * t + 2]!;
    for (let v = 0; v < V; v++) {
      const dx = vertices[3 * v]! - cx, dy = vertices[3 * v + 1]! - cy, dz = vertices[3 * v + 2]! - cz;
      const d = dx * dx + dy * dy + dz * dz;
      if (d >= bd[2]!) continue;
      let k = 2;
      while (k > 0 && d < bd[k - 1]!) {
        bd[k] = bd[k - 1]!;
        best[k] = best[k - 1]!;
        k--;
      }
      bd[k] = d;
      best[k] = v;
    }
    const [a, b, c] = [best[0]!, best[1]!, best[2]!];
    const ux = vertices[3 * b]! - vertices[3 * a]!, uy = vertices[3 * b + 1]! - vertices[3 * a + 1]!, uz = vertices[3 * b + 2]! - vertices[3 * a + 2]!;
    const vx = vertices[3 * c]! - vertices[3 * a]!, vy = vertices[3 * c + 1]! - vertices[3 * a + 1]!, vz = vertices[3 * c + 2]! - vertices[3 * a + 2]!;
    const area = 0.5 * Math.hypot(uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx);
    for (const v of best) w[v] += area / 3;
  }
  return w;
}

/**
 * neuralop's car CFD samples (mini_car.pt: a list of dicts with vertices [P, 3], vertex_normals,
 * centroids, triangle_areas, distance [G, G, G, 1], query_points [G, G, G, 3], press [1, P]), as the
 * car-CFD data processor hands them to GINO: input_geom = output_queries = the vertices (the first
 * press.length of them), latent_queries = query_points, latent_features = distance (channel first),
 * y = press [P, 1], plus x = the vertex normals and weights = vertex areas (from the centroids, see
 * vertexAreasFromCentroids). The file's coordinates and distances are already normalised (neuralop
 * normalises them when it builds the dataset); the pressure normaliser is fitted by the run
 * (data.encode_output), on its training set.
 */
export function loadCarPt(path: string, opts: { n?: number } = {}): PointCloudDataset {
  return carsFromPt(readPt(path), path, opts);
}

/** loadCarPt on a parsed .pt value (parsePt of the file's bytes); `path` names it in errors. */
export function carsFromPt(v: PtValue, path: string, opts: { n?: number } = {}): PointCloudDataset {
  if (!Array.isArray(v)) throw new TypeError(`${path}: expected a list of car samples (dicts), got ${v === null ? 'None' : typeof v}`);
  const samples: PointSample[] = [];
  let queries: Tensor | undefined;
  try {
    v.forEach((d, i) => {
      if (d === null || typeof d !== 'object' || Array.isArray(d) || isPtTensor(d) || d instanceof Uint8Array) throw new TypeError(`${path}: sample ${i} is not a dict`);
      const dict = d as Record<string, unknown>;
      const grab = (k: string, rank: number): PtTensor => {
        const t = dict[k];
        if (!isPtTensor(t)) throw new TypeError(`${path}: sample ${i} has no tensor '${k}' (keys: ${Object.keys(dict).join(', ')})`);
        if (t.shape.length !== rank) throw new RangeError(`${path}: sample ${i} '${k}' has shape [${t.shape.join(', ')}]; expected ${rank} axes`);
        return t;
      };
      const press = grab('press', 2);
      const verts = grab('vertices', 2);
      const P = press.shape[1]!;
      if (press.shape[0] !== 1 || verts.shape[1] !== 3 || verts.shape[0]! < P) {
        throw new RangeError(`${path}: sample ${i}: press [${press.shape.join(', ')}] must be [1, P] with P ≤ the ${verts.shape[0]} vertices [${verts.shape.join(', ')}]`);
      }
      const normals = grab('vertex_normals', 2);
      const dist = grab('distance', 4);
      const qp = grab('query_points', 4);
      const cent = grab('centroids', 2);
      const load = (t: PtTensor, k: string): Tensor => {
        const x = ptToTensor(t, 'float32', 'data');
        try {
          checkFinite(x, `${path}: sample ${i} '${k}'`);
        } catch (e) {
          x.release();
          throw e;
        }
        return x;
      };
      const vt = load(verts, 'vertices');
      const geom = Tensor.fromArray(vt.toFloat64().subarray(0, 3 * P), [P, 3], 'float32', 'data');
      vt.release();
      const nt = load(normals, 'vertex_normals');
      const x = Tensor.fromArray(nt.toFloat64().subarray(0, 3 * P), [P, 3], 'float32', 'data');
      nt.release();
      const ct = load(cent, 'centroids');
      const weights = Tensor.fromArray(vertexAreasFromCentroids(geom.toFloat64(), ct.toFloat64()), [P], 'float32', 'data');
      ct.release();
      const dt = load(dist, 'distance');
      const [G1, G2, G3] = dist.shape as [number, number, number];
      const lf = dt.reshapeOwned([1, G1, G2, G3]);
      const q = load(qp, 'query_points');
      if (!shapeEq(qp.shape, [G1, G2, G3, 3])) throw new RangeError(`${path}: sample ${i}: query_points [${qp.shape.join(', ')}] must be the distance grid [${G1}, ${G2}, ${G3}] × 3`);
      if (queries === undefined) queries = q;
      else {
        const a = queries.toFloat64();
        const b = q.toFloat64();
        q.release();
        if (a.some((x, k) => x !== b[k])) throw new RangeError(`${path}: sample ${i} has other latent query points than sample 0 (GINO shares one latent grid per batch)`);
      }
      const y = load(press, 'press').reshapeOwned([P, 1]);
      samples.push({ input_geom: geom, x, weights, latent_features: lf, y });
    });
  } catch (e) {
    for (const s of samples) for (const t of Object.values(s)) t.release();
    queries?.release();
    throw e;
  }
  if (!queries) throw new RangeError(`${path}: the list of car samples is empty`);
  return new PointCloudDataset(firstSamples(samples, opts.n, path), new Set(['input_geom', 'x', 'weights', 'y']), { latent_queries: queries }, path);
}

/** The arrays of one generated body that a bodies file stores (the SDF on the latent grid [G³], ij order). */
export type BodyArrays = Pick<BodySample, 'vertices' | 'normals' | 'vertexAreas' | 'cp' | 'triangles' | 'sdf'>;

/** Range of the signed distance on the latent grid of the unit cube (a body inside the cube): [−½, √3]. */
export const SDF_RANGE: readonly [number, number] = [-0.5, Math.sqrt(3)];

/** neuralop's range normalisation of the SDF to [1e-6, 1], here over the fixed range SDF_RANGE (the same for every file). */
export function normalizeSdf(d: number): number {
  return ((d - SDF_RANGE[0]) / (SDF_RANGE[1] - SDF_RANGE[0])) * (1 - 1e-6) + 1e-6;
}

/** The latent grid linspace(0, 1, G) per axis, [G, G, G, 3] in ij order. */
export function unitGrid(G: number): Float32Array {
  const q = new Float32Array(G * G * G * 3);
  const t = (i: number) => (G === 1 ? 0 : i / (G - 1));
  let o = 0;
  for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) for (let k = 0; k < G; k++) {
    q[o++] = t(i);
    q[o++] = t(j);
    q[o++] = t(k);
  }
  return q;
}


/**
 * Reads a generated bodies file as a point dataset: input_geom = vertices, x = normals, weights =
 * areas, y = cp (per sample's points), latent_features = sdf, latent_queries = query_points.
 */
export function loadBodies(path: string, opts: { n?: number } = {}): PointCloudDataset {
  let bytes: Uint8Array;
  try {
    bytes = platform.readFile(path);
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code === 'ENOENT') throw new Error(`${path}: no such data file`);
    throw e;
  }
  return bodiesFromContents(decodeSafetensors(bytes, path, { role: 'data' }), path, opts);
}

/** loadBodies on a decoded safetensors file (takes its tensors: they are released); `path` names it in errors. */
export function bodiesFromContents(contents: SafetensorsContents, path: string, opts: { n?: number } = {}): PointCloudDataset {
  const { tensors, metadata } = contents;
  const all = Object.values(tensors);
  try {
    const meta = metadata['mpno'] ? (JSON.parse(metadata['mpno']) as DatasetMeta) : undefined;
    const P = meta?.params['points'];
    if (!meta || meta.params['layout'] !== 'points' || !Array.isArray(P)) throw new Error(`${path}: not an mpno point dataset (no point counts in its metadata)`);
    const counts = P as number[];
    const need = ['vertices', 'normals', 'areas', 'cp', 'sdf', 'query_points'];
    for (const k of need) if (!tensors[k]) throw new Error(`${path}: a bodies file needs tensor '${k}' (found ${Object.keys(tensors).join(', ')})`);
    const total = counts.reduce((a, b) => a + b, 0);
    const sdf = tensors['sdf']!;
    const N = counts.length;
    if (tensors['vertices']!.shape[0] !== total || sdf.shape[0] !== N || sdf.ndim !== 5) {
      throw new RangeError(`${path}: ${N} samples of ${total} points in the metadata, but vertices ${fmtShape(tensors['vertices']!.shape)} and sdf ${fmtShape(sdf.shape)}`);
    }
    for (const k of need) {
      if (tensors[k]!.dtype !== 'float32') throw new RangeError(`${path}: tensor '${k}' is ${tensors[k]!.dtype}; a bodies file stores float32`);
      checkFinite(tensors[k]!, `${path}: tensor '${k}'`);
    }
    const seg = rowPointers(counts);
    const G = sdf.shape.slice(2);
    const S = shapeSize(G);
    // every sample's rows copied out of the file's float32 tensors (the stored values, no conversion)
    const copy = (t: Tensor, first: number, end: number, shape: readonly number[]) => {
      const out = Tensor.empty(shape, 'float32', 'data');
      out.data.set((t.data as Float32Array).subarray(first, end));
      return out;
    };
    const rows = (t: Tensor, b: number, shape: readonly number[]) => {
      const per = t.size / t.shape[0]!;
      return copy(t, seg[b]! * per, seg[b + 1]! * per, [counts[b]!, ...shape]);
    };
    const samples: PointSample[] = [];
    for (let b = 0; b < N; b++) {
      samples.push({
        input_geom: rows(tensors['vertices']!, b, [3]),
        x: rows(tensors['normals']!, b, [3]),
        weights: rows(tensors['areas']!, b, []),
        y: rows(tensors['cp']!, b, [1]),
        latent_features: copy(sdf, b * S, (b + 1) * S, [1, ...G]),
      });
    }
    const queries = tensors['query_points']!.clone();
    return new PointCloudDataset(firstSamples(samples, opts.n, path), new Set(['input_geom', 'x', 'weights', 'y']), { latent_queries: queries }, path);
  } finally {
    for (const t of all) t.release();
  }
}
