import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DType, DTYPES, itemSize } from '../../src/core/dtype.js';
import { type LedgerSnapshot, ledger, MemoryLedger, type Role, ROLES } from '../../src/core/ledger.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';

/** Live-byte differences between two snapshots, per total / role / dtype. */
function delta(a: LedgerSnapshot, b: LedgerSnapshot) {
  const byRole = {} as Record<Role, number>;
  const byDType = {} as Record<DType, number>;
  for (const r of ROLES) byRole[r] = b.byRole[r].live - a.byRole[r].live;
  for (const d of DTYPES) byDType[d] = b.byDType[d].live - a.byDType[d].live;
  return { live: b.live - a.live, allocations: b.allocations - a.allocations, releases: b.releases - a.releases, byRole, byDType };
}

function only<K extends string>(keys: readonly K[], k: K, v: number): Record<K, number> {
  const r = {} as Record<K, number>;
  for (const x of keys) r[x] = x === k ? v : 0;
  return r;
}

describe('ledger: tensor allocations', () => {
  it('counts every allocation by dtype and role with itemSize x elements bytes, and releases', () => {
    const shapes = [[3, 5], [7], [], [2, 0, 3], [1, 1, 129]];
    for (const dt of DTYPES) {
      for (const role of ROLES) {
        for (const shape of shapes) {
          const elems = shape.reduce((a, b) => a * b, 1);
          const bytes = elems * itemSize(dt);
          const s0 = ledger.snapshot();
          const t = Tensor.empty(shape, dt, role);
          const s1 = ledger.snapshot();
          assert.deepEqual(
            delta(s0, s1),
            { live: bytes, allocations: 1, releases: 0, byRole: only(ROLES, role, bytes), byDType: only(DTYPES, dt, bytes) },
            `${dt} ${role} [${shape}]`,
          );
          assert.ok(s1.peak >= s1.live);
          assert.ok(s1.byRole[role].peak >= s1.byRole[role].live);
          t.release();
          const s2 = ledger.snapshot();
          assert.deepEqual(
            delta(s0, s2),
            { live: 0, allocations: 1, releases: 1, byRole: only(ROLES, role, 0), byDType: only(DTYPES, dt, 0) },
            `${dt} ${role} [${shape}] after release`,
          );
        }
      }
    }
  });

  it('zeros / full / fromArray / clone are counted too', () => {
    const s0 = ledger.snapshot();
    const ts = [
      Tensor.zeros([10], 'float16', 'gradient'),
      Tensor.full([4, 4], 2, 'float64', 'optimizer'),
      Tensor.fromArray([1, 2, 3], [3], 'bfloat16', 'data'),
    ];
    ts.push(ts[1]!.clone('workspace'));
    const d = delta(s0, ledger.snapshot());
    assert.equal(d.live, 20 + 128 + 6 + 128);
    assert.equal(d.allocations, 4);
    assert.equal(d.byRole.gradient, 20);
    assert.equal(d.byRole.optimizer, 128);
    assert.equal(d.byRole.data, 6);
    assert.equal(d.byRole.workspace, 128);
    assert.equal(d.byDType.float64, 256);
    assert.equal(d.byDType.float16, 20);
    assert.equal(d.byDType.bfloat16, 6);
    for (const t of ts) t.release();
    assert.equal(delta(s0, ledger.snapshot()).live, 0);
  });

  it('peak tracks the maximum; resetPeak() sets every peak to live', () => {
    ledger.resetPeak();
    const s0 = ledger.snapshot();
    assert.equal(s0.peak, s0.live);
    for (const r of ROLES) assert.equal(s0.byRole[r].peak, s0.byRole[r].live);
    for (const d of DTYPES) assert.equal(s0.byDType[d].peak, s0.byDType[d].live);

    const a = Tensor.empty([250], 'float32', 'activation'); // 1000 B
    const b = Tensor.empty([1000], 'float16', 'activation'); // 2000 B
    a.release();
    const c = Tensor.empty([500], 'bfloat16', 'parameter'); // 1000 B
    let s = ledger.snapshot();
    assert.equal(s.live, s0.live + 3000);
    assert.equal(s.peak, s0.live + 3000);
    assert.equal(s.byRole.activation.live, s0.byRole.activation.live + 2000);
    assert.equal(s.byRole.activation.peak, s0.byRole.activation.live + 3000);
    assert.equal(s.byRole.parameter.peak, s0.byRole.parameter.live + 1000);
    assert.equal(s.byDType.float32.peak, s0.byDType.float32.live + 1000);
    assert.equal(s.byDType.float32.live, s0.byDType.float32.live);

    const d = Tensor.empty([2000], 'float32', 'workspace'); // 8000 B: new peak
    b.release();
    c.release();
    d.release();
    s = ledger.snapshot();
    assert.equal(s.live, s0.live);
    assert.equal(s.peak, s0.live + 11000);
    assert.equal(s.byRole.workspace.peak, s0.byRole.workspace.live + 8000);
    assert.equal(s.byDType.float32.peak, s0.byDType.float32.live + 8000);

    ledger.resetPeak();
    s = ledger.snapshot();
    assert.equal(s.peak, s.live);
    assert.equal(s.byRole.workspace.peak, s.byRole.workspace.live);
    assert.equal(s.byDType.float32.peak, s.byDType.float32.live);
  });

  it('peak over a random sequence equals the running maximum', () => {
    const rng = new Rng(5);
    ledger.resetPeak();
    const base = ledger.snapshot().live;
    const live: Tensor[] = [];
    let cur = base;
    let max = base;
    for (let i = 0; i < 400; i++) {
      if (live.length > 0 && rng.random() < 0.45) {
        const t = live.splice(rng.int(live.length), 1)[0]!;
        cur -= t.nbytes;
        t.release();
      } else {
        const dt = DTYPES[rng.int(4)]!;
        const t = Tensor.empty([rng.int(300)], dt, ROLES[rng.int(ROLES.length)]!);
        cur += t.nbytes;
        max = Math.max(max, cur);
        live.push(t);
      }
      const s = ledger.snapshot();
      assert.equal(s.live, cur);
      assert.equal(s.peak, max);
    }
    for (const t of live) t.release();
    assert.equal(ledger.snapshot().live, base);
  });

  it('setRole moves the bytes between roles (dtype and total unchanged)', () => {
    const t = Tensor.empty([64], 'float16', 'activation'); // 128 B
    const s0 = ledger.snapshot();
    t.setRole('parameter');
    assert.equal(t.role, 'parameter');
    const s1 = ledger.snapshot();
    assert.deepEqual(delta(s0, s1), {
      live: 0, allocations: 0, releases: 0,
      byRole: { ...only(ROLES, 'activation', -128), parameter: 128 },
      byDType: only(DTYPES, 'float16', 0),
    });
    assert.ok(s1.byRole.parameter.peak >= s1.byRole.parameter.live);
    t.setRole('parameter'); // same role: nothing moves
    assert.deepEqual(delta(s1, ledger.snapshot()).byRole, only(ROLES, 'activation', 0));
    // a view changes the role of the whole storage, and the release is booked under the new role
    const v = t.slice(10, 20);
    v.setRole('gradient');
    assert.equal(t.role, 'gradient');
    const s2 = ledger.snapshot();
    assert.equal(s2.byRole.gradient.live - s0.byRole.gradient.live, 128);
    assert.equal(s2.byRole.activation.live - s0.byRole.activation.live, -128);
    v.release();
    t.release();
    const s3 = ledger.snapshot();
    assert.equal(s3.byRole.gradient.live, s0.byRole.gradient.live);
    assert.equal(s3.byRole.activation.live, s0.byRole.activation.live - 128);
    assert.equal(s3.byRole.parameter.live, s0.byRole.parameter.live);
    assert.equal(s3.live, s0.live - 128);
  });

  it('views are not counted again', () => {
    const t = Tensor.empty([8, 8], 'float64', 'data');
    const s0 = ledger.snapshot();
    const r = t.reshape([-1, 2]);
    const views = [t.reshape([64]), t.slice(2, 5), r.slice(1)];
    r.release();
    assert.deepEqual(delta(s0, ledger.snapshot()), { live: 0, allocations: 0, releases: 0, byRole: only(ROLES, 'data', 0), byDType: only(DTYPES, 'float64', 0) });
    t.release();
    views[0]!.release();
    views[1]!.release();
    assert.equal(delta(s0, ledger.snapshot()).live, 0);
    views[2]!.release();
    assert.deepEqual(delta(s0, ledger.snapshot()), {
      live: -512, allocations: 0, releases: 1,
      byRole: only(ROLES, 'data', -512), byDType: only(DTYPES, 'float64', -512),
    });
  });
});

