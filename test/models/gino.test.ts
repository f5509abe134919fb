import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { type Batch, releaseBatch, rowPointers } from '../../src/core/batch.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import * as ops from '../../src/autograd/ops.js';
import { backward, noGrad, tidy } from '../../src/autograd/variable.js';
import { radiusNeighbors } from '../../src/kernels/neighbors.js';
import { GNOBlock, type GnoTransform, sinusoidalEmbedding } from '../../src/nn/gno.js';
import { GINO, type GINOOptions } from '../../src/models/gino.js';
import { buildModel } from '../../src/models/registry.js';
import { LpLoss } from '../../src/losses/index.js';
import { AdamW } from '../../src/optim/index.js';
import { PointCloudDataset, loadCarPt, unitGrid } from '../../src/data/points.js';
import { checkParameterGradients } from '../helpers.js';

const rng = new Rng(4242);
const MINI_CAR = new URL('../../../../shared/data/neuralop/mini_car.pt', import.meta.url).pathname;

function cloud(n: number, lo = 0, hi = 1): Float64Array {
  return Float64Array.from(rng.uniformArray(3 * n), (u) => lo + (hi - lo) * u);
}

function gno(o: Partial<ConstructorParameters<typeof GNOBlock>[0]> & { transform: GnoTransform }): GNOBlock {
  return new GNOBlock({
    inChannels: 2, outChannels: 2, coordDim: 3, radius: 0.45, reduction: 'mean', posEmbedding: 'nerf', embedChannels: 2, maxPositions: 10000,
    hiddenLayers: [5, 4], rng, dtype: 'float64', ...o,
  });
}

describe('sinusoidal embedding', () => {
  it("is neuralop's layout [n, d, L, (sin, cos)] with nerf and transformer frequencies", () => {
    const p = cloud(4);
    for (const type of ['nerf', 'transformer'] as const) {
      const L = 3;
      const e = sinusoidalEmbedding(p, 3, L, type, 100);
      for (let i = 0; i < 4; i++) for (let c = 0; c < 3; c++) for (let k = 0; k < L; k++) {
        const w = type === 'nerf' ? 2 ** k * Math.PI : (1 / 100) ** ((2 * k) / L);
        const o = ((i * 3 + c) * L + k) * 2;
        assert.ok(Math.abs(e[o]! - Math.sin(w * p[i * 3 + c]!)) < 1e-15);
        assert.ok(Math.abs(e[o + 1]! - Math.cos(w * p[i * 3 + c]!)) < 1e-15);
      }
    }
  });
});

