/**
 * Synthetic car-like bodies, their surface meshes, and the surface pressure coefficient Cp of steady
 * inviscid incompressible (potential) flow around them, for training a GINO model (geometry → surface
 * pressure).
 *
 * Axes (as neuralop's car CFD data): x lateral (width), y up (height), z streamwise (length). The free
 * stream is V∞ = (0, 0, 1): the flow goes toward +z, so the nose is at the body's minimum z.
 *
 * Shape. Start from a point s = (sinθ cosφ, sinθ sinφ, −cosθ) of the unit sphere (θ measured from the
 * nose direction −z). The body point along the ray through (a s_x, b s_y, c s_z) is
 *   X = (a s_x, b s_y, c s_z)·(|s_x|^p + |s_y|^p + |s_z|^p)^(−1/p)·(1 + Σ_k β_k f_k(s)),
 * which is the superellipsoid r(u) = (|u_x/a|^p + |u_y/b|^p + |u_z/c|^p)^(−1/p) along the unit ray u
 * (a = width/2, b = height/2, c = length/2, p = exponent), times a smooth positive perturbation of
 * low-order terms f_k (BODY_BUMP_TERMS, |f_k| ≤ 1) whose factor stays in [0.5, 1.5] (sampled: within
 * ±0.29). The map s ↦ (a s_x, b s_y, c s_z)/|…| is a diffeomorphism of the sphere of directions, so the
 * points are those of the radial surface r(u)·u; the parametrisation only spreads the vertices along
 * the body's length instead of crowding them where equal ray angles would (mid-sides, with a coarse
 * nose and tail). Then
 *   taper: x, y ← x·(1 + τ z/c), y·(1 + τ z/c), the factor kept > 0.5 on the body;
 *   floor: y ← y_f + (t + √(t² + δ²))/2, t = y − y_f, y_f = −floor·b, δ = BODY_FLOOR_SMOOTHING·b.
 * Why the surface is closed and simple: a star-shaped radial surface r(u)·u with r continuous and
 * positive is the image of the sphere under an injective map (one point per ray), hence a simple
 * closed surface; the taper is a homeomorphism of the slab where its factor is positive (z is kept,
 * then x and y are divided by the positive factor to invert it) and the floor map is a strictly
 * increasing function of y alone (derivative (1 + t/√(t² + δ²))/2 > 0), so both are injective maps
 * of space and map a simple closed surface to a simple closed surface. All three have positive
 * Jacobian determinant, so the outward orientation of the sphere mesh is kept. The floor map flattens
 * the part below y_f into a thin layer above y_f with a rounded edge of radius about δ.
 *
 * Mesh. A latitude–longitude mesh: the nose pole (vertex 0), nTheta rings of nPhi vertices
 * (vertex 1 + k·nPhi + m on ring k at θ_k = π(k+1)/(nTheta+1), φ = 2π(m + k/2)/nPhi: each ring is
 * turned half a step against the previous one, which makes the band triangles nearly equilateral),
 * and the tail pole (vertex V − 1); V = nTheta·nPhi + 2, T = 2·nTheta·nPhi, counter-clockwise seen
 * from outside. With nPhi even the mesh is mirror-symmetric under x → −x (and always under y → −y).
 *
 * Panel method (Hess–Smith, constant source density σ_j per flat triangle). At each centroid c_i the
 * normal velocity vanishes: n_i·V∞ + Σ_j A_ij σ_j = 0 with A_ii = 1/2 (the outward limit of a flat
 * constant source panel) and A_ij = n_i·u_j(c_i), u_j(x) = (1/4π)∫_{panel j} (x − y)/|x − y|³ dA_y.
 * Near panels (|c_i − c_j| < PANEL_EXACT_FACTOR · D_j, D_j the diameter of panel j's centroid-centred
 * enclosing ball) are integrated exactly with the closed form for a flat triangle (instead of a
 * subdivided quadrature, which converges slowly next to the shared edges of adjacent panels)
 *   u_j(x) = (1/4π)·[Σ_edges m_e ln((r₁ + r₂ + ℓ)/(r₁ + r₂ − ℓ)) + n_j Ω_j(x)],
 * m_e the outward in-plane unit normal of edge e (length ℓ, endpoint distances r₁, r₂) and Ω_j the
 * signed solid angle of the triangle seen from x (Van Oosterom–Strackee); panels up to
 * PANEL_NEAR_FACTOR · D_j with the 3-point Strang–Fix rule (degree 2); farther panels are point
 * sources of strength σ_j·area_j at the centroid. The operator ½I + K is of the second kind with
 * eigenvalues near ½…1, so restarted GMRES(40) without preconditioner converges in about 4 (sphere)
 * to 10 (car bodies) iterations to the relative residual tol. Up to PANEL_DENSE_MAX panels the
 * operator is stored dense (one pair pass); above, it is applied matrix-free (the far field
 * recomputed per product as a symmetric pair loop); the near-field corrections (closed form or
 * 3-point rule, minus the point source) are kept in CSR either way (28 bytes per near entry). The
 * velocity at c_i is V∞ + Σ_{j≠i} σ_j u_j(c_i) plus the panel's own in-plane velocity σ_i·u_i^t(c_i)
 * (the closed form at its own centroid, normal part dropped), projected onto the tangent plane, and
 * Cp = 1 − |V_t|²/|V∞|². Vertex values: the area-weighted mean of the adjacent panels' Cp.
 *
 * Measured choices (sphere, lat–long meshes nTheta = 8, 16, 32, nPhi = 2·nTheta). Leaving the own
 * in-plane velocity out (Hess–Smith's null-point approximation, exact only at the panel's null point,
 * not at its centroid) makes the panel Cp error stall at RMS 0.023, 0.026, 0.031; with it the error
 * falls, 0.031, 0.018, 0.010. PANEL_NEAR_FACTOR: 1.5 to 8 change the sphere's Cp errors by < 0.002;
 * on a 970-vertex car body, against factor 12, the largest panel Cp change is 7e-3 at factor 1,
 * 4e-3 at 2, 1e-3 at 3, 2e-4 at 4, while the near pairs (memory and set-up time) grow about with
 * the factor squared; 3 keeps the far-field error an order below the discretisation error (≈ 1e-2).
 * The 3-point rule beyond 1.5 diameters changes Cp by at most 1e-4 (that body, and a sphere) against
 * the closed form everywhere in the near zone, at a fraction of its cost.
 *
 * Data set. Sample i of a data set with seed `seed` draws from new Rng(streamSeed(seed, start + i)):
 * first its BodyParams (sampleBodyParams), then its mesh size. Coordinates are stored normalised to
 * [0, 1]³ by the fixed box bodyBox(); normals, vertex areas and the signed distance grid are computed
 * in the normalised coordinates, Cp on the physical mesh.
 */
import { Rng, streamSeed } from '../../core/rng.js';

/** A triangle mesh: vertex coordinates and vertex-index triples. */
export interface TriMesh {
  /** Vertex coordinates [V·3] (x, y, z per vertex). */
  vertices: Float64Array;
  /** Vertex indices [T·3], oriented outward (counter-clockwise seen from outside). */
  triangles: Int32Array;
}

/** The parameters of one body; see the module comment for the shape they define. */
export interface BodyParams {
  /** Length along z (2c). */
  length: number;
  /** Width along x (2a). */
  width: number;
  /** Height along y (2b), before perturbation and flattening. */
  height: number;
  /** Superellipsoid exponent p (2: ellipsoid; larger: boxier). */
  exponent: number;
  /** Taper τ: x and y scale by 1 + τ·z/c (τ > 0: wider tail). */
  taper: number;
  /** Flat underside at y_f = −floor·b (smaller: flatter, higher floor). */
  floor: number;
  /** Coefficients β_k of BODY_BUMP_TERMS (as many as there are terms). */
  bumps: number[];
}

