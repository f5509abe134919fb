import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../../src/core/rng.js';
import {
  BODY_BUMP_AMPLITUDES,
  BODY_RANGES,
  BodyMeshError,
  BodyOptionsError,
  type BodyParams,
  PanelConvergenceError,
  type TriMesh,
  bodyBox,
  bodyMesh,
  generateBodies,
  meshGeometry,
  sampleBodyParams,
  signedDistance,
  sourcePanelCp,
  sphereMesh,
} from '../../../src/data/generators/index.js';

const PI = Math.PI;

/** Σ (c·n)·A/3 over the triangles, computed here from the vertices. */
function signedVolume(m: TriMesh): number {
  const X = m.vertices;
  const t = m.triangles;
  let v = 0;
  for (let k = 0; k < t.length; k += 3) {
    const a = 3 * t[k]!, b = 3 * t[k + 1]!, c = 3 * t[k + 2]!;
    // a·(b × c)/6 per triangle: the same sum as Σ (c·n)A/3.
    v += (X[a]! * (X[b + 1]! * X[c + 2]! - X[b + 2]! * X[c + 1]!) - X[a + 1]! * (X[b]! * X[c + 2]! - X[b + 2]! * X[c]!) + X[a + 2]! * (X[b]! * X[c + 1]! - X[b + 1]! * X[c]!)) / 6;
  }
  return v;
}

/** Every undirected edge is used exactly twice, once in each direction (closed, consistently oriented). */
function assertClosedOriented(m: TriMesh): void {
  const V = m.vertices.length / 3;
  const seen = new Map<number, number>();
  const t = m.triangles;
  for (let k = 0; k < t.length; k += 3) {
    for (let q = 0; q < 3; q++) {
      const a = t[k + q]!, b = t[k + ((q + 1) % 3)]!;
      const key = a * V + b;
      assert.ok(!seen.has(key), `directed edge ${a}→${b} used twice`);
      seen.set(key, 1);
    }
  }
  for (const key of seen.keys()) {
    const a = Math.floor(key / V), b = key % V;
    assert.ok(seen.has(b * V + a), `edge ${a}→${b} has no opposite`);
  }
}

/** Generalised winding number of the mesh about p (Van Oosterom–Strackee solid angles / 4π). */
function windingNumber(m: TriMesh, px: number, py: number, pz: number): number {
  const X = m.vertices;
  const t = m.triangles;
  let s = 0;
  for (let k = 0; k < t.length; k += 3) {
    const a = [X[3 * t[k]!]! - px, X[3 * t[k]! + 1]! - py, X[3 * t[k]! + 2]! - pz];
    const b = [X[3 * t[k + 1]!]! - px, X[3 * t[k + 1]! + 1]! - py, X[3 * t[k + 1]! + 2]! - pz];
    const c = [X[3 * t[k + 2]!]! - px, X[3 * t[k + 2]! + 1]! - py, X[3 * t[k + 2]! + 2]! - pz];
    const la = Math.hypot(a[0]!, a[1]!, a[2]!), lb = Math.hypot(b[0]!, b[1]!, b[2]!), lc = Math.hypot(c[0]!, c[1]!, c[2]!);
    const dot = (u: number[], v: number[]): number => u[0]! * v[0]! + u[1]! * v[1]! + u[2]! * v[2]!;
    const det = a[0]! * (b[1]! * c[2]! - b[2]! * c[1]!) - a[1]! * (b[0]! * c[2]! - b[2]! * c[0]!) + a[2]! * (b[0]! * c[1]! - b[1]! * c[0]!);
    s += 2 * Math.atan2(det, la * lb * lc + dot(a, b) * lc + dot(a, c) * lb + dot(b, c) * la);
  }
  return s / (4 * PI);
}

/** Distance from p to a triangle: projection inside → plane distance, else the nearest edge segment. */
function triangleDistance(X: Float64Array, ia: number, ib: number, ic: number, p: number[]): number {
  const v = [ia, ib, ic].map((i) => [X[3 * i]!, X[3 * i + 1]!, X[3 * i + 2]!]);
  const sub = (u: number[], w: number[]): number[] => [u[0]! - w[0]!, u[1]! - w[1]!, u[2]! - w[2]!];
  const cross = (u: number[], w: number[]): number[] => [u[1]! * w[2]! - u[2]! * w[1]!, u[2]! * w[0]! - u[0]! * w[2]!, u[0]! * w[1]! - u[1]! * w[0]!];
  const dot = (u: number[], w: number[]): number => u[0]! * w[0]! + u[1]! * w[1]! + u[2]! * w[2]!;
  const n = cross(sub(v[1]!, v[0]!), sub(v[2]!, v[0]!));
  const nn = Math.sqrt(dot(n, n));
  const h = dot(sub(p, v[0]!), n) / nn;
  const q = [p[0]! - (h * n[0]!) / nn, p[1]! - (h * n[1]!) / nn, p[2]! - (h * n[2]!) / nn];
  let inside = true;
  for (let e = 0; e < 3; e++) if (dot(cross(sub(v[(e + 1) % 3]!, v[e]!), sub(q, v[e]!)), n) < 0) inside = false;
  if (inside) return Math.abs(h);
  let best = Infinity;
  for (let e = 0; e < 3; e++) {
    const a = v[e]!, d = sub(v[(e + 1) % 3]!, a);
    const s = Math.max(0, Math.min(1, dot(sub(p, a), d) / dot(d, d)));
    const c = [a[0]! + s * d[0]!, a[1]! + s * d[1]!, a[2]! + s * d[2]!];
    best = Math.min(best, Math.sqrt(dot(sub(p, c), sub(p, c))));
  }
  return best;
}