describe('MemoryLedger in isolation', () => {
  it('starts at zero in every category', () => {
    const l = new MemoryLedger();
    const s = l.snapshot();
    assert.equal(s.live, 0);
    assert.equal(s.peak, 0);
    assert.equal(s.allocations, 0);
    assert.equal(s.releases, 0);
    assert.deepEqual(Object.keys(s.byRole).sort(), [...ROLES].sort());
    assert.deepEqual(Object.keys(s.byDType).sort(), [...DTYPES].sort());
    for (const r of ROLES) assert.deepEqual(s.byRole[r], { live: 0, peak: 0 });
    for (const d of DTYPES) assert.deepEqual(s.byDType[d], { live: 0, peak: 0 });
  });

  it('allocate / release / retag / resetPeak', () => {
    const l = new MemoryLedger();
    l.allocate(100, 'float32', 'parameter');
    l.allocate(50, 'float16', 'activation');
    l.allocate(30, 'float16', 'parameter');
    let s = l.snapshot();
    assert.equal(s.live, 180);
    assert.equal(s.peak, 180);
    assert.equal(s.allocations, 3);
    assert.deepEqual(s.byRole.parameter, { live: 130, peak: 130 });
    assert.deepEqual(s.byRole.activation, { live: 50, peak: 50 });
    assert.deepEqual(s.byDType.float16, { live: 80, peak: 80 });
    assert.deepEqual(s.byDType.float32, { live: 100, peak: 100 });

    l.release(100, 'float32', 'parameter');
    s = l.snapshot();
    assert.equal(s.live, 80);
    assert.equal(s.peak, 180);
    assert.equal(s.releases, 1);
    assert.deepEqual(s.byRole.parameter, { live: 30, peak: 130 });
    assert.deepEqual(s.byDType.float32, { live: 0, peak: 100 });

    l.retag(50, 'float16', 'activation', 'gradient');
    s = l.snapshot();
    assert.equal(s.live, 80);
    assert.deepEqual(s.byRole.activation, { live: 0, peak: 50 });
    assert.deepEqual(s.byRole.gradient, { live: 50, peak: 50 });
    assert.deepEqual(s.byDType.float16, { live: 80, peak: 80 });

    l.resetPeak();
    s = l.snapshot();
    assert.equal(s.peak, 80);
    assert.deepEqual(s.byRole.parameter, { live: 30, peak: 30 });
    assert.deepEqual(s.byRole.activation, { live: 0, peak: 0 });
    assert.deepEqual(s.byDType.float32, { live: 0, peak: 0 });

    l.allocate(10, 'bfloat16', 'other');
    l.release(10, 'bfloat16', 'other');
    s = l.snapshot();
    assert.equal(s.peak, 90);
    assert.deepEqual(s.byRole.other, { live: 0, peak: 10 });
    assert.deepEqual(s.byDType.bfloat16, { live: 0, peak: 10 });
    assert.equal(s.allocations, 4);
    assert.equal(s.releases, 2);
  });

  it('snapshots are copies, and instances are independent of each other and of the global ledger', () => {
    const g0 = ledger.snapshot();
    const l = new MemoryLedger();
    const m = new MemoryLedger();
    l.allocate(64, 'float64', 'data');
    const s = l.snapshot();
    s.byRole.data.live = 999;
    s.byDType.float64.peak = 999;
    s.live = 999;
    const s2 = l.snapshot();
    assert.equal(s2.live, 64);
    assert.deepEqual(s2.byRole.data, { live: 64, peak: 64 });
    assert.deepEqual(s2.byDType.float64, { live: 64, peak: 64 });
    assert.equal(m.snapshot().live, 0);
    const g1 = ledger.snapshot();
    assert.equal(g1.live, g0.live);
    assert.equal(g1.allocations, g0.allocations);
  });
});