/** Geometric quantities of a triangle mesh. */
export interface MeshGeometry {
  /** Triangle areas [T]. */
  areas: Float64Array;
  /** Unit outward triangle normals [T·3]. */
  normals: Float64Array;
  /** Triangle centroids [T·3]. */
  centroids: Float64Array;
  /** Area-weighted vertex normals, unit length [V·3]. */
  vertexNormals: Float64Array;
  /** One third of the areas of the adjacent triangles [V]. */
  vertexAreas: Float64Array;
}

/** The result of the source-panel method. */
export interface PanelSolution {
  /** Cp at the panel centroids [T]. */
  cpPanels: Float64Array;
  /** Cp at the vertices (area-weighted mean of the adjacent panels) [V]. */
  cpVertices: Float64Array;
  /** Source densities σ_j [T]. */
  sigma: Float64Array;
  /** GMRES iterations (operator applications inside the Krylov loop). */
  iterations: number;
  /** True relative residual ‖b − Aσ‖₂/‖b‖₂ of the returned σ. */
  residual: number;
}

/** One generated body. Coordinates, normals, areas and sdf are in the normalised box coordinates. */
export interface BodySample {
  /** Vertex coordinates in [0, 1]³ [V·3]. */
  vertices: Float32Array;
  /** Unit area-weighted vertex normals (normalised coordinates) [V·3]. */
  normals: Float32Array;
  /** Vertex areas (normalised coordinates) [V]. */
  vertexAreas: Float32Array;
  /** Vertex Cp of the physical body [V]. */
  cp: Float32Array;
  /** Triangles [T·3]. */
  triangles: Int32Array;
  /** Signed distance to the normalised surface on the grid linspace(0, 1, G)³, index (i·G + j)·G + k. */
  sdf: Float32Array;
  params: BodyParams;
  panelResidual: number;
  panelIterations: number;
}

/** Options of generateBodies. */
export interface GenerateBodiesOptions {
  /** Number of samples (≥ 1). */
  n: number;
  /** Index of the first sample (default 0), for sharding. */
  start?: number;
  seed: number;
  /** Largest vertex count; each body has between ⌈0.75·points⌉ and points vertices (≥ 50). */
  points: number;
  /** Latent SDF grid size G per axis (default 16, ≥ 2). */
  grid?: number;
  /** Called after each sample with its index. */
  onSample?: (i: number) => void;
}

/** A mesh with an out-of-range index, a non-finite vertex or a degenerate triangle. */
export class BodyMeshError extends RangeError {
  override name = 'BodyMeshError';
  constructor(
    message: string,
    /** The offending triangle (−1 when the fault is not in one triangle). */
    readonly triangle: number,
  ) {
    super(message);
  }
}

/** Bad options or body parameters. */
export class BodyOptionsError extends RangeError {
  override name = 'BodyOptionsError';
}

/** GMRES did not reach the tolerance within maxIter iterations. */
export class PanelConvergenceError extends Error {
  override name = 'PanelConvergenceError';
  constructor(
    message: string,
    readonly iterations: number,
    readonly residual: number,
  ) {
    super(message);
  }
}

/** The perturbation terms f_k(s) of s on the unit sphere (each |f_k| ≤ 1), in BodyParams.bumps order. */
export const BODY_BUMP_TERMS: readonly string[] = Object.freeze([
  's_z (fore/aft asymmetry)',
  's_y (top/bottom asymmetry)',
  '2·s_y·s_z (cabin moved fore or aft)',
  's_y² − s_x² (taller or wider sections)',
  '(3·s_z² − 1)/2 (blunter or more pointed ends)',
  's_x (left/right asymmetry)',
]);

/** Sampled half-ranges of the bump coefficients: β_k uniform in [−h_k, h_k] (Σ h_k = 0.29). */
export const BODY_BUMP_AMPLITUDES: readonly number[] = Object.freeze([0.06, 0.05, 0.06, 0.05, 0.05, 0.02]);

/** max |f_k| over the sphere, per term. */
const BUMP_MAX = [1, 1, 1, 1, 1, 1];

/** Ranges [low, high] of sampleBodyParams (uniform); lengths in one arbitrary unit (metres, say). */
export const BODY_RANGES = Object.freeze({
  length: [3.6, 4.8] as const,
  width: [1.6, 2.0] as const,
  height: [1.2, 1.6] as const,
  exponent: [2, 4] as const,
  taper: [-0.1, 0.2] as const,
  floor: [0.5, 0.9] as const,
});

/** Floor smoothing width δ relative to b = height/2. */
export const BODY_FLOOR_SMOOTHING = 0.1;

/** Panels closer than this many of their diameters are integrated exactly, the rest as point sources. */
export const PANEL_NEAR_FACTOR = 3;

/** Near panels closer than this many of their diameters use the closed form, the others the 3-point rule. */
export const PANEL_EXACT_FACTOR = 1.5;

/** Up to this many panels the operator is stored dense (8·N² bytes, 50 MB at the limit); above, matrix-free. */
export const PANEL_DENSE_MAX = 2500;

/** GMRES restart length. */
const GMRES_RESTART = 40;

/** Defaults of sourcePanelCp. */
export const PANEL_DEFAULTS = Object.freeze({ freestream: [0, 0, 1] as const, tol: 1e-6, maxIter: 500 });

const FOUR_PI = 4 * Math.PI;

/**
 * Random car-like proportions, uniform in BODY_RANGES, bumps uniform in ±BODY_BUMP_AMPLITUDES; draws
 * length, width, height, exponent, taper, floor, then the bumps, in that order.
 */
export function sampleBodyParams(rng: Rng): BodyParams {
  const r = BODY_RANGES;
  const length = rng.uniform(r.length[0], r.length[1]);
  const width = rng.uniform(r.width[0], r.width[1]);
  const height = rng.uniform(r.height[0], r.height[1]);
  const exponent = rng.uniform(r.exponent[0], r.exponent[1]);
  const taper = rng.uniform(r.taper[0], r.taper[1]);
  const floor = rng.uniform(r.floor[0], r.floor[1]);
  const bumps = BODY_BUMP_AMPLITUDES.map((h) => rng.uniform(-h, h));
  return { length, width, height, exponent, taper, floor, bumps };
}

function checkInt(v: number, min: number, what: string, op: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new BodyOptionsError(`${op}: ${what} must be an integer ≥ ${min}, got ${String(v)}`);
  }
}

function checkParams(p: BodyParams): number {
  const op = 'bodyMesh';
  for (const k of ['length', 'width', 'height', 'exponent'] as const) {
    if (typeof p[k] !== 'number' || !Number.isFinite(p[k]) || p[k] <= 0) throw new BodyOptionsError(`${op}: ${k} must be a positive finite number, got ${String(p[k])}`);
  }
  if (p.exponent < 1) throw new BodyOptionsError(`${op}: exponent must be ≥ 1 (a convex superellipsoid), got ${p.exponent}`);
  if (typeof p.floor !== 'number' || !Number.isFinite(p.floor) || p.floor < 0) throw new BodyOptionsError(`${op}: floor must be a finite number ≥ 0, got ${String(p.floor)}`);
  if (!Array.isArray(p.bumps) || p.bumps.length !== BODY_BUMP_TERMS.length || p.bumps.some((b) => typeof b !== 'number' || !Number.isFinite(b))) {
    throw new BodyOptionsError(`${op}: bumps must be ${BODY_BUMP_TERMS.length} finite numbers`);
  }
  let amp = 0;
  for (let k = 0; k < p.bumps.length; k++) amp += Math.abs(p.bumps[k]!) * BUMP_MAX[k]!;
  if (amp > 0.5) throw new BodyOptionsError(`${op}: Σ|bumps| = ${amp} exceeds 0.5 (the perturbation factor must stay in [0.5, 1.5])`);
  if (typeof p.taper !== 'number' || !Number.isFinite(p.taper) || Math.abs(p.taper) * (1 + amp) >= 0.5) {
    throw new BodyOptionsError(`${op}: |taper|·(1 + Σ|bumps|) must be < 0.5 (taper factor > 0.5), got taper ${String(p.taper)}`);
  }
  return amp;
}