/** Errors of the vertex and panel Cp of a sphere against 1 − (9/4)sin²θ, θ from the freestream axis. */
function sphereErrors(nTheta: number, axis: [number, number, number] = [0, 0, 1]) {
  const m = sphereMesh(1, nTheta, 2 * nTheta);
  const t0 = performance.now();
  const sol = sourcePanelCp(m, { freestream: axis });
  const ms = performance.now() - t0;
  const g = meshGeometry(m);
  const exact = (x: number, y: number, z: number): number => {
    const c = (x * axis[0] + y * axis[1] + z * axis[2]) / Math.hypot(x, y, z);
    return 1 - 2.25 * (1 - c * c);
  };
  const stats = (vals: Float64Array, pts: Float64Array): { max: number; rms: number } => {
    let max = 0;
    let ss = 0;
    for (let i = 0; i < vals.length; i++) {
      const e = vals[i]! - exact(pts[3 * i]!, pts[3 * i + 1]!, pts[3 * i + 2]!);
      max = Math.max(max, Math.abs(e));
      ss += e * e;
    }
    return { max, rms: Math.sqrt(ss / vals.length) };
  };
  // Exact source density of the sphere: σ = −(3/2)·n·V∞.
  let se = 0;
  let net = 0;
  let absSum = 0;
  const T = g.areas.length;
  for (let t = 0; t < T; t++) {
    const nv = g.normals[3 * t]! * axis[0] + g.normals[3 * t + 1]! * axis[1] + g.normals[3 * t + 2]! * axis[2];
    se += (sol.sigma[t]! + 1.5 * nv) ** 2;
    net += sol.sigma[t]! * g.areas[t]!;
    absSum += Math.abs(sol.sigma[t]!) * g.areas[t]!;
  }
  return { m, sol, ms, vert: stats(sol.cpVertices, m.vertices), panel: stats(sol.cpPanels, g.centroids), sigmaRms: Math.sqrt(se / T), net: net / absSum };
}

