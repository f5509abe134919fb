// CLI user errors and the safety of outputs: every user error is a named message on stderr, a
// non-zero exit, no stack trace, and nothing written (docs/reliability.md).
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeDataset } from '../../src/data/dataset-file.js';

const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));
const example = fileURLToPath(new URL('../../../examples/darcy16.json', import.meta.url));
const testData = path.resolve(path.dirname(example), JSON.parse(readFileSync(example, 'utf8')).data.test['16']);

function mpno(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '1', ...env } });
}

/** Asserts a user error: non-zero exit, the message on stderr, no stack trace. */
function fails(r: SpawnSyncReturns<string>, message: RegExp): void {
  assert.notEqual(r.status, 0, `exit 0; stdout ${r.stdout}`);
  assert.equal(r.signal, null);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, 'a stack trace');
}

/** A 16-sample, 1-epoch config of a tiny FNO on neuralop's Darcy data. */
function tinyConfig(dir: string): string {
  const c = JSON.parse(readFileSync(example, 'utf8'));
  const ex = path.dirname(example);
  c.data.train = path.resolve(ex, c.data.train);
  c.data.test = { '16': path.resolve(ex, c.data.test['16']) };
  c.data.n_train = 16;
  c.data.n_test = { '16': 8 };
  c.data.batch_size = 8;
  c.model = { ...c.model, n_modes: [4, 4], hidden_channels: 6, n_layers: 2 };
  c.training = { ...c.training, n_epochs: 1, eval_interval: 1 };
  const f = path.join(dir, 'tiny.json');
  writeFileSync(f, JSON.stringify(c));
  return f;
}

