/**
 * `precision.schedule: "auto"` through mpno train: probes are logged per epoch with finite
 * measurements; a threshold the measurements exceed switches the run up after `switch_patience`
 * probes (half → full here: under AMP, mixed computes exactly what half does, so the probes compare
 * with full); a resumed run takes the same decisions and reaches the same errors as an uninterrupted
 * one; bad options are named errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));
const example = fileURLToPath(new URL('../../../examples/darcy16.json', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'mpno-auto-'));

function config(name: string, precision: Record<string, unknown>, model: Record<string, unknown> = {}): string {
  const c = JSON.parse(readFileSync(example, 'utf8'));
  const ex = path.dirname(example);
  c.data.train = path.resolve(ex, c.data.train);
  c.data.test = { '16': path.resolve(ex, c.data.test['16']) };
  c.data.n_train = 64;
  c.data.batch_size = 8; // 8 steps per epoch
  c.data.shuffle = true;
  c.model = { ...c.model, n_modes: [4, 4], hidden_channels: 6, n_layers: 2, stabilizer: 'tanh', amp: true, half_type: 'float16', ...model };
  c.training = { ...c.training, n_epochs: 4, eval_interval: 1 };
  c.precision = { schedule: 'auto', ...precision };
  const f = path.join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(c));
  return f;
}

function mpno(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '1' } });
}

interface Rec { epoch: number; precision: string[]; probes: { step: number; error: number; noise: number; ratio: number; against: string }[]; events?: string[]; eval: Record<string, number> }

function metrics(run: string): Rec[] {
  return readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
}

describe('automatic precision schedule', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('probes every probe_every steps and stays in half while the error is small next to the noise', () => {
    const run = path.join(dir, 'stay');
    const r = mpno(['train', '--config', config('stay', { probe_every: 4, switch_threshold: 1e6 }), '--out', run, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const m = metrics(run);
    assert.equal(m.length, 4);
    for (const e of m) {
      assert.deepEqual(e.precision, ['half', 'half']);
      assert.ok(e.probes.length <= 2);
      for (const p of e.probes) {
        assert.ok([3, 7].includes(p.step));
        assert.equal(p.against, 'full', 'mixed computes what half does under AMP: the probe compares with full');
        assert.ok(p.error > 0 && p.error < 0.2, `precision error ${p.error}`);
        assert.ok(p.noise > 0 && Number.isFinite(p.ratio));
      }
    }
    assert.ok(m.flatMap((e) => e.probes).length >= 6);
  });

  it('switches up after switch_patience probes above the threshold, and a resumed run decides the same', () => {
    const cfg = config('switch', { probe_every: 4, switch_threshold: 1e-9, switch_patience: 5 });
    const whole = path.join(dir, 'whole');
    let r = mpno(['train', '--config', cfg, '--out', whole]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /precision full \(automatic schedule\) from epoch 2, step 4: the precision error against full was .* × the gradient noise in 5 probes in a row \(threshold 1e-9\) \(mixed computes what half does here\)/);
    const m = metrics(whole);
    assert.deepEqual(m.map((e) => e.precision[0]), ['half', 'half', 'half', 'full']);
    assert.deepEqual(m.map((e) => e.probes.length), [2, 2, 1, 0]);
    // two epochs, then resume to four
    const parts = path.join(dir, 'parts');
    r = mpno(['train', '--config', cfg, '--out', parts, '--epochs', '2', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    r = mpno(['train', '--config', cfg, '--out', parts, '--resume', '--epochs', '4', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const strip = (e: Rec) => ({ epoch: e.epoch, precision: e.precision, probes: e.probes, events: e.events, eval: e.eval });
    assert.deepEqual(metrics(parts).map(strip), m.map(strip));
  });

  it('by layer: probes and switches per layer, and a resumed run decides the same', () => {
    const cfg = config('bylayer', { probe_every: 4, switch_threshold: 1e-9, switch_patience: 3, switch_by: 'layer' });
    const whole = path.join(dir, 'bylayer-whole');
    let r = mpno(['train', '--config', cfg, '--out', whole]);
    assert.equal(r.status, 0, r.stderr);
    for (const l of [0, 1]) {
      assert.match(r.stdout, new RegExp(`layer ${l} precision full \\(automatic schedule by layer\\) from epoch 1, step 4: the precision error of its gradient against full was .* × its gradient noise in 3 probes in a row \\(threshold 1e-9\\)`));
    }
    const m = metrics(whole);
    assert.deepEqual(m.map((e) => e.precision), [['half', 'half'], ['half', 'half'], ['full', 'full'], ['full', 'full']]); // an epoch's precision as it began
    // one measurement per layer and probe, each on that layer's own gradient
    const probes = m.flatMap((e) => e.probes) as (Rec['probes'][number] & { layer: number })[];
    assert.deepEqual(probes.map((p) => [p.step, p.layer]), [[3, 0], [3, 1], [7, 0], [7, 1], [3, 0], [3, 1]]);
    for (const p of probes) assert.ok(p.error > 0 && p.noise > 0 && Number.isFinite(p.ratio));
    assert.notEqual(probes[0]!.error, probes[1]!.error);
    // the same run by CLI flag, and resumed halfway
    const parts = path.join(dir, 'bylayer-parts');
    const noBy = config('bylayer-flag', { probe_every: 4, switch_threshold: 1e-9, switch_patience: 3 });
    r = mpno(['train', '--config', noBy, '--switch-by', 'layer', '--out', parts, '--epochs', '1', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    r = mpno(['train', '--config', noBy, '--switch-by', 'layer', '--out', parts, '--resume', '--epochs', '4', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const strip = (e: Rec) => ({ epoch: e.epoch, precision: e.precision, probes: e.probes, events: e.events, eval: e.eval });
    assert.deepEqual(metrics(parts).map(strip), m.map(strip));
    // resuming by model what was saved by layer is refused by name (the schedule's state refuses it too: test/precision)
    r = mpno(['train', '--config', noBy, '--out', parts, '--resume', '--epochs', '5', '--quiet']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--resume: the config differs from the checkpoint's .*precision\.switch_by: "layer" → \(unset\)/);
  });

  it('names bad options', () => {
    const bad = (name: string, precision: Record<string, unknown>, re: RegExp, model: Record<string, unknown> = {}) => {
      const r = mpno(['train', '--config', config(name, precision, model), '--out', path.join(dir, name), '--quiet']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, re);
    };
    bad('every0', { probe_every: 0 }, /'precision\.probe_every' must be an integer ≥ 1, got 0/);
    bad('every9', { probe_every: 9 }, /precision\.probe_every = 9 is larger than an epoch \(8 training steps\)/);
    bad('thr0', { switch_threshold: 0 }, /'precision\.switch_threshold' must be a number > 0, got 0/);
    bad('by', { switch_by: 'block' }, /'precision\.switch_by' must be 'model' or 'layer', got "block"/);
    bad('byfixed', { schedule: 'half:0.5,full:0.5', switch_by: 'layer' }, /'precision\.switch_by' belongs to the automatic schedule/);
    bad('fixed', { schedule: 'half:0.5,full:0.5', probe_every: 2 }, /'precision\.probe_every' belongs to the automatic schedule/);
    bad('f64', {}, /precision\.schedule 'auto': model FNO has no precision-controlled layers to switch \(a float64 model runs in full precision\)/, { dtype: 'float64', stabilizer: null, amp: false, half_type: 'bfloat16' });
  });
});