describe('sphereMesh and meshGeometry', () => {
  it('has the lat–long counts, outward orientation and converging volume and area', () => {
    const volErr: number[] = [];
    for (const nt of [8, 16, 32]) {
      const m = sphereMesh(2, nt, 2 * nt);
      const V = nt * 2 * nt + 2;
      assert.equal(m.vertices.length, 3 * V);
      assert.equal(m.triangles.length, 3 * 2 * nt * 2 * nt);
      assertClosedOriented(m);
      for (let v = 0; v < V; v++) assert.ok(Math.abs(Math.hypot(m.vertices[3 * v]!, m.vertices[3 * v + 1]!, m.vertices[3 * v + 2]!) - 2) < 1e-14);
      assert.deepEqual([...m.vertices.slice(0, 3)], [0, 0, -2]);
      assert.deepEqual([...m.vertices.slice(3 * V - 3)], [0, 0, 2]);
      const g = meshGeometry(m);
      let vol = 0;
      let area = 0;
      for (let t = 0; t < g.areas.length; t++) {
        const cn = g.centroids[3 * t]! * g.normals[3 * t]! + g.centroids[3 * t + 1]! * g.normals[3 * t + 1]! + g.centroids[3 * t + 2]! * g.normals[3 * t + 2]!;
        assert.ok(cn > 0, `triangle ${t} points inward`);
        assert.ok(Math.abs(Math.hypot(g.normals[3 * t]!, g.normals[3 * t + 1]!, g.normals[3 * t + 2]!) - 1) < 1e-14);
        vol += (cn * g.areas[t]!) / 3;
        area += g.areas[t]!;
      }
      assert.ok(Math.abs(vol - signedVolume(m)) < 1e-12 * vol);
      const exactVol = (4 / 3) * PI * 8;
      volErr.push(Math.abs(vol / exactVol - 1));
      assert.ok(vol > 0 && vol < exactVol, 'an inscribed polyhedron has less volume than the sphere');
      assert.ok(Math.abs(area / (16 * PI) - 1) < 0.035, `area ${area}`);
      const va = g.vertexAreas.reduce((s, x) => s + x, 0);
      assert.ok(Math.abs(va - area) < 1e-12 * area);
      for (let v = 0; v < V; v++) {
        const r = [m.vertices[3 * v]! / 2, m.vertices[3 * v + 1]! / 2, m.vertices[3 * v + 2]! / 2];
        const n = [g.vertexNormals[3 * v]!, g.vertexNormals[3 * v + 1]!, g.vertexNormals[3 * v + 2]!];
        assert.ok(Math.abs(Math.hypot(n[0]!, n[1]!, n[2]!) - 1) < 1e-14);
        assert.ok(r[0]! * n[0]! + r[1]! * n[1]! + r[2]! * n[2]! > 0.99, `vertex normal ${v} is not radial`);
      }
    }
    // Measured 0.049, 0.013, 0.0035: second order in the mesh spacing.
    assert.ok(volErr[0]! > 3 * volErr[1]! && volErr[1]! > 3 * volErr[2]!, `volume errors ${volErr.join(', ')}`);
    assert.ok(volErr[1]! < 0.02 && volErr[2]! < 0.005, `volume errors ${volErr.join(', ')}`);
  });

  it('names the faulty triangle for degenerate, non-finite and out-of-range input', () => {
    const good = sphereMesh(1, 4, 6);
    const degenerate: TriMesh = { vertices: Float64Array.from(good.vertices), triangles: Int32Array.from(good.triangles) };
    degenerate.triangles[3 * 7 + 2] = degenerate.triangles[3 * 7]!; // triangle 7: a repeated vertex
    assert.throws(() => meshGeometry(degenerate), (e: unknown) => e instanceof BodyMeshError && e instanceof RangeError && e.triangle === 7 && /triangle 7 is degenerate/.test(e.message));
    const sliver: TriMesh = { vertices: Float64Array.from(good.vertices), triangles: Int32Array.from(good.triangles) };
    const [a, b] = [sliver.triangles[3 * 9]!, sliver.triangles[3 * 9 + 1]!];
    const c = sliver.triangles[3 * 9 + 2]!;
    // Move c onto the line through a and b (tiny offset): area ≈ 1e-14 × the mean.
    for (let d = 0; d < 3; d++) sliver.vertices[3 * c + d] = (sliver.vertices[3 * a + d]! + sliver.vertices[3 * b + d]!) / 2 + (d === 0 ? 1e-15 : 0);
    assert.throws(() => meshGeometry(sliver), (e: unknown) => e instanceof BodyMeshError && /degenerate/.test(e.message));
    const nan: TriMesh = { vertices: Float64Array.from(good.vertices), triangles: good.triangles };
    nan.vertices[3 * good.triangles[3 * 5 + 1]! + 1] = NaN;
    assert.throws(() => meshGeometry(nan), (e: unknown) => e instanceof BodyMeshError && /non-finite/.test(e.message));
    const range: TriMesh = { vertices: good.vertices, triangles: Int32Array.from(good.triangles) };
    range.triangles[3 * 11 + 1] = good.vertices.length / 3;
    assert.throws(() => meshGeometry(range), (e: unknown) => e instanceof BodyMeshError && e.triangle === 11 && /triangle 11 .*out of range/.test(e.message));
    const neg: TriMesh = { vertices: good.vertices, triangles: Int32Array.from(good.triangles) };
    neg.triangles[0] = -1;
    assert.throws(() => meshGeometry(neg), (e: unknown) => e instanceof BodyMeshError && e.triangle === 0);
    assert.throws(() => meshGeometry({ vertices: new Float64Array(4), triangles: good.triangles }), BodyMeshError);
    assert.throws(() => sphereMesh(1, 1, 6), BodyOptionsError);
    assert.throws(() => sphereMesh(0, 4, 6), BodyOptionsError);
  });
});