describe('GNO integral transform', () => {
  const N = 14;
  const M = 9;
  const y = cloud(N);
  const x = cloud(M);
  const graph = radiusNeighbors(y, x, 0.45);

  it('the graph has edges and some rows of several neighbours (the test exercises the reduction)', () => {
    assert.ok(graph.indices.length > M);
  });

  for (const transform of ['linear', 'linear_kernelonly', 'nonlinear', 'nonlinear_kernelonly'] as const) {
    for (const reduction of ['mean', 'sum'] as const) {
      it(`${transform}, ${reduction}: parameter and input gradients match finite differences (float64)`, () => {
        const layer = gno({ transform, reduction, hiddenLayers: transform === 'linear' ? [5, 4, 3] : [5, 4] });
        const f = Tensor.fromArray(rng.normalArray(N * 2), [N, 2], 'float64');
        const fv = ops.constant(f);
        checkParameterGradients(layer, () => layer.forward({ y, x, graph, f: fv, dtype: 'float64' }), { rng, eps: 1e-6, tol: 1e-5, floor: 1e-8, samples: 4, gmaxShare: 1e-3, nonzero: true, label: transform });
        const r = gradcheck(([fi]) => layer.forward({ y, x, graph, f: fi!, dtype: 'float64' }), [f], { eps: 1e-6 });
        assert.ok(r.maxRelErr[0]! < 1e-6, `input gradient: max relative error ${r.maxRelErr[0]}`);
        layer.release();
      });
    }
  }

  it('quadrature weights multiply the integrand and sum: matches a direct loop over the edges', () => {
    const layer = gno({ transform: 'linear_kernelonly', inChannels: 0, outChannels: 3, hiddenLayers: [4] });
    const w = Tensor.fromArray(rng.uniformArray(N), [N], 'float64');
    const out = noGrad(() => tidy(() => layer.forward({ y, x, graph, weights: w, dtype: 'float64' }).value.toFloat64()));
    const plain = noGrad(() => tidy(() => {
      const l2 = gno({ transform: 'linear_kernelonly', inChannels: 0, outChannels: 3, hiddenLayers: [4], reduction: 'sum' });
      l2.loadStateDict(Object.fromEntries(layer.stateDict()));
      // one query at a time with its own data points and unit weights, scaled by hand
      const res = new Float64Array(M * 3);
      for (let q = 0; q < M; q++) {
        for (let e = graph.rowPtr[q]!; e < graph.rowPtr[q + 1]!; e++) {
          const j = graph.indices[e]!;
          const one = { rowPtr: Int32Array.from([0, 1]), indices: Int32Array.from([0]) };
          const v = l2.forward({ y: y.subarray(3 * j, 3 * j + 3), x: x.subarray(3 * q, 3 * q + 3), graph: one, dtype: 'float64' }).value.toFloat64();
          for (let c = 0; c < 3; c++) res[q * 3 + c] += w.toFloat64()[j]! * v[c]!;
        }
      }
      l2.release();
      return res;
    }));
    out.forEach((v, i) => assert.ok(Math.abs(v - plain[i]!) < 1e-12, `${i}: ${v} vs ${plain[i]}`));
    layer.release();
  });

  it('mean reduction is exact on a constant field (kernel ≡ 1), sum gives the neighbour count; empty rows are 0', () => {
    const layer = gno({ transform: 'linear', hiddenLayers: [3] });
    // kernel ≡ 1: every weight 0 and the last bias 1
    for (const [name, p] of layer.namedParameters()) p.value.set(new Float64Array(p.size).fill(name.endsWith('fcs.1.bias') ? 1 : 0));
    const far = Float64Array.from([...x, 50, 50, 50]); // one query far from every point
    const g2 = radiusNeighbors(y, far, 0.45);
    const c = [0.3, -1.7];
    const f = ops.constant(Tensor.fromArray(Array.from({ length: N * 2 }, (_, i) => c[i % 2]!), [N, 2], 'float64'));
    const mean = noGrad(() => tidy(() => layer.forward({ y, x: far, graph: g2, f, dtype: 'float64' }).value.toFloat64()));
    for (let q = 0; q <= M; q++) {
      const n = g2.rowPtr[q + 1]! - g2.rowPtr[q]!;
      // exact up to the rounding of a float64 sum of n equal terms and one division
      for (let k = 0; k < 2; k++) assert.ok(Math.abs(mean[q * 2 + k]! - (n === 0 ? 0 : c[k]!)) <= 2 * n * Number.EPSILON * Math.abs(c[k]!), `query ${q} (${n} neighbours): ${mean[q * 2 + k]}`);
    }
    assert.equal(g2.rowPtr[M + 1]! - g2.rowPtr[M]!, 0);
    const sumLayer = gno({ transform: 'linear', hiddenLayers: [3], reduction: 'sum' });
    sumLayer.loadStateDict(Object.fromEntries(layer.stateDict()));
    const sum = noGrad(() => tidy(() => sumLayer.forward({ y, x: far, graph: g2, f, dtype: 'float64' }).value.toFloat64()));
    for (let q = 0; q <= M; q++) {
      const n = g2.rowPtr[q + 1]! - g2.rowPtr[q]!;
      for (let k = 0; k < 2; k++) assert.ok(Math.abs(sum[q * 2 + k]! - n * c[k]!) < 1e-12);
    }
    layer.release();
    sumLayer.release();
  });

  it('names bad input: radius ≤ 0, a nonlinear kernel without features, a feature count mismatch', () => {
    assert.throws(() => gno({ transform: 'linear', radius: 0 }), /radius must be a positive number/);
    assert.throws(() => gno({ transform: 'nonlinear', inChannels: 0 }), /reads the input function, but in_channels is 0/);
    const layer = gno({ transform: 'linear' });
    const f = ops.constant(Tensor.fromArray(rng.normalArray(N * 3), [N, 3], 'float64'));
    assert.throws(() => layer.forward({ y, x, graph, f, dtype: 'float64' }), /input function is \[14, 3\]; expected \[14 points, 2 channels\]/);
    layer.release();
  });
});