function checkSphereSizes(nTheta: number, nPhi: number, op: string): void {
  checkInt(nTheta, 2, 'nTheta', op);
  checkInt(nPhi, 3, 'nPhi', op);
}

/** Lat–long triangle list (see the module comment for the layout). */
function latLongTriangles(nTheta: number, nPhi: number): Int32Array {
  const tri = new Int32Array(6 * nTheta * nPhi);
  const ring = (k: number, m: number): number => 1 + k * nPhi + (((m % nPhi) + nPhi) % nPhi);
  const tail = nTheta * nPhi + 1;
  let t = 0;
  const put = (a: number, b: number, c: number): void => {
    tri[t++] = a;
    tri[t++] = b;
    tri[t++] = c;
  };
  for (let m = 0; m < nPhi; m++) put(0, ring(0, m + 1), ring(0, m));
  for (let k = 0; k + 1 < nTheta; k++) {
    // Ring k + 1 vertex m sits between ring-k vertices m and m + 1 (half-step turn).
    for (let m = 0; m < nPhi; m++) {
      put(ring(k, m), ring(k, m + 1), ring(k + 1, m));
      put(ring(k, m + 1), ring(k + 1, m + 1), ring(k + 1, m));
    }
  }
  const last = nTheta - 1;
  for (let m = 0; m < nPhi; m++) put(tail, ring(last, m), ring(last, m + 1));
  return tri;
}

/** Unit-sphere parameter points s [V·3] of the lat–long layout, nose pole (0, 0, −1) first. */
function latLongDirections(nTheta: number, nPhi: number): Float64Array {
  const V = nTheta * nPhi + 2;
  const s = new Float64Array(3 * V);
  s[2] = -1;
  for (let k = 0; k < nTheta; k++) {
    const th = (Math.PI * (k + 1)) / (nTheta + 1);
    const st = Math.sin(th);
    const ct = Math.cos(th);
    for (let m = 0; m < nPhi; m++) {
      const ph = (2 * Math.PI * (m + k / 2)) / nPhi;
      const v = 1 + k * nPhi + m;
      s[3 * v] = st * Math.cos(ph);
      s[3 * v + 1] = st * Math.sin(ph);
      s[3 * v + 2] = -ct;
    }
  }
  s[3 * (V - 1) + 2] = 1;
  return s;
}

/** A lat–long mesh of the sphere of the given radius about the origin, poles on the z axis. */
export function sphereMesh(radius: number, nTheta: number, nPhi: number): TriMesh {
  if (typeof radius !== 'number' || !Number.isFinite(radius) || radius <= 0) throw new BodyOptionsError(`sphereMesh: radius must be a positive finite number, got ${String(radius)}`);
  checkSphereSizes(nTheta, nPhi, 'sphereMesh');
  const vertices = latLongDirections(nTheta, nPhi);
  for (let i = 0; i < vertices.length; i++) vertices[i]! *= radius;
  return { vertices, triangles: latLongTriangles(nTheta, nPhi) };
}

/** The body surface of the module comment on a lat–long mesh (nTheta rings of nPhi vertices). */
export function bodyMesh(p: BodyParams, nTheta: number, nPhi: number): TriMesh {
  checkParams(p);
  checkSphereSizes(nTheta, nPhi, 'bodyMesh');
  const s = latLongDirections(nTheta, nPhi);
  const a = p.width / 2;
  const b = p.height / 2;
  const c = p.length / 2;
  const e = p.exponent;
  const yf = -p.floor * b;
  const d2 = (BODY_FLOOR_SMOOTHING * b) ** 2;
  const bm = p.bumps;
  const V = s.length / 3;
  const vertices = new Float64Array(3 * V);
  for (let v = 0; v < V; v++) {
    const sx = s[3 * v]!;
    const sy = s[3 * v + 1]!;
    const sz = s[3 * v + 2]!;
    const lam = (Math.abs(sx) ** e + Math.abs(sy) ** e + Math.abs(sz) ** e) ** (-1 / e);
    const f = 1 + bm[0]! * sz + bm[1]! * sy + bm[2]! * 2 * sy * sz + bm[3]! * (sy * sy - sx * sx) + (bm[4]! * (3 * sz * sz - 1)) / 2 + bm[5]! * sx;
    const z = c * sz * lam * f;
    const tp = 1 + (p.taper * z) / c;
    const x = a * sx * lam * f * tp;
    const y0 = b * sy * lam * f * tp;
    const t = y0 - yf;
    vertices[3 * v] = x;
    vertices[3 * v + 1] = yf + (t + Math.sqrt(t * t + d2)) / 2;
    vertices[3 * v + 2] = z;
  }
  return { vertices, triangles: latLongTriangles(nTheta, nPhi) };
}

function checkMeshArrays(m: TriMesh, op: string): { V: number; T: number } {
  if (!m || !(m.vertices instanceof Float64Array) || m.vertices.length % 3 !== 0 || m.vertices.length === 0) {
    throw new BodyMeshError(`${op}: vertices must be a non-empty Float64Array of length V·3`, -1);
  }
  if (!(m.triangles instanceof Int32Array) || m.triangles.length % 3 !== 0 || m.triangles.length === 0) {
    throw new BodyMeshError(`${op}: triangles must be a non-empty Int32Array of length T·3`, -1);
  }
  return { V: m.vertices.length / 3, T: m.triangles.length / 3 };
}

/**
 * Areas, unit normals and centroids of the triangles, and area-weighted unit vertex normals and
 * vertex areas (a third of each adjacent triangle). Throws BodyMeshError (a RangeError) naming the
 * triangle for an index out of range, a non-finite vertex, or an area below 1e-12 × the mean area.
 */
export function meshGeometry(m: TriMesh): MeshGeometry {
  const { V, T } = checkMeshArrays(m, 'meshGeometry');
  const X = m.vertices;
  const tri = m.triangles;
  const areas = new Float64Array(T);
  const normals = new Float64Array(3 * T);
  const centroids = new Float64Array(3 * T);
  const vertexNormals = new Float64Array(3 * V);
  const vertexAreas = new Float64Array(V);
  let total = 0;
  for (let t = 0; t < T; t++) {
    const ia = tri[3 * t]!;
    const ib = tri[3 * t + 1]!;
    const ic = tri[3 * t + 2]!;
    if (ia < 0 || ia >= V || ib < 0 || ib >= V || ic < 0 || ic >= V) {
      throw new BodyMeshError(`meshGeometry: triangle ${t} has a vertex index out of range [0, ${V}): (${ia}, ${ib}, ${ic})`, t);
    }
    const ax = X[3 * ia]!, ay = X[3 * ia + 1]!, az = X[3 * ia + 2]!;
    const bx = X[3 * ib]!, by = X[3 * ib + 1]!, bz = X[3 * ib + 2]!;
    const cx = X[3 * ic]!, cy = X[3 * ic + 1]!, cz = X[3 * ic + 2]!;
    const ux = bx - ax, uy = by - ay, uz = bz - az;
    const vx = cx - ax, vy = cy - ay, vz = cz - az;
    const nx = uy * vz - uz * vy;
    const ny = uz * vx - ux * vz;
    const nz = ux * vy - uy * vx;
    const len = Math.sqrt(nx * nx + ny * ny + nz * nz);
    const area = len / 2;
    if (!Number.isFinite(area) || !Number.isFinite(ax + ay + az + bx + by + bz + cx + cy + cz)) {
      throw new BodyMeshError(`meshGeometry: triangle ${t} has a non-finite vertex coordinate`, t);
    }
    areas[t] = area;
    total += area;
    if (len > 0) {
      normals[3 * t] = nx / len;
      normals[3 * t + 1] = ny / len;
      normals[3 * t + 2] = nz / len;
    }
    centroids[3 * t] = (ax + bx + cx) / 3;
    centroids[3 * t + 1] = (ay + by + cy) / 3;
    centroids[3 * t + 2] = (az + bz + cz) / 3;
  }
  const minArea = (1e-12 * total) / T;
  for (let t = 0; t < T; t++) {
    const area = areas[t]!;
    if (!(area > minArea)) {
      throw new BodyMeshError(`meshGeometry: triangle ${t} is degenerate (area ${area} ≤ 1e-12 × mean area ${total / T})`, t);
    }
    const wx = normals[3 * t]! * area, wy = normals[3 * t + 1]! * area, wz = normals[3 * t + 2]! * area;
    for (let q = 0; q < 3; q++) {
      const v = tri[3 * t + q]!;
      vertexAreas[v]! += area / 3;
      vertexNormals[3 * v]! += wx;
      vertexNormals[3 * v + 1]! += wy;
      vertexNormals[3 * v + 2]! += wz;
    }
  }
  for (let v = 0; v < V; v++) {
    const x = vertexNormals[3 * v]!, y = vertexNormals[3 * v + 1]!, z = vertexNormals[3 * v + 2]!;
    const len = Math.sqrt(x * x + y * y + z * z);
    if (len > 0) {
      vertexNormals[3 * v] = x / len;
      vertexNormals[3 * v + 1] = y / len;
      vertexNormals[3 * v + 2] = z / len;
    }
  }
  return { areas, normals, centroids, vertexNormals, vertexAreas };
}

