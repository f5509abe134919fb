import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));

function mpno(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '2' } });
}

describe('mpno CLI', () => {
  it('bench gemm --quick --json prints one parseable JSON object per row with the required fields', () => {
    const r = mpno('bench', 'gemm', '--quick', '--json', '--dtypes', 'f32,bf16', '--threads', '1,2');
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rows.length, 2 * 2 * 2); // 2 quick shapes × 2 dtypes × 2 thread counts
    for (const row of rows) {
      for (const key of ['suite', 'name', 'dtype', 'threads', 'median_ms', 'gflops', 'peak_ledger_bytes', 'rss_bytes']) {
        assert.ok(key in row, `missing ${key} in ${JSON.stringify(row)}`);
      }
      assert.equal(row['suite'], 'gemm');
      assert.ok((row['gflops'] as number) > 0 && (row['median_ms'] as number) > 0);
    }
    assert.deepEqual([...new Set(rows.map((x) => x['dtype']))], ['float32', 'bfloat16']);
  });

  it('bench fft --quick --json covers full and truncated forward and inverse transforms', () => {
    const r = mpno('bench', 'fft', '--quick', '--json', '--dtypes', 'f32,f16', '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const names = new Set(rows.map((x) => x['name']));
    for (const n of ['rfft2 full', 'irfft2 full', 'rfft2 modes16', 'irfft2 modes16']) assert.ok(names.has(n), `missing ${n}`);
    for (const row of rows) assert.ok((row['gflops'] as number) > 0 && row['suite'] === 'fft');
  });

  it('bench fft-accuracy reports f32 ≪ emulated fp16 < emulated bf16 errors', () => {
    const r = mpno('bench', 'fft-accuracy', '--quick', '--json');
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; precision: string; rel_l2: number });
    for (const name of new Set(rows.map((x) => x.name))) {
      const e = (p: string) => rows.find((x) => x.name === name && x.precision === p)!.rel_l2;
      assert.ok(e('float32') < 1e-6 && e('float32') * 100 < e('emulated-float16') && e('emulated-float16') < e('emulated-bfloat16'), name);
    }
  });

  it('bench precision runs one configuration and reports speed and memory fields', () => {
    const r = mpno('bench', 'precision', '--quick', '--case', '1', '--runs', '1', '--warmup', '0');
    assert.equal(r.status, 0, r.stderr);
    const row = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    assert.equal(row['suite'], 'precision');
    assert.match(String(row['name']), /mixed fp16 amp/);
    for (const k of ['train_samples_per_s', 'infer_samples_per_s', 'peak_ledger_bytes', 'peak_rss_bytes', 'median_ms']) assert.ok((row[k] as number) > 0, k);
    // its SFNO rows: the last case is SFNO half bf16 on a 16 × 32 sphere in the quick set
    const s = mpno('bench', 'precision', '--quick', '--case', '14', '--runs', '1', '--warmup', '0');
    assert.equal(s.status, 0, s.stderr);
    const srow = JSON.parse(s.stdout.trim()) as Record<string, unknown>;
    assert.equal(srow['name'], 'SFNO 16x32 half bf16 amp');
    assert.equal(srow['shape'], '[2, 3, 16, 32]');
    // and its GINO rows (point clouds on a latent grid: 8³ in the quick set)
    const g = mpno('bench', 'precision', '--quick', '--case', '18', '--runs', '1', '--warmup', '0');
    assert.equal(g.status, 0, g.stderr);
    const grow = JSON.parse(g.stdout.trim()) as Record<string, unknown>;
    assert.equal(grow['name'], 'GINO 8³ mixed bf16 amp');
    assert.equal(grow['shape'], '2 × 200 points, 8³ latent');
    assert.ok((grow['peak_ledger_bytes'] as number) > 0);
  });

  it('bench contract --quick runs the complex contraction in both product forms', () => {
    const r = mpno('bench', 'contract', '--quick', '--json', '--threads', '1', '--dtypes', 'f32,f16');
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(rows.length >= 4 && rows.every((x) => x['suite'] === 'contract' && (x['median_ms'] as number) > 0));
  });

  it('bench prints a table by default', () => {
    const r = mpno('bench', 'gemm', '--quick', '--dtypes', 'f16', '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /name\s+shape\s+dtype\s+threads\s+median ms\s+best ms\s+GFLOP\/s/);
    assert.match(r.stdout, /gemm 32x32·32x4096\s+\[32x32\]·\[32x4096\]\s+float16\s+1\s+/);
  });

  it('bad arguments give named errors and a non-zero exit', () => {
    let r = mpno('bench', 'nosuch');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown bench suite 'nosuch'/);
    r = mpno('bench', 'gemm', '--runs', '2');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--runs must be at least 5/);
    r = mpno('bench', 'gemm', '--quick', '--dtypes', 'int8');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown dtype 'int8'/);
    r = mpno('bench', 'gemm', '--threads', '0');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--threads takes integers/);
  });

  it('info prints the version', () => {
    const r = mpno('info');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^mpno \d+\.\d+\.\d+/);
  });
});