describe('bodyMesh and sampleBodyParams', () => {
  it('makes closed outward bodies inside bodyBox, with the documented ranges', () => {
    const { lo, hi } = bodyBox();
    const rng = new Rng(42);
    const ext = [Infinity, Infinity, Infinity, -Infinity, -Infinity, -Infinity];
    for (let s = 0; s < 200; s++) {
      const p = sampleBodyParams(rng);
      for (const k of ['length', 'width', 'height', 'exponent', 'taper', 'floor'] as const) {
        assert.ok(p[k] >= BODY_RANGES[k][0] && p[k] <= BODY_RANGES[k][1], `${k} ${p[k]}`);
      }
      p.bumps.forEach((b, k) => assert.ok(Math.abs(b) <= BODY_BUMP_AMPLITUDES[k]!));
      const m = bodyMesh(p, 10, 20);
      for (let v = 0; v < m.vertices.length; v++) {
        const x = m.vertices[v]!;
        const d = v % 3;
        assert.ok(x > lo[d]! && x < hi[d]!, `sample ${s}: coordinate ${d} = ${x} outside [${lo[d]}, ${hi[d]}]`);
        ext[d] = Math.min(ext[d]!, x);
        ext[d + 3] = Math.max(ext[d + 3]!, x);
      }
      if (s < 20) {
        assertClosedOriented(m);
        assert.ok(signedVolume(m) > 0);
      }
    }
    // The nose is at the smallest z and the body is longer than wide than high, car-like.
    assert.ok(ext[5]! - ext[2]! > ext[3]! - ext[0]! && ext[3]! - ext[0]! > ext[4]! - ext[1]!);
    // The largest bodies allowed by the ranges, with all bumps pushing outward, still fit.
    const big: BodyParams = { length: 4.8, width: 2.0, height: 1.6, exponent: 4, taper: 0.2, floor: 0.9, bumps: [...BODY_BUMP_AMPLITUDES] };
    for (const taper of [0.2, -0.1]) {
      for (const sz of [1, -1]) {
        const bumps = BODY_BUMP_AMPLITUDES.map((h, k) => (k === 0 ? sz * h : h));
        const m = bodyMesh({ ...big, taper, bumps }, 24, 48);
        for (let v = 0; v < m.vertices.length; v++) assert.ok(m.vertices[v]! > lo[v % 3]! && m.vertices[v]! < hi[v % 3]!);
      }
    }
  });

  it('has a flat underside at y_f = −floor·b, the superellipsoid half-axes, and a unit winding number inside', () => {
    const p: BodyParams = { length: 4, width: 1.8, height: 1.4, exponent: 2.5, taper: 0, floor: 0.6, bumps: [0, 0, 0, 0, 0, 0] };
    const m = bodyMesh(p, 20, 40);
    const V = m.vertices.length / 3;
    assert.equal(V, 802);
    assert.deepEqual([m.vertices[0], m.vertices[2]], [0, -2]);
    assert.equal(m.vertices[3 * (V - 1) + 2], 2);
    let ymin = Infinity;
    let below = 0;
    for (let v = 0; v < V; v++) {
      const y = m.vertices[3 * v + 1]!;
      ymin = Math.min(ymin, y);
      if (y < -0.6 * 0.7 + 0.02) below++;
    }
    assert.ok(ymin > -0.42 && ymin < -0.42 + 0.01, `lowest point ${ymin}`);
    assert.ok(below > V / 10, `${below} vertices on the floor`);
    let xmax = 0;
    for (let v = 0; v < V; v++) xmax = Math.max(xmax, Math.abs(m.vertices[3 * v]!));
    assert.ok(xmax <= 0.9 + 1e-12 && xmax > 0.85, `half-width ${xmax}`);
    assert.ok(Math.abs(windingNumber(m, 0, 0.1, 0) - 1) < 1e-9);
    assert.ok(Math.abs(windingNumber(m, 0, 0.1, 1.5) - 1) < 1e-9);
    assert.ok(Math.abs(windingNumber(m, 0, -0.5, 0)) < 1e-9);
    assert.ok(Math.abs(windingNumber(m, 0, 0, 2.1)) < 1e-9);
    assert.throws(() => bodyMesh({ ...p, bumps: [0.3, 0.3, 0, 0, 0, 0] }, 8, 16), BodyOptionsError);
    assert.throws(() => bodyMesh({ ...p, taper: 0.6 }, 8, 16), BodyOptionsError);
    assert.throws(() => bodyMesh({ ...p, exponent: 0.5 }, 8, 16), BodyOptionsError);
    assert.throws(() => bodyMesh({ ...p, bumps: [0] }, 8, 16), BodyOptionsError);
    assert.throws(() => bodyMesh({ ...p, length: -1 }, 8, 16), BodyOptionsError);
    assert.throws(() => bodyMesh(p, 8, 2.5), BodyOptionsError);
  });
});