/** A small random point-cloud batch in the GINO layout: B samples of different point counts. */
function pointBatch(counts: number[], G: number, opts: { dtype?: 'float32' | 'float64'; features?: number } = {}): Batch {
  const dt = opts.dtype ?? 'float32';
  const P = counts.reduce((a, b) => a + b, 0);
  const B = counts.length;
  const tensors: Record<string, Tensor> = {
    input_geom: Tensor.fromArray(Float64Array.from(rng.uniformArray(3 * P), (u) => 0.15 + 0.7 * u), [P, 3], 'float32'),
    latent_queries: Tensor.fromArray(unitGrid(G), [G, G, G, 3], 'float32'),
    latent_features: Tensor.fromArray(rng.uniformArray(B * G * G * G), [B, 1, G, G, G], dt),
    y: Tensor.fromArray(rng.normalArray(P), [P, 1], dt),
    weights: Tensor.fromArray(rng.uniformArray(P), [P], dt),
  };
  if (opts.features) tensors['x'] = Tensor.fromArray(rng.normalArray(P * opts.features), [P, opts.features], dt);
  const seg = rowPointers(counts);
  return { size: B, tensors, segments: { input_geom: seg, y: seg, weights: seg, ...(opts.features ? { x: seg } : {}) } };
}

const SMALL: GINOOptions = {
  out_channels: 1, latent_feature_channels: 1, fno_n_modes: [4, 4, 4], fno_hidden_channels: 4, fno_n_layers: 2, in_gno_radius: 0.3, out_gno_radius: 0.3,
  gno_embed_channels: 2, in_gno_pos_embed_type: 'nerf', out_gno_pos_embed_type: 'nerf', in_gno_channel_mlp_hidden_layers: [6, 5], out_gno_channel_mlp_hidden_layers: [6],
  projection_channel_ratio: 1, fno_lifting_channel_ratio: 1,
};

