import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { colormapTable, readPng, titleBandHeight } from '../../src/data/formats/png.js';

const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));
const example = fileURLToPath(new URL('../../../examples/darcy16.json', import.meta.url));

function tinyConfig(dir: string, mixed = false, tfno = false): string {
  const c = JSON.parse(readFileSync(example, 'utf8'));
  const ex = path.dirname(example);
  c.data.train = path.resolve(ex, c.data.train);
  c.data.test = { '16': path.resolve(ex, c.data.test['16']) };
  c.data.n_train = 48; // the whole test file (50 samples) is evaluated, so that eval can be compared with the metrics
  c.data.batch_size = 16;
  c.data.shuffle = true; // exercises the loader's RNG state across the resume
  c.model = { ...c.model, n_modes: [4, 4], hidden_channels: 6, n_layers: 2 };
  c.training = { ...c.training, n_epochs: 3, eval_interval: 1 };
  if (mixed) {
    // AMP fp16, tanh stabiliser, dynamic loss scaling and a half → mixed → full schedule over 3 epochs
    c.model = { ...c.model, stabilizer: 'tanh', amp: true, half_type: 'float16' };
    c.precision = { schedule: 'half:0.34,mixed:0.33,full:0.33', loss_scale: 'dynamic' };
  }
  // full precision with channel-MLP dropout: the masks must repeat exactly across the resume
  if (!mixed && !tfno) c.model = { ...c.model, channel_mlp_dropout: 0.2 };
  // a TFNO (CP weights) through the same checkpoint, resume, schedule and eval paths
  if (tfno) c.model = { ...c.model, name: 'TFNO', factorization: 'cp', rank: 0.5 };
  const f = path.join(dir, 'tiny.json');
  writeFileSync(f, JSON.stringify(c));
  return f;
}

function mpno(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '1', ...env } });
}