describe('sourcePanelCp', () => {
  it('matches the sphere’s analytic Cp = 1 − (9/4)sin²θ with errors falling with the panel count', () => {
    const res = [8, 16, 32].map((nt) => sphereErrors(nt));
    const lines = res.map((r, k) => `nTheta ${[8, 16, 32][k]}: T ${r.sol.sigma.length}, vertex max ${r.vert.max.toFixed(4)} rms ${r.vert.rms.toFixed(4)}, panel max ${r.panel.max.toFixed(4)} rms ${r.panel.rms.toFixed(4)}, σ rms ${r.sigmaRms.toFixed(4)}, ${r.sol.iterations} it, ${r.ms.toFixed(0)} ms`);
    for (let k = 1; k < 3; k++) {
      const [a, b] = [res[k - 1]!, res[k]!];
      assert.ok(b.vert.max < a.vert.max && b.vert.rms < 0.6 * a.vert.rms, lines.join('\n'));
      assert.ok(b.panel.max < a.panel.max && b.panel.rms < 0.8 * a.panel.rms, lines.join('\n'));
      assert.ok(b.sigmaRms < 0.6 * a.sigmaRms, lines.join('\n'));
    }
    // Measured: vertices max 0.127/0.041/0.012, rms 0.080/0.024/0.0078; panels max 0.051/0.033/0.019,
    // rms 0.031/0.018/0.010; σ rms 0.073/0.038/0.020.
    const fine = res[2]!;
    assert.ok(fine.vert.rms < 0.01 && fine.vert.max < 0.015, lines.join('\n'));
    assert.ok(fine.panel.rms < 0.012 && fine.panel.max < 0.022, lines.join('\n'));
    assert.ok(fine.sigmaRms < 0.025, lines.join('\n'));
    assert.ok(res[1]!.vert.rms < 0.03 && res[1]!.panel.rms < 0.022, lines.join('\n'));
    for (const r of res) {
      assert.ok(r.sol.residual <= 1e-6 && r.sol.iterations >= 1 && r.sol.iterations <= 20, `${r.sol.iterations} iterations, residual ${r.sol.residual}`);
      assert.ok(Math.abs(r.net) < 1e-6, `net source ${r.net}`);
      assert.ok(r.sol.cpPanels.every((c) => Number.isFinite(c) && c <= 1));
    }
    // Front stagnation point (the nose pole, vertex 0) and the rear one.
    const vLast = res[2]!.m.vertices.length / 3 - 1;
    assert.ok(res[2]!.sol.cpVertices[0]! > 0.98 && res[2]!.sol.cpVertices[vLast]! > 0.98, `${res[2]!.sol.cpVertices[0]}`);
    assert.ok(Math.max(...res[2]!.sol.cpPanels) > 0.99);
  });

  it('gives the same accuracy for a freestream across the poles (x), and scales σ with |V∞|', () => {
    const x = sphereErrors(12, [1, 0, 0]);
    const z = sphereErrors(12);
    assert.ok(x.panel.rms < 0.04 && x.vert.rms < 0.06 && x.sigmaRms < 0.06, `x: ${JSON.stringify([x.panel, x.vert, x.sigmaRms])}`);
    assert.ok(Math.abs(x.panel.rms - z.panel.rms) < 0.02);
    const m = sphereMesh(1, 8, 16);
    const a = sourcePanelCp(m, { tol: 1e-10 });
    const b = sourcePanelCp(m, { freestream: [0, 0, 3], tol: 1e-10 });
    for (let t = 0; t < a.sigma.length; t++) {
      assert.ok(Math.abs(b.sigma[t]! - 3 * a.sigma[t]!) < 1e-8);
      assert.ok(Math.abs(b.cpPanels[t]! - a.cpPanels[t]!) < 1e-8);
    }
  });

  it('a superellipsoid car body: finite Cp ≤ 1, stagnation at the nose, no net outflow, mirror symmetry', () => {
    const p: BodyParams = { length: 4.2, width: 1.8, height: 1.4, exponent: 3, taper: 0.1, floor: 0.7, bumps: [0.04, 0.03, 0.05, -0.03, 0.02, 0] };
    const m = bodyMesh(p, 16, 32);
    const sol = sourcePanelCp(m, { tol: 1e-10 });
    const g = meshGeometry(m);
    const V = m.vertices.length / 3;
    assert.ok(sol.cpVertices.every((c) => Number.isFinite(c) && c <= 1 + 1e-12));
    assert.ok(sol.cpVertices[0]! > 0.95, `nose Cp ${sol.cpVertices[0]}`);
    assert.ok(Math.min(...sol.cpVertices) < -0.3, 'suction over the shoulders');
    let net = 0;
    let abs = 0;
    for (let t = 0; t < g.areas.length; t++) {
      net += sol.sigma[t]! * g.areas[t]!;
      abs += Math.abs(sol.sigma[t]!) * g.areas[t]!;
    }
    // Measured ≈ 1e-3 (discretisation error of the closed surface's zero net flux).
    assert.ok(Math.abs(net / abs) < 0.01, `net source ${net / abs}`);
    // The mesh is mirror-symmetric (nPhi even) and so is the body (no s_x bump): Cp(x) = Cp(−x).
    const mirror = new Int32Array(V);
    for (let v = 0; v < V; v++) {
      const [x, y, z] = [m.vertices[3 * v]!, m.vertices[3 * v + 1]!, m.vertices[3 * v + 2]!];
      let bd = Infinity;
      for (let u = 0; u < V; u++) {
        const d = Math.hypot(m.vertices[3 * u]! + x, m.vertices[3 * u + 1]! - y, m.vertices[3 * u + 2]! - z);
        if (d < bd) {
          bd = d;
          mirror[v] = u;
        }
      }
      assert.ok(bd < 1e-12, `vertex ${v} has no mirror image (${bd})`);
    }
    assert.ok(mirror.filter((u, v) => u !== v).length > V / 2);
    // Ring 8 (vertices 1 + 8·32 + m): φ = 2π(m + 4)/32, so m = 0 (π/4) mirrors to m = 16 − 8 − 0 = 8.
    assert.equal(mirror[1 + 8 * 32], 1 + 8 * 32 + 8);
    const maxAsym = (cp: Float64Array): number => cp.reduce((a, c, v) => Math.max(a, Math.abs(c - cp[mirror[v]!]!)), 0);
    assert.ok(maxAsym(sol.cpVertices) < 1e-7, `asymmetry ${maxAsym(sol.cpVertices)}`);
    // An asymmetric bump (s_x) breaks the symmetry visibly.
    const asym = sourcePanelCp(bodyMesh({ ...p, bumps: [0.04, 0.03, 0.05, -0.03, 0.02, 0.02] }, 16, 32));
    assert.ok(maxAsym(asym.cpVertices) > 1e-2, `asymmetry ${maxAsym(asym.cpVertices)}`);
  });

  it('solves a ~1000-vertex body in a few GMRES iterations and time, and reports non-convergence', () => {
    const m = bodyMesh(sampleBodyParams(new Rng(3)), 22, 44);
    assert.equal(m.vertices.length / 3, 970);
    const t0 = performance.now();
    const sol = sourcePanelCp(m);
    const ms = performance.now() - t0;
    // Measured ≈ 0.3–0.6 s and 8 iterations (on a shared 2-core machine).
    assert.ok(ms < 5000, `${ms} ms`);
    assert.ok(sol.iterations <= 15 && sol.residual <= 1e-6, `${sol.iterations} iterations`);
    assert.ok(sol.cpVertices.every((c) => Number.isFinite(c) && c <= 1));
    const small = sphereMesh(1, 6, 12);
    assert.throws(
      () => sourcePanelCp(small, { tol: 1e-12, maxIter: 2 }),
      (e: unknown) => e instanceof PanelConvergenceError && e.iterations === 2 && e.residual > 1e-12 && /did not reach/.test(e.message),
    );
    assert.throws(() => sourcePanelCp(small, { freestream: [0, 0, 0] }), BodyOptionsError);
    assert.throws(() => sourcePanelCp(small, { tol: 0 }), BodyOptionsError);
    assert.throws(() => sourcePanelCp(small, { maxIter: 0 }), BodyOptionsError);
  });
});