describe('GINO', () => {
  it('is built by name from the registry with neuralop state-dict names', () => {
    const m = buildModel({ name: 'GINO', ...SMALL });
    const names = [...m.stateDict().keys()];
    for (const want of ['gno_in.integral_transform.channel_mlp.fcs.0.weight', 'lifting.fcs.0.weight', 'fno_blocks.convs.0.weight', 'gno_out.integral_transform.channel_mlp.fcs.1.bias', 'projection.fcs.1.weight']) {
      assert.ok(names.some((n) => n.startsWith(want)), `${want} missing (${names.join(', ')})`);
    }
    m.release();
  });

  it('parameter gradients match finite differences (float64, two samples of different sizes, quadrature weights, input features)', () => {
    const m = new GINO({ ...SMALL, dtype: 'float64', in_channels: 2, in_gno_transform_type: 'nonlinear', in_gno_quadrature: true, out_gno_tanh: 'latent_embed' });
    const b = pointBatch([23, 17], 5, { dtype: 'float64', features: 2 });
    // finite differences of this model carry ~1e-11 of rounding noise: gradients are compared above 1e-6
    checkParameterGradients(m, () => m.forwardBatch(b), { rng, eps: 1e-5, tol: 1e-4, floor: 1e-6, samples: 2, gmaxShare: 1e-3, nonzero: true, label: 'GINO' });
    releaseBatch(b);
    m.release();
  });

  it('a batch predicts what each sample predicts alone, and the input points can come in any order', () => {
    const m = new GINO(SMALL);
    const b = pointBatch([40, 29], 6);
    const both = noGrad(() => tidy(() => m.forwardBatch(b).value.toFloat64()));
    const seg = b.segments['input_geom']!;
    for (let s = 0; s < 2; s++) {
      const one = sub(b, s);
      const alone = noGrad(() => tidy(() => m.forwardBatch(one).value.toFloat64()));
      alone.forEach((v, i) => assert.ok(Math.abs(v - both[seg[s]! + i]!) < 1e-5 * (1 + Math.abs(v)), `sample ${s} point ${i}`));
      // the same sample with its points reversed: the prediction at each point is unchanged
      const rev = reversed(one);
      const r = noGrad(() => tidy(() => m.forwardBatch(rev).value.toFloat64()));
      const n = alone.length;
      for (let i = 0; i < n; i++) assert.ok(Math.abs(r[n - 1 - i]! - alone[i]!) < 1e-4 * (1 + Math.abs(alone[i]!)), `reversed point ${i}: ${r[n - 1 - i]} vs ${alone[i]}`);
      releaseBatch(one);
      releaseBatch(rev);
    }
    const stats = m.takeGraphStats();
    assert.ok(stats['in_gno']!.queries > 0 && stats['in_gno']!.empty > 0, 'latent points far from the cloud have empty neighbourhoods, counted');
    releaseBatch(b);
    m.release();
  });

  it('under AMP (GNO kernels and FNO in 16-bit) the prediction differs from float32 by the half type\'s rounding, no more and no less', () => {
    const o: GINOOptions = { ...SMALL, fno_hidden_channels: 8, in_gno_channel_mlp_hidden_layers: [16, 16], out_gno_channel_mlp_hidden_layers: [16, 16], fno_stabilizer: 'tanh' };
    const full = new GINO(o);
    const b = pointBatch([60, 45], 6);
    const ref = noGrad(() => tidy(() => full.forwardBatch(b).value.toFloat64()));
    for (const [half, u] of [['float16', 2 ** -11], ['bfloat16', 2 ** -8]] as const) {
      for (const prec of ['mixed', 'half'] as const) {
        const m = new GINO({ ...o, fno_block_precision: prec, amp: true, half_type: half });
        m.loadStateDict(Object.fromEntries(full.stateDict()));
        const y = noGrad(() => tidy(() => m.forwardBatch(b).value.toFloat64()));
        let n = 0;
        let d = 0;
        y.forEach((v, i) => {
          n += (v - ref[i]!) ** 2;
          d += ref[i]! ** 2;
        });
        const rel = Math.sqrt(n / d);
        assert.ok(rel > u / 20 && rel < 4 * u, `${half} ${prec}: relative L2 ${rel} against float32 (unit roundoff ${u})`);
        m.release();
      }
    }
    releaseBatch(b);
    full.release();
  });

  it('names bad input: an empty cloud, non-finite coordinates, missing fields, radius ≤ 0', () => {
    const m = new GINO(SMALL);
    const b = pointBatch([10, 0], 4);
    assert.throws(() => noGrad(() => tidy(() => m.forwardBatch(b))), /sample 1 of the batch has an empty point cloud/);
    releaseBatch(b);
    const c = pointBatch([10], 4);
    const g = c.tensors['input_geom']!.toFloat64();
    g[4] = NaN;
    c.tensors['input_geom']!.set(g);
    assert.throws(() => noGrad(() => tidy(() => m.forwardBatch(c))), /input_geom' point 1 has a non-finite coordinate/);
    releaseBatch(c);
    const d = pointBatch([10], 4);
    d.tensors['latent_features']!.release();
    const { latent_features: _lf, ...rest } = d.tensors;
    void _lf;
    assert.throws(() => noGrad(() => tidy(() => m.forwardBatch({ ...d, tensors: rest }))), /the batch has no field 'latent_features'/);
    releaseBatch({ ...d, tensors: rest });
    assert.throws(() => new GINO({ ...SMALL, in_gno_radius: -1 }), /in_gno_radius must be a positive number/);
    assert.throws(() => new GINO({ ...SMALL, fno_norm: 'ada_in' } as unknown as GINOOptions), /fno_norm must be one of group_norm, instance_norm or null, got "ada_in"/);
    assert.throws(() => new GINO({ ...SMALL, fno_preactivation: true } as GINOOptions), /fno_preactivation' = true is not supported/);
    m.release();
  });

  it('trains: AdamW steps on a fixed batch lower the loss', () => {
    const m = new GINO({ ...SMALL, fno_hidden_channels: 8 });
    const b = pointBatch([30, 25], 6);
    // a smooth target of the geometry (pressure-like: high at the front, low on top)
    const g = b.tensors['input_geom']!.toFloat64();
    b.tensors['y']!.set(Float64Array.from({ length: 55 }, (_, i) => 1 - 2 * g[3 * i + 2]! + Math.sin(3 * g[3 * i + 1]!)));
    const loss = new LpLoss({});
    const value = () => noGrad(() => tidy(() => loss.forward(m.forwardBatch(b), b.tensors['y']!, b.segments['y']).item()));
    const first = value();
    const opt = new AdamW(m.parameters(), { lr: 1e-2, weight_decay: 0 });
    for (let step = 0; step < 30; step++) {
      opt.zeroGrad();
      const l = tidy(() => loss.forward(m.forwardBatch(b), b.tensors['y']!, b.segments['y']));
      backward(l);
      l.release();
      opt.step();
    }
    const last = value();
    assert.ok(last < 0.5 * first, `loss ${first} → ${last}`);
    opt.release();
    releaseBatch(b);
    m.release();
  });
});

describe('point datasets', () => {
  it('batches concatenate point fields with row pointers, stack grid fields and share the latent grid', () => {
    const mk = (P: number) => ({
      input_geom: Tensor.fromArray(rng.uniformArray(3 * P), [P, 3], 'float32'),
      y: Tensor.fromArray(rng.normalArray(P), [P, 1], 'float32'),
      latent_features: Tensor.fromArray(rng.uniformArray(8), [1, 2, 2, 2], 'float32'),
    });
    const ds = new PointCloudDataset([mk(5), mk(3), mk(7)], new Set(['input_geom', 'y']), { latent_queries: Tensor.fromArray(unitGrid(2), [2, 2, 2, 3], 'float32') });
    const b = ds.batch([2, 0]);
    assert.deepEqual([...b.segments['y']!], [0, 7, 12]);
    assert.deepEqual(b.tensors['input_geom']!.shape, [12, 3]);
    assert.deepEqual(b.tensors['latent_features']!.shape, [2, 1, 2, 2, 2]);
    assert.deepEqual(b.tensors['latent_queries']!.shape, [2, 2, 2, 3]);
    assert.deepEqual([...b.tensors['y']!.toFloat64().subarray(7)], [...ds.samples[0]!['y']!.toFloat64()]);
    // the relative L2 per sample over its own points
    const pred = Tensor.fromArray(rng.normalArray(12), [12, 1], 'float32');
    const l = new LpLoss({}).forward(ops.constant(pred), b.tensors['y']!, b.segments['y']).item();
    const p = pred.toFloat64();
    const y = b.tensors['y']!.toFloat64();
    const rel = (a: number, z: number) => {
      let n = 0;
      let d = 0;
      for (let i = a; i < z; i++) {
        n += (p[i]! - y[i]!) ** 2;
        d += y[i]! ** 2;
      }
      return Math.sqrt(n) / (Math.sqrt(d) + 1e-8);
    };
    assert.ok(Math.abs(l - (rel(0, 7) + rel(7, 12))) < 1e-5);
    releaseBatch(b);
    assert.throws(() => ds.batch([3]), /sample index 3 is outside 0…2/);
    ds.release();
  });

  it("reads neuralop's mini_car.pt: 3 cars, vertices, pressure, SDF on the 16³ latent grid", { skip: !existsSync(MINI_CAR) && 'no ../shared/data' }, () => {
    const ds = loadCarPt(MINI_CAR);
    assert.equal(ds.length, 3);
    assert.deepEqual(ds.pointCounts(), [3586, 3586, 3586]);
    const s = ds.samples[0]!;
    assert.deepEqual(s['y']!.shape, [3586, 1]);
    assert.deepEqual(s['latent_features']!.shape, [1, 16, 16, 16]);
    assert.deepEqual(ds.shared['latent_queries']!.shape, [16, 16, 16, 3]);
    // vertex areas rebuilt from the centroids: positive, of the size of a surface over [0, 1]³
    const w = s['weights']!.toFloat64();
    const total = w.reduce((a, b) => a + b, 0);
    assert.ok(w.every((v) => v >= 0) && total > 1 && total < 10, `surface area ${total}`);
    ds.release();
  });
});

function sub(b: Batch, s: number): Batch {
  const seg = b.segments['input_geom']!;
  const tensors: Record<string, Tensor> = {};
  const segments: Record<string, Int32Array> = {};
  for (const [k, t] of Object.entries(b.tensors)) {
    if (b.segments[k]) {
      const per = t.size / t.shape[0]!;
      tensors[k] = Tensor.fromArray(t.toFloat64().subarray(seg[s]! * per, seg[s + 1]! * per), [seg[s + 1]! - seg[s]!, ...t.shape.slice(1)], t.dtype);
      segments[k] = Int32Array.from([0, seg[s + 1]! - seg[s]!]);
    } else if (k === 'latent_queries') tensors[k] = t.clone();
    else tensors[k] = t.slice(s, s + 1).clone();
  }
  return { size: 1, tensors, segments };
}

function reversed(b: Batch): Batch {
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(b.tensors)) {
    if (!b.segments[k]) {
      tensors[k] = t.clone();
      continue;
    }
    const n = t.shape[0]!;
    const per = t.size / n;
    const v = t.toFloat64();
    const r = new Float64Array(v.length);
    for (let i = 0; i < n; i++) r.set(v.subarray(i * per, (i + 1) * per), (n - 1 - i) * per);
    tensors[k] = Tensor.fromArray(r, t.shape, t.dtype);
  }
  return { size: b.size, tensors, segments: { ...b.segments } };
}