/** The three vertices and their distances of one flat-triangle evaluation (a scratch, so the edge loop allocates nothing). */
const EDGE_SCRATCH = new Float64Array(12);

/**
 * The velocity (1/4π)∫_T (x − y)/|x − y|³ dA_y of a unit constant source density on the flat
 * triangle T = (a, b, c) with unit normal n (counter-clockwise about n), in closed form; written to
 * out[0..2]. x must not lie on the triangle's edges.
 */
function triangleSourceVelocity(X: Float64Array, ia: number, ib: number, ic: number, nx: number, ny: number, nz: number, px: number, py: number, pz: number, out: Float64Array): void {
  const ax = X[3 * ia]! - px, ay = X[3 * ia + 1]! - py, az = X[3 * ia + 2]! - pz;
  const bx = X[3 * ib]! - px, by = X[3 * ib + 1]! - py, bz = X[3 * ib + 2]! - pz;
  const cx = X[3 * ic]! - px, cy = X[3 * ic + 1]! - py, cz = X[3 * ic + 2]! - pz;
  const ra = Math.sqrt(ax * ax + ay * ay + az * az);
  const rb = Math.sqrt(bx * bx + by * by + bz * bz);
  const rc = Math.sqrt(cx * cx + cy * cy + cz * cz);
  let ux = 0, uy = 0, uz = 0;
  // Edge a→b, b→c, c→a: m_e = (e × n)/|e|, weight ln((r1 + r2 + ℓ)/(r1 + r2 − ℓ)).
  const v = EDGE_SCRATCH;
  v[0] = ax; v[1] = ay; v[2] = az; v[3] = bx; v[4] = by; v[5] = bz; v[6] = cx; v[7] = cy; v[8] = cz;
  v[9] = ra; v[10] = rb; v[11] = rc;
  for (let e = 0; e < 3; e++) {
    const i = 3 * e;
    const j = 3 * ((e + 1) % 3);
    const ex = v[j]! - v[i]!, ey = v[j + 1]! - v[i + 1]!, ez = v[j + 2]! - v[i + 2]!;
    const l = Math.sqrt(ex * ex + ey * ey + ez * ez);
    const s = v[9 + e]! + v[9 + ((e + 1) % 3)]!;
    const w = Math.log((s + l) / (s - l)) / l;
    ux += w * (ey * nz - ez * ny);
    uy += w * (ez * nx - ex * nz);
    uz += w * (ex * ny - ey * nx);
  }
  // Solid angle, positive on the side n points to: det[a, b, c] < 0 there.
  const det = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx);
  const den = ra * rb * rc + (ax * bx + ay * by + az * bz) * rc + (ax * cx + ay * cy + az * cz) * rb + (bx * cx + by * cy + bz * cz) * ra;
  const omega = -2 * Math.atan2(det, den);
  out[0] = (ux + omega * nx) / FOUR_PI;
  out[1] = (uy + omega * ny) / FOUR_PI;
  out[2] = (uz + omega * nz) / FOUR_PI;
}

/** Panel data shared by the operator and the velocity evaluation. */
interface PanelSystem {
  N: number;
  cx: Float64Array;
  cy: Float64Array;
  cz: Float64Array;
  nx: Float64Array;
  ny: Float64Array;
  nz: Float64Array;
  /** area/(4π) */
  w: Float64Array;
  /** Near-field CSR: corrections (exact − point source) per unit σ_j, 3 per entry. */
  nearStart: Int32Array;
  nearIdx: Int32Array;
  nearVel: Float64Array;
  /** In-plane velocity of each panel at its own centroid per unit σ [T·3]. */
  selfVel: Float64Array;
  /** Scratch: q_j = σ_j·area_j/(4π). */
  q: Float64Array;
}