describe('signedDistance', () => {
  it('equals |p| − R for a sphere to within the mesh’s distance from the sphere', () => {
    const R = 1.5;
    const m = sphereMesh(R, 16, 32);
    const g = meshGeometry(m);
    // Every mesh point x has R ≥ |x| ≥ min over triangles of n·a (plane distance), so the mesh and the
    // sphere are within gap of each other.
    let minPlane = Infinity;
    for (let t = 0; t < g.areas.length; t++) {
      const a = m.triangles[3 * t]!;
      minPlane = Math.min(minPlane, g.normals[3 * t]! * m.vertices[3 * a]! + g.normals[3 * t + 1]! * m.vertices[3 * a + 1]! + g.normals[3 * t + 2]! * m.vertices[3 * a + 2]!);
    }
    const gap = R - minPlane;
    assert.ok(gap > 0 && gap < 0.02, `gap ${gap}`);
    const rng = new Rng(9);
    const Q = 500;
    const q = rng.uniformArray(3 * Q, -3, 3);
    const d = signedDistance(m, q);
    let inside = 0;
    for (let i = 0; i < Q; i++) {
      const r = Math.hypot(q[3 * i]!, q[3 * i + 1]!, q[3 * i + 2]!);
      assert.ok(Math.abs(d[i]! - (r - R)) <= gap + 1e-12, `query ${i}: ${d[i]} vs ${r - R}`);
      if (r < R - gap) {
        assert.ok(d[i]! < 0);
        inside++;
      }
    }
    assert.ok(inside > 20, `${inside} inside`);
    const c = signedDistance(m, new Float64Array([0, 0, 0, 0, 0, 4]));
    assert.ok(Math.abs(c[0]! + R) <= gap && Math.abs(c[1]! - 2.5) < 1e-12, `${c[0]}, ${c[1]}`);
  });

  it('matches brute-force distances and winding-number signs for a body, also next to the surface', () => {
    const m = bodyMesh(sampleBodyParams(new Rng(17)), 10, 20);
    const g = meshGeometry(m);
    const T = g.areas.length;
    const { lo, hi } = bodyBox();
    const rng = new Rng(5);
    const pts: number[] = [];
    for (let i = 0; i < 150; i++) for (let d = 0; d < 3; d++) pts.push(rng.uniform(lo[d]!, hi[d]!));
    // Points just off the surface along the vertex normals, both sides, and on vertices and centroids.
    for (let v = 0; v < m.vertices.length / 3; v += 7) {
      for (const h of [1e-3, -1e-3]) for (let d = 0; d < 3; d++) pts.push(m.vertices[3 * v + d]! + h * g.vertexNormals[3 * v + d]!);
    }
    for (let t = 0; t < T; t += 13) for (let d = 0; d < 3; d++) pts.push(g.centroids[3 * t + d]! + 0.05 * g.normals[3 * t + d]!);
    const q = Float64Array.from(pts);
    const sd = signedDistance(m, q);
    let neg = 0;
    for (let i = 0; i < q.length / 3; i++) {
      const p = [q[3 * i]!, q[3 * i + 1]!, q[3 * i + 2]!];
      let best = Infinity;
      for (let t = 0; t < T; t++) best = Math.min(best, triangleDistance(m.vertices, m.triangles[3 * t]!, m.triangles[3 * t + 1]!, m.triangles[3 * t + 2]!, p));
      assert.ok(Math.abs(Math.abs(sd[i]!) - best) < 1e-12, `query ${i}: |${sd[i]}| vs ${best}`);
      const wn = windingNumber(m, p[0]!, p[1]!, p[2]!);
      assert.ok(Math.abs(wn - Math.round(wn)) < 1e-6 && (wn > 0.5) === (sd[i]! < 0), `query ${i}: winding ${wn}, sdf ${sd[i]}`);
      if (sd[i]! < 0) neg++;
    }
    assert.ok(neg > 20);
    assert.throws(() => signedDistance(m, new Float64Array(4)), BodyOptionsError);
  });

  it('takes the sign from the closest feature’s pseudo-normal at a needle tip (face normals disagree there)', () => {
    // A thin tetrahedron: apex (0, 0, 1) over a small base; points above the apex, off to the side,
    // have the apex as closest point, and some lateral faces' normals point away from them.
    const vertices = new Float64Array([0, 0, 1, ...[0, 1, 2].flatMap((k) => [0.1 * Math.cos((2 * PI * k) / 3), 0.1 * Math.sin((2 * PI * k) / 3), 0])]);
    let triangles = new Int32Array([0, 1, 2, 0, 2, 3, 0, 3, 1, 1, 3, 2]);
    if (signedVolume({ vertices, triangles }) < 0) triangles = triangles.map((_, i) => triangles[i - (i % 3) + (2 - (i % 3))]!);
    const m: TriMesh = { vertices, triangles };
    assert.ok(signedVolume(m) > 0);
    const q: number[] = [];
    for (let k = 0; k < 12; k++) q.push(0.3 * Math.cos((2 * PI * k) / 12), 0.3 * Math.sin((2 * PI * k) / 12), 1.05);
    q.push(0, 0, 0.5, 0.02, 0, 0.2);
    const d = signedDistance(m, Float64Array.from(q));
    for (let k = 0; k < 12; k++) assert.ok(Math.abs(d[k]! - Math.hypot(0.3, 0.05)) < 1e-12, `query ${k}: ${d[k]}`);
    assert.ok(d[12]! < 0 && d[13]! < 0, `inside: ${d[12]}, ${d[13]}`);
  });
});