describe('CLI user errors and output safety', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-errors-'));
  let cfg = '';
  const run = path.join(tmp, 'run'); // a 1-epoch run, trained once
  before(() => {
    cfg = tinyConfig(tmp);
    const r = mpno(['train', '--config', cfg, '--out', run, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
  });

  it('a fresh train into a directory that holds a run refuses and leaves the run intact; --overwrite replaces it', () => {
    const out = path.join(tmp, 'fresh');
    let r = mpno(['train', '--config', cfg, '--out', out, '--quiet', '--epochs', '3']);
    assert.equal(r.status, 0, r.stderr);
    const before = readdirSync(out).sort();
    fails(mpno(['train', '--config', cfg, '--out', out, '--quiet', '--epochs', '1']), /fresh already holds a run \(epoch-0002, epoch-0003, latest → epoch-0003, metrics\.jsonl\); use --resume to continue it, --overwrite to replace it/);
    assert.deepEqual(readdirSync(out).sort(), before);
    assert.equal(readFileSync(path.join(out, 'latest'), 'utf8'), 'epoch-0003');
    fails(mpno(['train', '--config', cfg, '--out', out, '--resume', '--overwrite']), /give one of them/);
    r = mpno(['train', '--config', cfg, '--out', out, '--quiet', '--epochs', '1', '--overwrite']);
    assert.equal(r.status, 0, r.stderr);
    // only the new run is there, latest names its checkpoint, and eval/predict/resume work
    assert.deepEqual(readdirSync(out).sort(), ['epoch-0001', 'latest', 'metrics.jsonl']);
    assert.equal(readFileSync(path.join(out, 'latest'), 'utf8'), 'epoch-0001');
    assert.equal(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 1);
    assert.equal(mpno(['eval', '--checkpoint', out, '--data', testData]).status, 0);
    r = mpno(['train', '--config', cfg, '--out', out, '--quiet', '--epochs', '2', '--resume']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['epoch-0001', 'epoch-0002', 'latest', 'metrics.jsonl']);
    // --resume never discards checkpoints it cannot continue from
    rmSync(path.join(out, 'latest'));
    fails(mpno(['train', '--config', cfg, '--out', out, '--epochs', '3', '--resume']), /--resume finds checkpoints \(epoch-0001, epoch-0002\) but no 'latest' pointer/);
    assert.deepEqual(readdirSync(out).sort(), ['epoch-0001', 'epoch-0002', 'metrics.jsonl']);
  });

  it('--resume lists what differs from the checkpoint and refuses it; n_epochs may only grow', () => {
    const before = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8');
    fails(mpno(['train', '--config', cfg, '--out', run, '--resume', '--set', 'optimizer.lr=0.5', '--set', 'model.hidden_channels=8']),
      /--resume: the config differs from the checkpoint's \(.*epoch-0001\/state\.json\): model\.hidden_channels: 6 → 8; optimizer\.lr: 0\.01 → 0\.5\. A resumed run may change only training\.n_epochs, output\.dir, output\.checkpoint_every/);
    fails(mpno(['train', '--config', cfg, '--out', run, '--resume', '--epochs', '0']), /--resume: training\.n_epochs = 0, but the checkpoint \(.*epoch-0001\) has completed 1 epochs; ask for at least 1/);
    assert.equal(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8'), before);
    const sched = mpno(['train', '--config', cfg, '--out', path.join(tmp, 'sched'), '--quiet', '--epochs', '2', '--precision-schedule', 'mixed:0.5,full:0.5']);
    assert.equal(sched.status, 0, sched.stderr);
    fails(mpno(['train', '--config', cfg, '--out', path.join(tmp, 'sched'), '--resume', '--epochs', '4', '--precision-schedule', 'mixed:0.5,full:0.5']),
      /training\.n_epochs: 2 → 4 would move the phases of precision\.schedule/);
  });

  it('an invalid MPNO_THREADS is a named error of every command, info included', () => {
    for (const t of ['0', '-1', '1.5', 'abc']) {
      fails(mpno(['info'], { MPNO_THREADS: t }), new RegExp(`^mpno: MPNO_THREADS must be an integer from 1 to 256, got '${t.replace('.', '\\.')}'`));
    }
    const out = path.join(tmp, 'threads');
    fails(mpno(['train', '--config', cfg, '--out', out], { MPNO_THREADS: '0' }), /MPNO_THREADS must be an integer/);
    assert.ok(!existsSync(out));
  });

  it('--set __proto__ is an unknown key and trains nothing', () => {
    const out = path.join(tmp, 'proto');
    fails(mpno(['train', '--config', cfg, '--out', out, '--set', '__proto__.fno_block_precision="half"']), /unknown config key '__proto__'/);
    fails(mpno(['train', '--config', cfg, '--out', out, '--set', 'model.constructor=1']), /unknown config key 'model\.constructor'/);
    fails(mpno(['train', '--config', cfg, '--out', out, '--set', 'model=3']), /'model' must be an object \(a config section\), got 3/);
    assert.ok(!existsSync(out));
  });

  it('n_modes that do not fit the data fail before the model is built or anything is written', () => {
    const out = path.join(tmp, 'modes');
    fails(mpno(['train', '--config', cfg, '--out', out, '--set', 'model.n_modes=[20,20]']), /model\.n_modes\[0\] = 20 does not fit the 16-point grid of axis 0 of .*darcy_train_16\.pt \(x \[16, 1, 16, 16\]\); at most 16/);
    fails(mpno(['train', '--config', cfg, '--out', out, '--set', 'model.n_modes=[4,40]']), /model\.n_modes\[1\] = 40 does not fit the 16-point grid of axis 1/);
    fails(mpno(['train', '--config', cfg, '--out', out, '--set', 'model.n_modes=[4,4,4]']), /model\.n_modes \[4,4,4\] has 3 entries, but .*darcy_train_16\.pt is 2-D/);
    fails(mpno(['train', '--config', cfg, '--out', out, '--set', 'model.in_channels=3']), /do not match the data \(1 in, 1 out channels/);
    assert.ok(!existsSync(out));
  });

  it('file-system errors name the path and the reason', () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'x');
    fails(mpno(['eval', '--checkpoint', run, '--data', tmp]), new RegExp(`${tmp}: is a directory, not a data file`));
    fails(mpno(['train', '--config', cfg, '--out', path.join(file, 'run')]), new RegExp(`${file}/run: cannot create the run directory \\(${file} is a file, not a directory\\)`));
    fails(mpno(['train', '--config', cfg, '--out', '/proc/mpno-run']), /\/proc\/mpno-run: cannot create the run directory \(\/proc does not accept new directories: ENOENT/);
    fails(mpno(['predict', '--checkpoint', run, '--data', testData, '--out', path.join(file, 'p')]), /a-file\/p: cannot create the output directory \(.*a-file is a file, not a directory\)/);
    fails(mpno(['generate', 'darcy', '--n', '1', '--resolution', '9', '--out', path.join(file, 'g.safetensors')]), /cannot create the output directory \(.*a-file is a file, not a directory\)/);
  });

  it('non-finite values in data are named with the file, tensor and element', () => {
    const f = path.join(tmp, 'nan.safetensors');
    const y = new Float32Array(2 * 256).fill(1);
    y[300] = Number.NaN;
    writeDataset(f, new Float32Array(2 * 256), [2, 1, 16, 16], y, [2, 1, 16, 16], { format: 'mpno-dataset', pde: 'darcy', resolution: 16, seed: 0, samples: 2, params: {} });
    fails(mpno(['eval', '--checkpoint', run, '--data', f]), /nan\.safetensors: tensor 'y' has a non-finite value at element 300/);
  });

  it("eval and predict check the checkpoint's model against the data before building it", () => {
    const meta = { format: 'mpno-dataset' as const, pde: 'darcy', resolution: 3, seed: 0, samples: 2, params: {} };
    const small = path.join(tmp, 'small.safetensors');
    writeDataset(small, new Float32Array(18), [2, 1, 9], new Float32Array(18), [2, 1, 9], meta);
    fails(mpno(['eval', '--checkpoint', run, '--data', small]), /model\.n_modes \[4,4\] has 2 entries, but .*small\.safetensors is 1-D \(x \[2, 1, 9\]\)/);
    const two = path.join(tmp, 'two.safetensors');
    writeDataset(two, new Float32Array(2 * 2 * 256), [2, 2, 16, 16], new Float32Array(2 * 256), [2, 1, 16, 16], { ...meta, resolution: 16 });
    fails(mpno(['predict', '--checkpoint', run, '--data', two, '--out', path.join(tmp, 'two-pred')]), /model\.in_channels\/out_channels \(1\/1\) do not match the data \(2 in, 1 out channels in .*two\.safetensors\)/);
    assert.ok(!existsSync(path.join(tmp, 'two-pred')));
  });

  it('a checkpoint that does not fit its config names the tensor and says that they differ', () => {
    const ck = path.join(tmp, 'mismatch');
    const r = mpno(['train', '--config', cfg, '--out', ck, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const statePath = path.join(ck, 'epoch-0001', 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    state.config.model.hidden_channels = 8;
    writeFileSync(statePath, JSON.stringify(state));
    const msg = /epoch-0001: '[a-z_.0-9]+\.weight' has shape \[\d+(, \d+)*\] in the checkpoint, but the model built from the checkpoint's config \(state\.json\) expects \[\d+(, \d+)*\]; the checkpoint and the checkpoint's config \(state\.json\) describe different models/;
    fails(mpno(['eval', '--checkpoint', ck, '--data', testData]), msg);
    fails(mpno(['predict', '--checkpoint', ck, '--data', testData, '--out', path.join(tmp, 'mm-pred')]), msg);
    assert.ok(!existsSync(path.join(tmp, 'mm-pred')));
  });

  it('predict validates every index and the scale before writing, and writes nothing on failure', () => {
    const out = path.join(tmp, 'pred');
    fails(mpno(['predict', '--checkpoint', run, '--data', testData, '--index', '0,999', '--out', out]), /--index 999 is outside 0…49/);
    fails(mpno(['predict', '--checkpoint', run, '--data', testData, '--index', '50', '--out', out]), /--index 50 is outside 0…49/);
    fails(mpno(['predict', '--checkpoint', run, '--data', testData, '--scale', '100000', '--out', out]), /--scale 100000 makes 1600000 × 1600000-pixel panels; at most 8192 pixels a side \(--scale ≤ 512 for 16 × 16 data\)/);
    assert.ok(!existsSync(out), 'no output directory');
    const r = mpno(['predict', '--checkpoint', run, '--data', testData, '--index', '0,1', '--out', out, '--scale', '2']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['sample-0000.png', 'sample-0001.png']);
  });
});