function buildPanelSystem(m: TriMesh, g: MeshGeometry): PanelSystem {
  const T = g.areas.length;
  const X = m.vertices;
  const tri = m.triangles;
  const cx = new Float64Array(T), cy = new Float64Array(T), cz = new Float64Array(T);
  const nx = new Float64Array(T), ny = new Float64Array(T), nz = new Float64Array(T);
  const w = new Float64Array(T);
  const diam = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    cx[t] = g.centroids[3 * t]!;
    cy[t] = g.centroids[3 * t + 1]!;
    cz[t] = g.centroids[3 * t + 2]!;
    nx[t] = g.normals[3 * t]!;
    ny[t] = g.normals[3 * t + 1]!;
    nz[t] = g.normals[3 * t + 2]!;
    w[t] = g.areas[t]! / FOUR_PI;
    let r2 = 0;
    for (let q = 0; q < 3; q++) {
      const v = tri[3 * t + q]!;
      const dx = X[3 * v]! - cx[t]!, dy = X[3 * v + 1]! - cy[t]!, dz = X[3 * v + 2]! - cz[t]!;
      r2 = Math.max(r2, dx * dx + dy * dy + dz * dz);
    }
    diam[t] = 2 * Math.sqrt(r2);
  }
  // Near entries (i, j), i ≠ j: |c_i − c_j| < PANEL_NEAR_FACTOR·D_j (the source panel's size sets the
  // point-source error). pairs holds (i, j, flags): bit 0 entry (i, j), bit 1 entry (j, i), for i < j.
  let pairs = new Int32Array(3 << 14);
  let np = 0;
  const count = new Int32Array(T + 1);
  const k2 = PANEL_NEAR_FACTOR * PANEL_NEAR_FACTOR;
  for (let i = 0; i < T; i++) {
    const xi = cx[i]!, yi = cy[i]!, zi = cz[i]!, di2 = k2 * diam[i]! * diam[i]!;
    for (let j = i + 1; j < T; j++) {
      const dx = xi - cx[j]!, dy = yi - cy[j]!, dz = zi - cz[j]!;
      const r2 = dx * dx + dy * dy + dz * dz;
      const dj = diam[j]!;
      const flags = (r2 < k2 * dj * dj ? 1 : 0) | (r2 < di2 ? 2 : 0);
      if (flags !== 0) {
        if (3 * np + 3 > pairs.length) {
          const grown = new Int32Array(2 * pairs.length);
          grown.set(pairs);
          pairs = grown;
        }
        pairs[3 * np] = i;
        pairs[3 * np + 1] = j;
        pairs[3 * np + 2] = flags;
        np++;
        if (flags & 1) count[i + 1]!++;
        if (flags & 2) count[j + 1]!++;
      }
    }
  }
  const nearStart = new Int32Array(T + 1);
  for (let i = 0; i < T; i++) nearStart[i + 1] = nearStart[i]! + count[i + 1]!;
  const nnz = nearStart[T]!;
  const fill = nearStart.slice(0, T);
  const nearIdx = new Int32Array(nnz);
  const nearVel = new Float64Array(3 * nnz);
  const u = new Float64Array(3);
  // Strang–Fix 3-point rule (degree 2): barycentric (2/3, 1/6, 1/6) and its permutations.
  const qp = new Float64Array(9 * T);
  for (let t = 0; t < T; t++) {
    for (let q = 0; q < 3; q++) {
      for (let d = 0; d < 3; d++) {
        const a = X[3 * tri[3 * t]! + d]!, b = X[3 * tri[3 * t + 1]! + d]!, c = X[3 * tri[3 * t + 2]! + d]!;
        qp[9 * t + 3 * q + d] = (q === 0 ? 4 * a + b + c : q === 1 ? a + 4 * b + c : a + b + 4 * c) / 6;
      }
    }
  }
  const e2 = PANEL_EXACT_FACTOR * PANEL_EXACT_FACTOR;
  const put = (i: number, j: number): void => {
    // Correction at c_i from panel j: (closed form or 3-point rule) − point source.
    const px = cx[i]!, py = cy[i]!, pz = cz[i]!;
    const dx = px - cx[j]!, dy = py - cy[j]!, dz = pz - cz[j]!;
    const r2 = dx * dx + dy * dy + dz * dz;
    const s = w[j]! / (r2 * Math.sqrt(r2));
    if (r2 < e2 * diam[j]! * diam[j]!) {
      triangleSourceVelocity(X, tri[3 * j]!, tri[3 * j + 1]!, tri[3 * j + 2]!, nx[j]!, ny[j]!, nz[j]!, px, py, pz, u);
    } else {
      u[0] = 0;
      u[1] = 0;
      u[2] = 0;
      for (let q = 0; q < 3; q++) {
        const o = 9 * j + 3 * q;
        const ex = px - qp[o]!, ey = py - qp[o + 1]!, ez = pz - qp[o + 2]!;
        const rr = ex * ex + ey * ey + ez * ez;
        const f = w[j]! / (3 * rr * Math.sqrt(rr));
        u[0]! += f * ex;
        u[1]! += f * ey;
        u[2]! += f * ez;
      }
    }
    const k = fill[i]!++;
    nearIdx[k] = j;
    nearVel[3 * k] = u[0]! - s * dx;
    nearVel[3 * k + 1] = u[1]! - s * dy;
    nearVel[3 * k + 2] = u[2]! - s * dz;
  };
  for (let p = 0; p < np; p++) {
    const i = pairs[3 * p]!, j = pairs[3 * p + 1]!, flags = pairs[3 * p + 2]!;
    if (flags & 1) put(i, j);
    if (flags & 2) put(j, i);
  }
  // Own in-plane velocity at the centroid (the normal part there is the ½ of the operator's diagonal).
  const selfVel = new Float64Array(3 * T);
  for (let t = 0; t < T; t++) {
    triangleSourceVelocity(X, tri[3 * t]!, tri[3 * t + 1]!, tri[3 * t + 2]!, nx[t]!, ny[t]!, nz[t]!, cx[t]!, cy[t]!, cz[t]!, u);
    const un = u[0]! * nx[t]! + u[1]! * ny[t]! + u[2]! * nz[t]!;
    selfVel[3 * t] = u[0]! - un * nx[t]!;
    selfVel[3 * t + 1] = u[1]! - un * ny[t]!;
    selfVel[3 * t + 2] = u[2]! - un * nz[t]!;
  }
  return { N: T, cx, cy, cz, nx, ny, nz, w, nearStart, nearIdx, nearVel, selfVel, q: new Float64Array(T) };
}

/** (vx, vy, vz)_i = Σ_{j≠i} σ_j u_j(c_i): far field as point sources (pair loop), near field exact. */
function inducedVelocity(S: PanelSystem, sigma: Float64Array, vx: Float64Array, vy: Float64Array, vz: Float64Array): void {
  const { N, cx, cy, cz, w, q, nearStart, nearIdx, nearVel } = S;
  for (let j = 0; j < N; j++) q[j] = sigma[j]! * w[j]!;
  vx.fill(0);
  vy.fill(0);
  vz.fill(0);
  for (let i = 0; i < N; i++) {
    const xi = cx[i]!, yi = cy[i]!, zi = cz[i]!, qi = q[i]!;
    let ax = 0, ay = 0, az = 0;
    for (let j = i + 1; j < N; j++) {
      const dx = xi - cx[j]!, dy = yi - cy[j]!, dz = zi - cz[j]!;
      const r2 = dx * dx + dy * dy + dz * dz;
      const inv = 1 / (r2 * Math.sqrt(r2));
      const sj = q[j]! * inv;
      const si = qi * inv;
      ax += sj * dx;
      ay += sj * dy;
      az += sj * dz;
      vx[j]! -= si * dx;
      vy[j]! -= si * dy;
      vz[j]! -= si * dz;
    }
    let bx = 0, by = 0, bz = 0;
    for (let k = nearStart[i]!, e = nearStart[i + 1]!; k < e; k++) {
      const s = sigma[nearIdx[k]!]!;
      bx += s * nearVel[3 * k]!;
      by += s * nearVel[3 * k + 1]!;
      bz += s * nearVel[3 * k + 2]!;
    }
    vx[i]! += ax + bx;
    vy[i]! += ay + by;
    vz[i]! += az + bz;
  }
}

/**
 * The dense operator A = ½I + K [N·N] row-major: A_ij = n_i·(point source of panel j at c_i) plus the
 * near correction; one pair pass instead of one per GMRES iteration.
 */
function denseOperator(S: PanelSystem): Float64Array {
  const { N, cx, cy, cz, nx, ny, nz, w, nearStart, nearIdx, nearVel } = S;
  const A = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    const xi = cx[i]!, yi = cy[i]!, zi = cz[i]!, wi = w[i]!, nxi = nx[i]!, nyi = ny[i]!, nzi = nz[i]!;
    const row = i * N;
    A[row + i] = 0.5;
    for (let j = i + 1; j < N; j++) {
      const dx = xi - cx[j]!, dy = yi - cy[j]!, dz = zi - cz[j]!;
      const r2 = dx * dx + dy * dy + dz * dz;
      const inv = 1 / (r2 * Math.sqrt(r2));
      A[row + j] = w[j]! * inv * (nxi * dx + nyi * dy + nzi * dz);
      A[j * N + i] = -wi * inv * (nx[j]! * dx + ny[j]! * dy + nz[j]! * dz);
    }
    for (let k = nearStart[i]!, e = nearStart[i + 1]!; k < e; k++) {
      A[row + nearIdx[k]!]! += nxi * nearVel[3 * k]! + nyi * nearVel[3 * k + 1]! + nzi * nearVel[3 * k + 2]!;
    }
  }
  return A;
}

/** y = (½I + K)σ: with the dense operator when there is one, else matrix-free through the velocities. */
function applyOperator(S: PanelSystem, dense: Float64Array | null, sigma: Float64Array, y: Float64Array, vx: Float64Array, vy: Float64Array, vz: Float64Array): void {
  const { N, nx, ny, nz } = S;
  if (dense) {
    for (let i = 0; i < N; i++) {
      const row = i * N;
      let acc = 0;
      for (let j = 0; j < N; j++) acc += dense[row + j]! * sigma[j]!;
      y[i] = acc;
    }
    return;
  }
  inducedVelocity(S, sigma, vx, vy, vz);
  for (let i = 0; i < N; i++) y[i] = 0.5 * sigma[i]! + nx[i]! * vx[i]! + ny[i]! * vy[i]! + nz[i]! * vz[i]!;
}