function metrics(dir: string): Record<string, unknown>[] {
  return readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

const strip = (r: Record<string, unknown>) => {
  const { time_s: _t, samples_per_s: _s, ...rest } = r;
  return rest;
};

describe('training checkpoints and resume', () => {
  for (const [mixed, tfno] of [[false, false], [true, false], [true, true]] as const) it(`a ${tfno ? 'TFNO' : 'FNO'} run killed ${mixed ? 'mid-epoch' : 'while writing a checkpoint'} and resumed ends with exactly the metrics of an uninterrupted run${mixed ? ' (mixed precision with a schedule)' : tfno ? '' : ' (with channel-MLP dropout)'}`, () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-resume-'));
    const cfg = tinyConfig(tmp, mixed, tfno);
    const testFile = JSON.parse(readFileSync(cfg, 'utf8')).data.test['16'] as string;
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const ra = mpno(['train', '--config', cfg, '--out', a, '--quiet']);
    assert.equal(ra.status, 0, ra.stderr);
    // SIGKILL at epoch 1, batch 1 (epoch 0 is checkpointed, epoch 1 half done), or while writing
    // epoch 1's checkpoint (its temporary directory complete, not yet renamed into place)
    const rb1 = mpno(['train', '--config', cfg, '--out', b, '--quiet'], { MPNO_TEST_CRASH_AT: mixed ? '1:1' : '1:checkpoint' });
    assert.equal(rb1.signal, 'SIGKILL');
    assert.equal(readFileSync(path.join(b, 'latest'), 'utf8'), 'epoch-0001');
    assert.equal(metrics(b).length, mixed ? 1 : 2);
    const stale = readdirSync(b).filter((n) => n.includes('.tmp'));
    assert.deepEqual(stale, mixed ? [] : [`epoch-0002.tmp-${rb1.pid}`]);
    // a live process's temporary (this test's own pid) is left alone
    const live = path.join(b, `epoch-0009.tmp-${process.pid}`);
    mkdirSync(live);
    const rb2 = mpno(['train', '--config', cfg, '--out', b, '--quiet', '--resume']);
    assert.equal(rb2.status, 0, rb2.stderr);
    assert.ok(existsSync(live));
    rmSync(live, { recursive: true });
    const ma = metrics(a).map(strip);
    const mb = metrics(b).map(strip);
    assert.equal(ma.length, 3);
    assert.deepEqual(mb, ma);
    if (mixed) {
      assert.deepEqual(ma.map((r) => (r['precision'] as string[])[0]), ['half', 'mixed', 'full']);
      assert.ok(ma.every((r) => typeof r['loss_scale'] === 'number'));
    }
    // no temporary files or directories left behind (the killed run's stale one removed)
    for (const d of [a, b]) assert.deepEqual(readdirSync(d).filter((n) => n.includes('.tmp')), []);
    assert.deepEqual(readdirSync(b).filter((n) => n.startsWith('epoch-')).sort(), ['epoch-0002', 'epoch-0003']);
    // eval of the final checkpoint on the test data reproduces the last epoch's test errors exactly,
    // in the precision state the run ended in (after half → mixed → full, not the config's half)
    const re = mpno(['eval', '--checkpoint', b, '--data', testFile, '--batch-size', '32', '--json']);
    assert.equal(re.status, 0, re.stderr);
    const ev = JSON.parse(re.stdout) as Record<string, number>;
    const last = ma[2]!['eval'] as Record<string, number>;
    assert.deepEqual(ev, { darcy_test_16_h1: last['16_h1'], darcy_test_16_l2: last['16_l2'] });
    assert.ok(existsSync(path.join(b, 'epoch-0003', 'model.safetensors')));
    if (!mixed) {
      // predict writes one titled 4-panel PNG per sample, each panel with its colour bar
      const out = path.join(tmp, 'pred');
      const rp = mpno(['predict', '--checkpoint', b, '--data', testFile, '--index', '0,2', '--out', out, '--scale', '4']);
      assert.equal(rp.status, 0, rp.stderr);
      const img = readPng(path.join(out, 'sample-0002.png'));
      assert.equal(img.height, 64 + titleBandHeight());
      assert.ok(img.width > 4 * (64 + 2 + 6 + 2) + 3 * 4, String(img.width));
      // the input panel's bar starts 2 px right of the field: its top row is the map's top colour
      const at = (x: number, y: number) => [...img.rgba.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3)];
      const viridis = colormapTable('viridis');
      assert.deepEqual(at(66, titleBandHeight()), [...viridis.subarray(255 * 3, 256 * 3)]);
      assert.deepEqual(at(66, titleBandHeight() + 63), [...viridis.subarray(0, 3)]);
      const bad = mpno(['predict', '--checkpoint', b, '--data', testFile, '--index', '99', '--out', out]);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /--index 99 is outside 0…49/);
    }
  });

  it('mpno bound reports, per Fourier layer and half type, measured errors below the worst-case bound', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-bound-'));
    const cfg = tinyConfig(tmp);
    const r = mpno(['bound', '--config', cfg, '--batch', '4', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
    assert.equal(rows.length, 2 * 2); // 2 layers × fp16/bf16
    for (const row of rows) {
      assert.ok((row['measured_fft'] as number) <= (row['precision_worst'] as number), JSON.stringify(row));
      assert.ok((row['measured_spectral_conv'] as number) > 0 && (row['discretization'] as number) > 0);
    }
    const fp16 = rows.filter((x) => x['half'] === 'float16').map((x) => x['measured_fft'] as number);
    const bf16 = rows.filter((x) => x['half'] === 'bfloat16').map((x) => x['measured_fft'] as number);
    fp16.forEach((e, i) => assert.ok(e < bf16[i]!, 'bf16 has the larger unit roundoff'));
    const nothing = mpno(['bound']);
    assert.notEqual(nothing.status, 0);
    assert.match(nothing.stderr, /bound: give --config or --checkpoint/);
  });

  it('bad configs fail before training with a named error and leave no checkpoint', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-bad-'));
    const cfg = tinyConfig(tmp);
    const out = path.join(tmp, 'run');
    let r = mpno(['train', '--config', cfg, '--out', out, '--set', 'model.in_channels=3']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /do not match the data \(1 in, 1 out channels/);
    r = mpno(['train', '--config', cfg, '--out', out, '--set', 'training.bogus=1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown config key 'training.bogus'/);
    r = mpno(['train', '--config', cfg, '--out', out, '--set', 'model.fno_block_precision="quarter"']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /fno_block_precision must be one of full, mixed, half/);
    assert.ok(!existsSync(path.join(out, 'latest')));
  });
});
