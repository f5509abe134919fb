import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { peerFno } from '../../bench/fno.js';

const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));

function mpno(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '2' } });
}

describe('mpno bench fno / darcy16 (the PyTorch peers\' workloads)', () => {
  it('the model of torch_fno.py (--modes-convention neuralop, width 32, modes 16) has its 1,201,825 parameters', () => {
    const m = peerFno({ modes: 16, width: 32, precision: 'fp32' });
    try {
      assert.equal(m.parameters().reduce((s, p) => s + p.value.size, 0), 1_201_825);
    } finally {
      m.release();
    }
  });

  it('bench fno trains and infers one small configuration and reports samples/s and peak RSS', () => {
    for (const [mode, precision] of [['train', 'fp32'], ['infer', 'mixed-bf16'], ['train', 'mixed-fp16']] as const) {
      const r = mpno('bench', 'fno', '--quick', '--grid', '16', '--modes', '8', '--width', '8', '--batch', '2', '--mode', mode, '--precision', precision, '--json');
      assert.equal(r.status, 0, r.stderr);
      const row = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      assert.equal(row['suite'], 'fno');
      assert.equal(row['mode'], mode);
      assert.equal(row['precision'], precision);
      assert.equal(row['threads'], 2);
      for (const k of ['samples_per_s', 'median_step_s', 'peak_rss_mib', 'params']) assert.ok((row[k] as number) > 0, `${mode} ${precision}: ${k}`);
      if (mode === 'train') assert.ok(Number.isFinite(row['final_loss']), 'a training step reports its loss');
      assert.match(String(row['note']), /gelu\(gelu/);
      assert.equal(row['stabilizer'], precision === 'fp32' ? 'none' : 'tanh', 'the 16-bit precisions run with the paper\'s tanh stabiliser by default');
    }
  });

  it('bench fno --stabilizer none runs a 16-bit precision without the stabiliser (same parameters, another function)', () => {
    const row = (stab: string) => {
      const r = mpno('bench', 'fno', '--quick', '--grid', '16', '--modes', '8', '--width', '8', '--batch', '2', '--precision', 'mixed-bf16', '--stabilizer', stab, '--json');
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    };
    const none = row('none');
    const tanh = row('tanh');
    assert.equal(none['stabilizer'], 'none');
    assert.match(String(none['name']), /no stabiliser/);
    assert.equal(tanh['stabilizer'], 'tanh');
    assert.equal(none['params'], tanh['params']);
    assert.notEqual(none['final_loss'], tanh['final_loss'], 'the stabiliser changes what the model computes');
  });

  it('bench fno rejects an unknown precision or mode by name, and a list of thread counts', () => {
    let r = mpno('bench', 'fno', '--quick', '--precision', 'fp8');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--precision must be one of fp32/);
    r = mpno('bench', 'fno', '--quick', '--mode', 'eval');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--mode must be train or infer/);
    r = mpno('bench', 'fno', '--quick', '--precision', 'mixed-bf16', '--stabilizer', 'clip');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--stabilizer must be tanh or none, got 'clip'/);
    r = mpno('bench', 'fno', '--quick', '--threads', '1,2');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /one thread count/);
  });

  it('bench/mixed-interleaved.mjs times the three precisions in one process and refuses bad options by name', () => {
    const script = fileURLToPath(new URL('../../../bench/mixed-interleaved.mjs', import.meta.url));
    let r = spawnSync(process.execPath, [script, '--grid', '32', '--rounds', '1'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const p of ['fp32', 'mixed-bf16', 'mixed-fp16']) assert.match(r.stdout, new RegExp(`${p} +median [0-9.]+ ms, [0-9.]+× fp32's speed`));
    r = spawnSync(process.execPath, [script, '--rounds', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--rounds must be a positive integer, got '0'/);
    r = spawnSync(process.execPath, [script, '--stabilizer', 'clip'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--stabilizer must be tanh or none, got 'clip'/);
  });

  it('bench/peers.sh refuses an unknown workload or repetition count by name', () => {
    const script = fileURLToPath(new URL('../../../bench/peers.sh', import.meta.url));
    let r = spawnSync('bash', [script, '--only', 'gemm'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--only takes darcy16, fno or kernels, got 'gemm'/);
    r = spawnSync('bash', [script, '--reps', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--reps must be a positive integer/);
  });

  it('bench darcy16 --quick trains the example for one epoch and reports its time and test errors', () => {
    const r = mpno('bench', 'darcy16', '--quick', '--json');
    assert.equal(r.status, 0, r.stderr);
    const row = JSON.parse(r.stdout.trim().split('\n').pop()!) as { epochs: number; epoch_s: number[]; median_epoch_s: number; train_wall_s: number; peak_rss_mib: number; test_errors: Record<string, number> };
    assert.equal(row.epochs, 1);
    assert.equal(row.epoch_s.length, 1);
    assert.ok(row.median_epoch_s > 0 && row.train_wall_s >= row.median_epoch_s && row.peak_rss_mib > 0);
    assert.ok(Number.isFinite(row.test_errors['16_l2']) && Number.isFinite(row.test_errors['16_h1']));
  });
});