function norm2(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/**
 * Steady potential flow past the closed mesh m by the Hess–Smith constant-source panel method (module
 * comment): σ from GMRES to relative residual tol (default 1e-6), then Cp at the centroids and the
 * vertices. The free stream defaults to (0, 0, 1). Throws PanelConvergenceError after maxIter GMRES
 * iterations (default 500), BodyMeshError for a bad mesh, BodyOptionsError for bad options.
 */
export function sourcePanelCp(m: TriMesh, opts: { freestream?: [number, number, number]; tol?: number; maxIter?: number } = {}): PanelSolution {
  const op = 'sourcePanelCp';
  const fs = opts.freestream ?? PANEL_DEFAULTS.freestream;
  if (!Array.isArray(fs) || fs.length !== 3 || fs.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new BodyOptionsError(`${op}: freestream must be three finite numbers`);
  }
  const [ux, uy, uz] = fs as [number, number, number];
  const speed2 = ux * ux + uy * uy + uz * uz;
  if (!(speed2 > 0)) throw new BodyOptionsError(`${op}: freestream must be nonzero`);
  const tol = opts.tol ?? PANEL_DEFAULTS.tol;
  if (typeof tol !== 'number' || !Number.isFinite(tol) || tol <= 0 || tol >= 1) throw new BodyOptionsError(`${op}: tol must be in (0, 1), got ${String(tol)}`);
  const maxIter = opts.maxIter ?? PANEL_DEFAULTS.maxIter;
  checkInt(maxIter, 1, 'maxIter', op);

  const g = meshGeometry(m);
  const S = buildPanelSystem(m, g);
  const N = S.N;
  const dense = N <= PANEL_DENSE_MAX ? denseOperator(S) : null;
  const { nx, ny, nz } = S;
  const b = new Float64Array(N);
  for (let i = 0; i < N; i++) b[i] = -(nx[i]! * ux + ny[i]! * uy + nz[i]! * uz);
  const bnorm = norm2(b);
  const vx = new Float64Array(N), vy = new Float64Array(N), vz = new Float64Array(N);
  const sigma = new Float64Array(N);
  const r = new Float64Array(N);
  const tmp = new Float64Array(N);
  const mr = Math.min(GMRES_RESTART, N);
  const basis: Float64Array[] = Array.from({ length: mr + 1 }, () => new Float64Array(N));
  const H = new Float64Array((mr + 1) * mr);
  const cs = new Float64Array(mr), sn = new Float64Array(mr), gv = new Float64Array(mr + 1), yv = new Float64Array(mr);
  let iterations = 0;
  let residual = bnorm > 0 ? 1 : 0;
  // r = b − Aσ; returns ‖r‖/‖b‖ (matrix-free, also leaves the velocities of σ in vx, vy, vz).
  const trueResidual = (): number => {
    applyOperator(S, dense, sigma, tmp, vx, vy, vz);
    for (let i = 0; i < N; i++) r[i] = b[i]! - tmp[i]!;
    return bnorm > 0 ? norm2(r) / bnorm : 0;
  };
  // σ = 0 to start: r = b (no operator application needed).
  r.set(b);
  while (residual > tol && iterations < maxIter) {
    const beta = residual * bnorm;
    const v0 = basis[0]!;
    for (let i = 0; i < N; i++) v0[i] = r[i]! / beta;
    gv.fill(0);
    gv[0] = beta;
    let k = 0;
    for (; k < mr && iterations < maxIter; ) {
      const wk = basis[k + 1]!;
      applyOperator(S, dense, basis[k]!, wk, vx, vy, vz);
      iterations++;
      for (let l = 0; l <= k; l++) {
        const vl = basis[l]!;
        let h = 0;
        for (let i = 0; i < N; i++) h += wk[i]! * vl[i]!;
        for (let i = 0; i < N; i++) wk[i]! -= h * vl[i]!;
        H[l * mr + k] = h;
      }
      const hn = norm2(wk);
      H[(k + 1) * mr + k] = hn;
      if (hn > 0) for (let i = 0; i < N; i++) wk[i]! /= hn;
      for (let l = 0; l < k; l++) {
        const h1 = H[l * mr + k]!, h2 = H[(l + 1) * mr + k]!;
        H[l * mr + k] = cs[l]! * h1 + sn[l]! * h2;
        H[(l + 1) * mr + k] = -sn[l]! * h1 + cs[l]! * h2;
      }
      const h1 = H[k * mr + k]!, h2 = H[(k + 1) * mr + k]!;
      const rho = Math.hypot(h1, h2);
      cs[k] = rho > 0 ? h1 / rho : 1;
      sn[k] = rho > 0 ? h2 / rho : 0;
      H[k * mr + k] = rho;
      H[(k + 1) * mr + k] = 0;
      gv[k + 1] = -sn[k]! * gv[k]!;
      gv[k] = cs[k]! * gv[k]!;
      k++;
      if (Math.abs(gv[k]!) <= tol * bnorm || hn === 0) break;
    }
    for (let l = k - 1; l >= 0; l--) {
      let s = gv[l]!;
      for (let c = l + 1; c < k; c++) s -= H[l * mr + c]! * yv[c]!;
      yv[l] = s / H[l * mr + l]!;
    }
    for (let l = 0; l < k; l++) {
      const vl = basis[l]!;
      const y = yv[l]!;
      for (let i = 0; i < N; i++) sigma[i]! += y * vl[i]!;
    }
    residual = trueResidual();
  }
  if (!(residual <= tol)) {
    throw new PanelConvergenceError(`${op}: GMRES did not reach relative residual ${tol} within ${maxIter} iterations (${N} panels, residual ${residual.toExponential(3)})`, iterations, residual);
  }
  // Matrix-free, the last residual check left the velocities of σ in vx, vy, vz; else compute them.
  if (dense || iterations === 0) inducedVelocity(S, sigma, vx, vy, vz);
  // vx, vy, vz hold Σ_{j≠i} σ_j u_j(c_i) for the final σ.
  const sv = S.selfVel;
  const cpPanels = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const si = sigma[i]!;
    const Vx = ux + vx[i]! + si * sv[3 * i]!, Vy = uy + vy[i]! + si * sv[3 * i + 1]!, Vz = uz + vz[i]! + si * sv[3 * i + 2]!;
    const vn = Vx * nx[i]! + Vy * ny[i]! + Vz * nz[i]!;
    const tx = Vx - vn * nx[i]!, ty = Vy - vn * ny[i]!, tz = Vz - vn * nz[i]!;
    cpPanels[i] = 1 - (tx * tx + ty * ty + tz * tz) / speed2;
  }
  const V = m.vertices.length / 3;
  const cpVertices = new Float64Array(V);
  const wsum = new Float64Array(V);
  const tri = m.triangles;
  for (let t = 0; t < N; t++) {
    const a = g.areas[t]!;
    for (let q = 0; q < 3; q++) {
      const v = tri[3 * t + q]!;
      cpVertices[v]! += a * cpPanels[t]!;
      wsum[v]! += a;
    }
  }
  for (let v = 0; v < V; v++) cpVertices[v] = wsum[v]! > 0 ? cpVertices[v]! / wsum[v]! : NaN;
  return { cpPanels, cpVertices, sigma, iterations, residual };
}

/**
 * Closest point of triangle (a, b, c) to p (Ericson's region tests); writes the point to out and
 * returns the feature: 0 face, 1/2/3 vertex a/b/c, 4 edge ab, 5 edge bc, 6 edge ca.
 */