describe('generateBodies', () => {
  const opts = { n: 3, seed: 11, points: 300, grid: 6 };

  it('normalises to the fixed box, with geometry, SDF and Cp that recompute from the parameters', () => {
    const seen: number[] = [];
    const d = generateBodies({ ...opts, onSample: (i) => seen.push(i) });
    assert.deepEqual(seen, [0, 1, 2]);
    const { lo, hi } = bodyBox();
    assert.deepEqual(d.meta.box, { lo, hi });
    assert.equal(d.meta.grid, 6);
    assert.deepEqual(d.meta.freestream, [0, 0, 1]);
    const G = 6;
    const counts = new Set<number>();
    for (const s of d.samples) {
      const V = s.vertices.length / 3;
      const T = s.triangles.length / 3;
      counts.add(V);
      assert.ok(V >= 225 && V <= 300, `V = ${V}`);
      assert.equal(T, 2 * (V - 2));
      assert.equal(s.normals.length, 3 * V);
      assert.equal(s.vertexAreas.length, V);
      assert.equal(s.cp.length, V);
      assert.equal(s.sdf.length, G * G * G);
      assert.ok(s.vertices.every((x) => x > 0 && x < 1));
      assert.ok(s.panelResidual <= 1e-6 && s.panelIterations > 0);
      // Rebuild the body: nPhi = triangles around the nose pole (vertex 0).
      let nPhi = 0;
      for (let k = 0; k < s.triangles.length; k++) if (s.triangles[k] === 0) nPhi++;
      const nTheta = (V - 2) / nPhi;
      assert.ok(Number.isInteger(nTheta) && nPhi >= 1.5 * nTheta && nPhi <= 2.5 * nTheta, `nTheta ${nTheta}, nPhi ${nPhi}`);
      const phys = bodyMesh(s.params, nTheta, nPhi);
      assert.deepEqual(phys.triangles, s.triangles);
      const norm = new Float64Array(phys.vertices.length);
      for (let k = 0; k < norm.length; k++) norm[k] = (phys.vertices[k]! - lo[k % 3]!) / (hi[k % 3]! - lo[k % 3]!);
      assert.deepEqual(s.vertices, Float32Array.from(norm));
      assert.deepEqual(s.cp, Float32Array.from(sourcePanelCp(phys).cpVertices));
      const nm: TriMesh = { vertices: norm, triangles: phys.triangles };
      const g = meshGeometry(nm);
      let area = 0;
      for (let t = 0; t < T; t++) area += g.areas[t]!;
      const va = s.vertexAreas.reduce((a, x) => a + x, 0);
      assert.ok(Math.abs(va - area) < 1e-5 * area);
      for (let v = 0; v < V; v++) {
        assert.ok(Math.abs(Math.hypot(s.normals[3 * v]!, s.normals[3 * v + 1]!, s.normals[3 * v + 2]!) - 1) < 1e-6);
        for (let d = 0; d < 3; d++) assert.ok(Math.abs(s.normals[3 * v + d]! - g.vertexNormals[3 * v + d]!) < 1e-6);
      }
      assert.ok(signedVolume(nm) > 0, 'outward in normalised coordinates too');
      // SDF layout (i·G + j)·G + k at (i, j, k)/(G − 1), against signedDistance of the normalised mesh.
      const idx = [0, 7, 43, 100, 129, 215];
      const q = new Float64Array(3 * idx.length);
      idx.forEach((p, r) => {
        const i = Math.floor(p / (G * G)), j = Math.floor(p / G) % G, k = p % G;
        q.set([i / (G - 1), j / (G - 1), k / (G - 1)], 3 * r);
      });
      const ref = signedDistance(nm, q);
      idx.forEach((p, r) => assert.equal(s.sdf[p], Math.fround(ref[r]!)));
      assert.ok(s.sdf[0]! > 0 && s.sdf[G * G * G - 1]! > 0, 'box corners are outside');
      // The grid point nearest the box centre of the body (x, z mid; y just above the floor) is inside.
      const centre = signedDistance(nm, new Float64Array([0.5, (0 - lo[1]) / (hi[1] - lo[1]), 0.5]));
      assert.ok(centre[0]! < 0);
      assert.ok(s.sdf.some((x) => x < 0));
    }
    assert.ok(counts.size > 1, 'vertex counts vary between samples');
  });

  it('is deterministic per (seed, index): shards equal the same samples of a bigger run', () => {
    const a = generateBodies(opts);
    const b = generateBodies(opts);
    assert.deepEqual(a.samples, b.samples);
    const shard = generateBodies({ ...opts, n: 2, start: 1 });
    assert.deepEqual(shard.samples, a.samples.slice(1));
    assert.equal(shard.meta.start, 1);
    const other = generateBodies({ ...opts, n: 1, seed: 12 });
    assert.notDeepEqual(other.samples[0]!.params, a.samples[0]!.params);
    assert.notDeepEqual(a.samples[0]!.params, a.samples[1]!.params);
  });

  it('rejects bad options with named RangeErrors', () => {
    const bad = [
      { ...opts, n: 0 },
      { ...opts, n: 1.5 },
      { ...opts, points: 49 },
      { ...opts, points: 100.5 },
      { ...opts, grid: 1 },
      { ...opts, grid: 2.5 },
      { ...opts, start: -1 },
      { ...opts, seed: 0.5 },
    ];
    for (const o of bad) assert.throws(() => generateBodies(o), (e: unknown) => e instanceof BodyOptionsError && e instanceof RangeError && e.name === 'BodyOptionsError', JSON.stringify(o));
    const tiny = generateBodies({ n: 1, seed: 0, points: 50, grid: 2 });
    const V = tiny.samples[0]!.vertices.length / 3;
    assert.ok(V >= 38 && V <= 50, `V = ${V}`);
    assert.equal(tiny.samples[0]!.sdf.length, 8);
  });
});