function closestOnTriangle(X: Float64Array, ia: number, ib: number, ic: number, px: number, py: number, pz: number, out: Float64Array): number {
  const ax = X[3 * ia]!, ay = X[3 * ia + 1]!, az = X[3 * ia + 2]!;
  const abx = X[3 * ib]! - ax, aby = X[3 * ib + 1]! - ay, abz = X[3 * ib + 2]! - az;
  const acx = X[3 * ic]! - ax, acy = X[3 * ic + 1]! - ay, acz = X[3 * ic + 2]! - az;
  const apx = px - ax, apy = py - ay, apz = pz - az;
  const d1 = abx * apx + aby * apy + abz * apz;
  const d2 = acx * apx + acy * apy + acz * apz;
  if (d1 <= 0 && d2 <= 0) {
    out[0] = ax; out[1] = ay; out[2] = az;
    return 1;
  }
  const bpx = apx - abx, bpy = apy - aby, bpz = apz - abz;
  const d3 = abx * bpx + aby * bpy + abz * bpz;
  const d4 = acx * bpx + acy * bpy + acz * bpz;
  if (d3 >= 0 && d4 <= d3) {
    out[0] = ax + abx; out[1] = ay + aby; out[2] = az + abz;
    return 2;
  }
  const vc = d1 * d4 - d3 * d2;
  if (vc <= 0 && d1 >= 0 && d3 <= 0) {
    const v = d1 / (d1 - d3);
    out[0] = ax + v * abx; out[1] = ay + v * aby; out[2] = az + v * abz;
    return 4;
  }
  const cpx = apx - acx, cpy = apy - acy, cpz = apz - acz;
  const d5 = abx * cpx + aby * cpy + abz * cpz;
  const d6 = acx * cpx + acy * cpy + acz * cpz;
  if (d6 >= 0 && d5 <= d6) {
    out[0] = ax + acx; out[1] = ay + acy; out[2] = az + acz;
    return 3;
  }
  const vb = d5 * d2 - d1 * d6;
  if (vb <= 0 && d2 >= 0 && d6 <= 0) {
    const w = d2 / (d2 - d6);
    out[0] = ax + w * acx; out[1] = ay + w * acy; out[2] = az + w * acz;
    return 6;
  }
  const va = d3 * d6 - d5 * d4;
  if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0) {
    const w = (d4 - d3) / (d4 - d3 + (d5 - d6));
    out[0] = ax + abx + w * (acx - abx); out[1] = ay + aby + w * (acy - aby); out[2] = az + abz + w * (acz - abz);
    return 5;
  }
  const den = 1 / (va + vb + vc);
  const v = vb * den;
  const w = vc * den;
  out[0] = ax + v * abx + w * acx; out[1] = ay + v * aby + w * acy; out[2] = az + v * abz + w * acz;
  return 0;
}

/**
 * Exact signed distance from each query point [Q·3] to the closed triangle mesh m (negative inside).
 * Distance: the closest point over all triangles (Ericson's region tests), triangles skipped when the
 * ball about their centroid that holds them is farther than the best so far. Sign: the angle-weighted
 * pseudo-normal of the closest feature (face normal, the sum of the two face normals for an edge, the
 * angle-weighted vertex normal for a vertex; Bærentzen–Aanæs), exact for a closed oriented manifold.
 */
export function signedDistance(m: TriMesh, queries: Float64Array): Float64Array {
  if (!(queries instanceof Float64Array) || queries.length % 3 !== 0) throw new BodyOptionsError('signedDistance: queries must be a Float64Array of length Q·3');
  const g = meshGeometry(m);
  const X = m.vertices;
  const tri = m.triangles;
  const T = g.areas.length;
  const V = X.length / 3;
  const fn = g.normals;
  // Vertex pseudo-normals (angle-weighted) and edge pseudo-normals (sum of adjacent face normals).
  const vpn = new Float64Array(3 * V);
  const edgeOf = new Int32Array(3 * T);
  const edgeKey = new Map<number, number>();
  const epnList: number[] = [];
  for (let t = 0; t < T; t++) {
    for (let q = 0; q < 3; q++) {
      const v = tri[3 * t + q]!, v1 = tri[3 * t + ((q + 1) % 3)]!, v2 = tri[3 * t + ((q + 2) % 3)]!;
      const e1x = X[3 * v1]! - X[3 * v]!, e1y = X[3 * v1 + 1]! - X[3 * v + 1]!, e1z = X[3 * v1 + 2]! - X[3 * v + 2]!;
      const e2x = X[3 * v2]! - X[3 * v]!, e2y = X[3 * v2 + 1]! - X[3 * v + 1]!, e2z = X[3 * v2 + 2]! - X[3 * v + 2]!;
      const c = (e1x * e2x + e1y * e2y + e1z * e2z) / Math.sqrt((e1x * e1x + e1y * e1y + e1z * e1z) * (e2x * e2x + e2y * e2y + e2z * e2z));
      const ang = Math.acos(Math.max(-1, Math.min(1, c)));
      vpn[3 * v]! += ang * fn[3 * t]!;
      vpn[3 * v + 1]! += ang * fn[3 * t + 1]!;
      vpn[3 * v + 2]! += ang * fn[3 * t + 2]!;
      // Edge q: vertex q → q + 1 (feature codes 4, 5, 6 are edges ab, bc, ca).
      const lo = Math.min(v, v1), hi = Math.max(v, v1);
      const key = lo * V + hi;
      let e = edgeKey.get(key);
      if (e === undefined) {
        e = epnList.length / 3;
        edgeKey.set(key, e);
        epnList.push(0, 0, 0);
      }
      epnList[3 * e]! += fn[3 * t]!;
      epnList[3 * e + 1]! += fn[3 * t + 1]!;
      epnList[3 * e + 2]! += fn[3 * t + 2]!;
      edgeOf[3 * t + q] = e;
    }
  }
  const epn = Float64Array.from(epnList);
  const cx = new Float64Array(T), cy = new Float64Array(T), cz = new Float64Array(T), rad = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    cx[t] = g.centroids[3 * t]!;
    cy[t] = g.centroids[3 * t + 1]!;
    cz[t] = g.centroids[3 * t + 2]!;
    let r2 = 0;
    for (let q = 0; q < 3; q++) {
      const v = tri[3 * t + q]!;
      const dx = X[3 * v]! - cx[t]!, dy = X[3 * v + 1]! - cy[t]!, dz = X[3 * v + 2]! - cz[t]!;
      r2 = Math.max(r2, dx * dx + dy * dy + dz * dz);
    }
    rad[t] = Math.sqrt(r2) * (1 + 1e-12);
  }
  const Q = queries.length / 3;
  const out = new Float64Array(Q);
  const d2c = new Float64Array(T);
  const cp = new Float64Array(3);
  for (let qi = 0; qi < Q; qi++) {
    const px = queries[3 * qi]!, py = queries[3 * qi + 1]!, pz = queries[3 * qi + 2]!;
    if (!Number.isFinite(px + py + pz)) throw new BodyOptionsError(`signedDistance: query ${qi} is not finite`);
    // The centroids lie on the mesh: the nearest one bounds the distance from above.
    let ub2 = Infinity;
    for (let t = 0; t < T; t++) {
      const dx = px - cx[t]!, dy = py - cy[t]!, dz = pz - cz[t]!;
      const d = dx * dx + dy * dy + dz * dz;
      d2c[t] = d;
      if (d < ub2) ub2 = d;
    }
    let best = ub2;
    let ub = Math.sqrt(ub2);
    let bt = -1, bf = 0, bx = 0, by = 0, bz = 0;
    for (let t = 0; t < T; t++) {
      const lim = ub + rad[t]!;
      if (d2c[t]! > lim * lim) continue;
      const f = closestOnTriangle(X, tri[3 * t]!, tri[3 * t + 1]!, tri[3 * t + 2]!, px, py, pz, cp);
      const dx = px - cp[0]!, dy = py - cp[1]!, dz = pz - cp[2]!;
      const d = dx * dx + dy * dy + dz * dz;
      if (bt < 0 || d < best) {
        best = d;
        ub = Math.sqrt(d);
        bt = t;
        bf = f;
        bx = dx;
        by = dy;
        bz = dz;
      }
    }
    let nxp: number, nyp: number, nzp: number;
    if (bf === 0) {
      nxp = fn[3 * bt]!; nyp = fn[3 * bt + 1]!; nzp = fn[3 * bt + 2]!;
    } else if (bf <= 3) {
      const v = tri[3 * bt + bf - 1]!;
      nxp = vpn[3 * v]!; nyp = vpn[3 * v + 1]!; nzp = vpn[3 * v + 2]!;
    } else {
      const e = edgeOf[3 * bt + bf - 4]!;
      nxp = epn[3 * e]!; nyp = epn[3 * e + 1]!; nzp = epn[3 * e + 2]!;
    }
    const dist = Math.sqrt(best);
    out[qi] = bx * nxp + by * nyp + bz * nzp < 0 ? -dist : dist;
  }
  return out;
}

/** Half-extent bound of the perturbation factor over every sampled body: Σ h_k·max|f_k|. */
const BUMP_BOUND = BODY_BUMP_AMPLITUDES.reduce((s, h, k) => s + h * BUMP_MAX[k]!, 0);

/** Margin added on each side of bodyBox, in the body's length unit. */
const BOX_MARGIN = 0.05;

/**
 * A fixed physical box containing every body sampleBodyParams can make, plus BOX_MARGIN (0.05) per
 * side: |x| ≤ (W/2)(1 + B)(1 + τ(1 + B)) with B the bump bound, y between −floor·b and
 * b(1 + B)(1 + τ(1 + B)) + δ/2, |z| ≤ (L/2)(1 + B), at the largest sampled W, H, L, τ, floor.
 */
export function bodyBox(): { lo: [number, number, number]; hi: [number, number, number] } {
  const r = BODY_RANGES;
  const tmax = Math.max(Math.abs(r.taper[0]), Math.abs(r.taper[1]));
  const grow = (1 + BUMP_BOUND) * (1 + tmax * (1 + BUMP_BOUND));
  const a = r.width[1] / 2, b = r.height[1] / 2, c = r.length[1] / 2;
  const xm = a * grow + BOX_MARGIN;
  const ytop = b * grow + (BODY_FLOOR_SMOOTHING * b) / 2 + BOX_MARGIN;
  const ybot = -r.floor[1] * b - BOX_MARGIN;
  const zm = c * (1 + BUMP_BOUND) + BOX_MARGIN;
  return { lo: [-xm, ybot, -zm], hi: [xm, ytop, zm] };
}

/** Mesh size (nTheta, nPhi) of a body with about `points` vertices: V ∈ [⌈0.75·points⌉, points], nPhi ≈ 2·nTheta. */
function drawResolution(rng: Rng, points: number): { nTheta: number; nPhi: number } {
  const lo = Math.ceil(0.75 * points);
  const target = lo + rng.int(points - lo + 1);
  const nTheta = Math.max(2, Math.round(Math.sqrt((target - 2) / 2)));
  let nPhi = Math.max(3, Math.round((target - 2) / nTheta));
  if (nTheta * nPhi + 2 > points) nPhi = Math.floor((points - 2) / nTheta);
  if (nTheta * nPhi + 2 < lo) nPhi = Math.ceil((lo - 2) / nTheta);
  return { nTheta, nPhi };
}

/**
 * Generates n bodies (samples start … start + n − 1): random BodyParams and mesh size per sample from
 * new Rng(streamSeed(seed, start + i)), Cp by sourcePanelCp on the physical mesh, geometry and the
 * G³ signed distance grid in the coordinates normalised by bodyBox(). Throws BodyOptionsError for bad
 * options (n < 1, points < 50, grid < 2, non-integers, seed not a safe integer).
 */
export function generateBodies(o: GenerateBodiesOptions): { samples: BodySample[]; meta: Record<string, unknown> } {
  const op = 'generateBodies';
  if (!o || typeof o !== 'object') throw new BodyOptionsError(`${op}: options must be an object`);
  checkInt(o.n, 1, 'n', op);
  checkInt(o.points, 50, 'points', op);
  const G = o.grid ?? 16;
  checkInt(G, 2, 'grid', op);
  const start = o.start ?? 0;
  checkInt(start, 0, 'start', op);
  if (typeof o.seed !== 'number' || !Number.isSafeInteger(o.seed)) throw new BodyOptionsError(`${op}: seed must be a safe integer, got ${String(o.seed)}`);
  if (!Number.isSafeInteger(start + o.n)) throw new BodyOptionsError(`${op}: start + n must be a safe integer`);
  const { lo, hi } = bodyBox();
  const ext = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
  const grid = new Float64Array(3 * G * G * G);
  for (let i = 0; i < G; i++) {
    for (let j = 0; j < G; j++) {
      for (let k = 0; k < G; k++) {
        const p = (i * G + j) * G + k;
        grid[3 * p] = i / (G - 1);
        grid[3 * p + 1] = j / (G - 1);
        grid[3 * p + 2] = k / (G - 1);
      }
    }
  }
  const samples: BodySample[] = [];
  for (let s = 0; s < o.n; s++) {
    const index = start + s;
    const rng = new Rng(streamSeed(o.seed, index));
    const params = sampleBodyParams(rng);
    const { nTheta, nPhi } = drawResolution(rng, o.points);
    const mesh = bodyMesh(params, nTheta, nPhi);
    const sol = sourcePanelCp(mesh);
    const nv = new Float64Array(mesh.vertices.length);
    for (let v = 0; v < nv.length; v++) nv[v] = (mesh.vertices[v]! - lo[v % 3]!) / ext[v % 3]!;
    const norm: TriMesh = { vertices: nv, triangles: mesh.triangles };
    const geo = meshGeometry(norm);
    const sdf = signedDistance(norm, grid);
    samples.push({
      vertices: Float32Array.from(nv),
      normals: Float32Array.from(geo.vertexNormals),
      vertexAreas: Float32Array.from(geo.vertexAreas),
      cp: Float32Array.from(sol.cpVertices),
      triangles: mesh.triangles,
      sdf: Float32Array.from(sdf),
      params,
      panelResidual: sol.residual,
      panelIterations: sol.iterations,
    });
    o.onSample?.(index);
  }
  const meta: Record<string, unknown> = {
    generator: 'bodies',
    axes: 'x lateral (width), y up (height), z streamwise (length); nose at minimum z',
    seed: o.seed,
    start,
    n: o.n,
    points: o.points,
    grid: G,
    box: { lo, hi },
    ranges: {
      length: [...BODY_RANGES.length],
      width: [...BODY_RANGES.width],
      height: [...BODY_RANGES.height],
      exponent: [...BODY_RANGES.exponent],
      taper: [...BODY_RANGES.taper],
      floor: [...BODY_RANGES.floor],
      bumps: [...BODY_BUMP_AMPLITUDES].map((h) => [-h, h]),
    },
    bumpTerms: [...BODY_BUMP_TERMS],
    floorSmoothing: BODY_FLOOR_SMOOTHING,
    freestream: [...PANEL_DEFAULTS.freestream],
    panel: {
      method: 'Hess–Smith constant-source flat triangles; near panels exact (closed form), far panels point sources',
      nearFactor: PANEL_NEAR_FACTOR,
      ownInPlaneVelocity: true,
      solver: `GMRES(${GMRES_RESTART})`,
      denseMaxPanels: PANEL_DENSE_MAX,
      tol: PANEL_DEFAULTS.tol,
      maxIter: PANEL_DEFAULTS.maxIter,
      cpVertices: 'area-weighted mean of adjacent panels',
    },
    normalisation: "x' = (x − lo)/(hi − lo) per axis; normals, vertexAreas, sdf in normalised coordinates; cp on the physical mesh",
  };
  return { samples, meta };
}
