/**
 * neuralop checkpoints both ways, on files in neuralop's layouts with PyTorch's outputs beside them
 * (test/fixtures/neuralop/, written by scripts/fixtures/make_neuralop_checkpoints.py): import every
 * family, run the imported model on the fixture's input and match PyTorch's output (relative L2
 * within 1e-5, the parity tests' tolerance; float32 rounding through the layers is ~1e-7); export,
 * re-import the export and match the same outputs; where /usr/bin/python3 has torch, load the export
 * in PyTorch. Bad checkpoints are named errors and write nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { noGrad, tidy, Variable } from '../../src/autograd/variable.js';
import type { Batch } from '../../src/core/batch.js';
import type { Tensor } from '../../src/core/tensor.js';
import { UnitGaussianNormalizer, type NormalizerState } from '../../src/data/dataset.js';
import { PtRef } from '../../src/data/formats/pt.js';
import { readSafetensors } from '../../src/data/formats/safetensors.js';
import { buildModel } from '../../src/models/registry.js';
import { exportCommand, importCommand } from '../../src/cli/neuralop.js';
import { evalCommand } from '../../src/cli/train.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { neuralopToMpno, readNeuralopCheckpoint } from '../../src/train/neuralop.js';
import { relL2 } from '../helpers.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/neuralop/', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../../scripts/fixtures/make_neuralop_checkpoints.py', import.meta.url));
const DARCY_TRAIN = fileURLToPath(new URL('../../../../shared/data/neuralop/darcy_train_16.pt', import.meta.url));
const DARCY_TEST = fileURLToPath(new URL('../../../../shared/data/neuralop/darcy_test_16.pt', import.meta.url));
const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'mpno-neuralop-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const TOL = 1e-5;

function io(kase: string): { tensors: Record<string, Tensor>; release(): void } {
  const { tensors } = readSafetensors(`${FIX}${kase}_io.safetensors`);
  return { tensors, release: () => Object.values(tensors).forEach((t) => t.release()) };
}

/** The output of the model in a run (or checkpoint) directory on a case's fixture input. */
function predict(run: string, kase: string): { y: Float64Array; ref: Float64Array; normalizer: NormalizerState | null } {
  const ck = loadCheckpoint(run);
  const m = buildModel(ck.state.config.model).eval();
  m.loadStateDict(ck.weights);
  Object.values(ck.weights).forEach((t) => t.release());
  const f = io(kase);
  const t = f.tensors;
  let y: Float64Array;
  if (kase.startsWith('gino')) {
    const P = t['input_geom']!.shape[0]!;
    const b: Batch = {
      size: 1,
      tensors: { input_geom: t['input_geom']!.clone(), latent_queries: t['latent_queries']!.clone(), latent_features: t['latent_features']!.clone() },
      segments: { input_geom: Int32Array.from([0, P]) },
    };
    y = noGrad(() => tidy(() => m.forwardBatch!(b).value.toFloat64()));
    Object.values(b.tensors).forEach((x) => x.release());
  } else y = noGrad(() => tidy(() => m.forward(Variable.constant(t['input']!)).value.toFloat64()));
  const ref = t['output']!.toFloat64();
  m.release();
  f.release();
  return { y, ref, normalizer: (ck.state.normalizer as NormalizerState | null) ?? null };
}

function importCase(kase: string, extra: Partial<Parameters<typeof importCommand>[0]> = {}): string {
  const out = path.join(dir, `${kase}-${Math.random().toString(36).slice(2)}`);
  importCommand({ source: FIX, name: kase, out, normalizerEps: 1e-7, force: false, ...extra });
  return out;
}

const CASES: [string, string][] = [
  ['darcy', "FNO trained on darcy_train_16 (neuralop's default architecture)"],
  ['sfno', 'SFNO trained by PyTorch (SphericalConv, torch-harmonics SHT)'],
  ['gino', 'GINO trained by PyTorch'],
  ['gino_norm', "GINO with fno_norm 'group_norm'"],
  ['fno1d', '1-D FNO from positional args, max_n_modes larger than n_modes'],
  ['tfno', "TFNO with the class's defaults (Tucker, rank 0.1)"],
  ['tfno_cp', 'FNO with factorization CP, rank 0.25'],
  ['padded', 'FNO with domain_padding per axis [0.25, 0]'],
  ['group_norm', "FNO with neuralop's group_norm in the blocks (3 groups, affine)"],
  ['instance_norm', "FNO with neuralop's instance_norm in the blocks"],
  ['relu', 'FNO with non_linearity F.relu'],
  ['silu', 'FNO with non_linearity F.silu'],
  ['preactivation', 'FNO with preactivation and group_norm'],
  ['dropout', 'FNO with channel_mlp_dropout 0.1 (inference)'],
  ['separable', 'FNO with separable=True (dense, no channel mixing in the spectral branch)'],
  ['max_modes_2d', '2-D FNO with max_n_modes (10, 10) for n_modes (6, 6)'],
];

describe('mpno import neuralop', () => {
  for (const [kase, what] of CASES) {
    it(`${kase}: ${what}: the imported model gives PyTorch's output`, (t: TestContext) => {
      const run = importCase(kase);
      const { y, ref } = predict(run, kase);
      const e = relL2(y, ref);
      t.diagnostic(`${kase}: relative L2 vs PyTorch ${e.toExponential(2)}`);
      assert.ok(e <= TOL, `${kase}: the imported model's output is ${e.toExponential(3)} from PyTorch's`);
    });
  }

  it('n_modes larger than the grid: the modes that fit, with the weight rows neuralop slices for them (6×6, 7×9 where it shifts a row, and 16×16)', (t) => {
    const run = importCase('coarse');
    const ck = loadCheckpoint(run);
    const m = buildModel(ck.state.config.model).eval();
    m.loadStateDict(ck.weights);
    Object.values(ck.weights).forEach((x) => x.release());
    const f = io('coarse');
    for (const sfx of ['', '_odd', '_full']) {
      const y = noGrad(() => tidy(() => m.forward(Variable.constant(f.tensors[`input${sfx}`]!)).value.toFloat64()));
      const e = relL2(y, f.tensors[`output${sfx}`]!.toFloat64());
      t.diagnostic(`coarse${sfx}: ${f.tensors[`input${sfx}`]!.shape.join('x')} relative L2 vs PyTorch ${e.toExponential(2)}`);
      assert.ok(e <= TOL, `coarse${sfx}: ${e}`);
    }
    m.release();
    f.release();
  });

  it("maps neuralop's metadata to mpno's options: TFNO's class defaults, ranks read off the factors, max_n_modes sliced", () => {
    const tf = importCommand({ source: FIX, name: 'tfno', out: path.join(dir, 'map-tfno'), normalizerEps: 1e-7, force: false });
    assert.equal(tf.model.name, 'TFNO');
    assert.equal(tf.model['factorization'] ?? 'tucker', 'tucker'); // TFNO's default: left out of the model section
    assert.deepEqual(tf.model['rank'], [4, 4, 3, 2]); // tensorly's validate_tucker_rank(0.1) for (8, 8, 6, 4)
    const one = importCommand({ source: FIX, name: 'fno1d', out: path.join(dir, 'map-1d'), normalizerEps: 1e-7, force: false });
    assert.deepEqual(one.model['n_modes'], [8]);
    assert.equal(one.model['in_channels'], 2);
    assert.ok(one.notes.some((n) => n.includes('max_n_modes')), one.notes.join('; '));
    const st = JSON.parse(readFileSync(path.join(dir, 'map-1d', 'epoch-0000', 'state.json'), 'utf8')) as { source: { class: string } };
    assert.equal(st.source.class, 'FNO');
  });

  it("--normalizer reads neuralop's data processor; predictions decode to PyTorch's", () => {
    const run = importCase('darcy', { normalizer: `${FIX}darcy_data_processor.pt` });
    const { y, normalizer } = predict(run, 'darcy');
    assert.ok(normalizer);
    const f = io('darcy');
    const out = f.tensors['output']!.clone();
    const decoded = UnitGaussianNormalizer.fromState(normalizer).decode(out);
    const e = relL2(decoded.toFloat64(), f.tensors['decoded']!.toFloat64());
    assert.ok(e <= 1e-6, `decoded outputs differ by ${e}`);
    assert.ok(y.length > 0);
    decoded.release();
    out.release();
    f.release();
  });

  it("mpno eval of the imported model with neuralop's normaliser gives PyTorch's test L2 on darcy_test_16", { skip: !existsSync(DARCY_TEST) && 'needs ../shared/data/neuralop' }, () => {
    const run = importCase('darcy', { normalizer: `${FIX}darcy_data_processor.pt` });
    const r = evalCommand({ checkpoint: run, data: DARCY_TEST, batchSize: 16 });
    const { metadata } = readSafetensors(`${FIX}darcy_io.safetensors`);
    const want = Number(metadata['test_l2_darcy_test_16']);
    const got = r['darcy_test_16_l2']!;
    assert.ok(Math.abs(got - want) / want < 1e-5, `mpno ${got} vs PyTorch ${want}`);
  });

  it('--fit-normalizer refits the normaliser as neuralop does (same mean and std as its data processor)', { skip: !existsSync(DARCY_TRAIN) && 'needs ../shared/data/neuralop' }, () => {
    const a = importCase('darcy', { normalizer: `${FIX}darcy_data_processor.pt` });
    const b = importCase('darcy', { fitNormalizer: DARCY_TRAIN });
    const na = loadCheckpoint(a).state.normalizer as NormalizerState;
    const nb = loadCheckpoint(b).state.normalizer as NormalizerState;
    // PyTorch reduces 256 000 float32 values in float32; mpno in float64
    assert.ok(Math.abs(na.mean[0]! - nb.mean[0]!) / na.mean[0]! < 1e-5, `${na.mean[0]} vs ${nb.mean[0]}`);
    assert.ok(Math.abs(na.std[0]! - nb.std[0]!) / na.std[0]! < 1e-5, `${na.std[0]} vs ${nb.std[0]}`);
  });

  it('a plain torch.save(model.state_dict()) file imports with a config that describes the model', () => {
    const cfg = path.join(dir, 'plain.json');
    writeFileSync(cfg, JSON.stringify({
      data: { train: DARCY_TRAIN, test: {}, batch_size: 8, test_batch_size: 8, shuffle: true, encode_output: false },
      model: { name: 'FNO', n_modes: [6, 6], in_channels: 1, out_channels: 1, hidden_channels: 8, n_layers: 4 },
      optimizer: { name: 'AdamW', lr: 0.001, weight_decay: 0.0001 }, scheduler: null,
      training: { n_epochs: 1, eval_interval: 1, train_loss: 'h1', eval_losses: ['h1', 'l2'], seed: 0 },
      output: { dir: 'unused', checkpoint_every: 1 },
    }));
    const out = path.join(dir, 'plain-run');
    importCommand({ source: `${FIX}darcy_plain.pt`, out, config: cfg, normalizerEps: 1e-7, force: false });
    const { y, ref } = predict(out, 'darcy');
    assert.ok(relL2(y, ref) <= TOL);
    assert.throws(() => importCommand({ source: `${FIX}darcy_plain.pt`, out: path.join(dir, 'plain2'), normalizerEps: 1e-7, force: false }), /give --config/);
    const wrong = path.join(dir, 'plain-wrong.json');
    writeFileSync(wrong, readFileSync(cfg, 'utf8').replace('"hidden_channels":8', '"hidden_channels":6'));
    assert.throws(() => importCommand({ source: `${FIX}darcy_plain.pt`, out: path.join(dir, 'plain3'), config: wrong, normalizerEps: 1e-7, force: false }), /has shape .* expects/);
    assert.ok(!existsSync(path.join(dir, 'plain3')));
  });
});

describe('training further from imported weights', () => {
  it('import with --config, then train --resume starts from the imported weights (no optimizer state) and keeps its normaliser', { skip: !existsSync(DARCY_TRAIN) && 'needs ../shared/data/neuralop' }, () => {
    const cfg = path.join(dir, 'ft.json');
    writeFileSync(cfg, JSON.stringify({
      data: { train: DARCY_TRAIN, n_train: 32, test: { t16: DARCY_TEST }, n_test: { t16: 16 }, batch_size: 16, test_batch_size: 16, shuffle: true, encode_output: true },
      // the defaults written out: the same model as the checkpoint's, so the config's own section is kept
      model: { name: 'FNO', n_modes: [6, 6], in_channels: 1, out_channels: 1, hidden_channels: 8, n_layers: 4, fno_skip: 'linear' },
      optimizer: { name: 'AdamW', lr: 0.0001, weight_decay: 0.0001 }, scheduler: null,
      training: { n_epochs: 1, eval_interval: 1, train_loss: 'h1', eval_losses: ['l2'], seed: 0 },
      output: { dir: 'ft-run', checkpoint_every: 1 },
    }));
    const out = path.join(dir, 'ft-run');
    const r = importCommand({ source: FIX, name: 'darcy', out, config: cfg, normalizer: `${FIX}darcy_data_processor.pt`, normalizerEps: 1e-7, force: false });
    assert.ok(!r.notes.some((n) => n.includes('replaced')), r.notes.join('; '));
    const t = spawnSync(process.execPath, [bin, 'train', '--config', cfg, '--resume'], { encoding: 'utf8', cwd: dir, env: { ...process.env, MPNO_THREADS: '2' } });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /training from the weights imported into/);
    const st = loadCheckpoint(out).state;
    assert.equal(st.epoch, 1);
    const n = st.normalizer as NormalizerState;
    assert.ok(Math.abs(n.mean[0]! - 0.386316) < 1e-5, `normaliser mean ${n.mean[0]} (the data processor's 0.386316)`);
  });
});

describe('mpno export --format neuralop', () => {
  for (const kase of ['darcy', 'tfno', 'sfno', 'gino', 'relu', 'group_norm']) {
    it(`${kase}: the export re-imports to the same predictions (PyTorch's)`, () => {
      const run = importCase(kase, kase === 'darcy' ? { normalizer: `${FIX}darcy_data_processor.pt` } : {});
      const out = path.join(dir, `export-${kase}`);
      const r = exportCommand({ run, out, format: 'neuralop', force: false });
      const st = readSafetensors(path.join(out, 'model.safetensors'));
      // neuralop's names and complex64 spectral weights
      assert.ok((st.complex ?? []).some((n) => n.startsWith('fno_blocks.convs.0.weight.')), JSON.stringify(st.complex));
      if (kase === 'tfno') assert.ok('fno_blocks.convs.0.weight.factors.factor_0' in st.tensors && 'fno_blocks.convs.0.weight.core' in st.tensors);
      Object.values(st.tensors).forEach((t) => t.release());
      const args = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.ok(!('amp' in args) && !('half_type' in args));
      if (kase === 'darcy') assert.ok(r.files.includes('data_processor.safetensors'));
      const back = path.join(dir, `reimport-${kase}`);
      importCommand({ source: out, out: back, normalizerEps: 1e-7, force: false });
      const { y, ref } = predict(back, kase);
      assert.ok(relL2(y, ref) <= TOL, `${kase}: ${relL2(y, ref)}`);
    });
  }

  it('PyTorch loads the export with load_state_dict(strict=True) and gives the fixture outputs', (t) => {
    const py = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
    if (py.status !== 0) {
      t.skip('/usr/bin/python3 has no torch (apt-get install python3-torch)');
      return;
    }
    const run = importCase('darcy');
    const out = path.join(dir, 'export-py');
    exportCommand({ run, out, format: 'neuralop', force: false });
    const r = spawnSync('/usr/bin/python3', [SCRIPT, '--check-export', out, '--case', 'darcy'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    t.diagnostic(r.stdout.trim());
  });

  it('refuses to overwrite, and an option neuralop cannot take', () => {
    const run = importCase('darcy');
    const out = path.join(dir, 'export-twice');
    exportCommand({ run, out, format: 'neuralop', force: false });
    assert.throws(() => exportCommand({ run, out, format: 'neuralop', force: false }), /exists; refusing/);
    assert.throws(() => exportCommand({ run, out: path.join(dir, 'x'), format: 'onnx', force: false }), /unknown --format 'onnx'/);
  });
});

describe('bad neuralop checkpoints', () => {
  const meta = (): Record<string, unknown> => readNeuralopCheckpoint(FIX, 'darcy').metadata as Record<string, unknown>;
  const state = () => readNeuralopCheckpoint(FIX, 'darcy').state;
  const attempt = (changes: Record<string, unknown>): (() => void) => () => {
    const m = neuralopToMpno({ ...meta(), ...changes } as never, state(), 'ck');
    m.weights.forEach((t) => t.release());
  };

  it('a pickle that refers to anything outside the allow-list is refused by name and nothing runs', () => {
    const out = path.join(dir, 'evil');
    assert.throws(() => importCommand({ source: FIX, name: 'evil', out, normalizerEps: 1e-7, force: false }), /global 'posix\.system', which is not allowed/);
    assert.ok(!existsSync(out));
  });

  it('an argument mpno lacks is refused by name', () => {
    assert.throws(attempt({ norm: 'ada_in' }), /norm must be one of group_norm, instance_norm or null, got "ada_in"/);
    assert.throws(attempt({ non_linearity: new PtRef('torch._C._nn', 'softplus') }), /'non_linearity' = torch\._C\._nn\.softplus is not supported by mpno \(only one of gelu, relu, silu, tanh, sigmoid/);
    assert.throws(attempt({ resolution_scaling_factor: 2 }), /resolution_scaling_factor/);
    assert.throws(attempt({ complex_data: true }), /complex_data/);
    assert.throws(attempt({ channel_mlp_dropout: 1.5 }), /channel_mlp_dropout must be a probability in \[0, 1\)/);
    assert.throws(attempt({ conv_bias_kernel: 3 }), /conv_bias_kernel/);
    assert.throws(attempt({ some_new_option: 1 }), /unknown neuralop FNO argument 'some_new_option'/);
    assert.throws(attempt({ _name: 'UNO' }), /neuralop model 'UNO' has no mpno family/);
  });

  it('a state dict whose shapes disagree with its metadata names the weight; nothing is written', () => {
    const out = path.join(dir, 'mismatch');
    const m = neuralopToMpno({ ...meta(), hidden_channels: 6 } as never, state(), 'ck');
    assert.equal(m.model['hidden_channels'], 6);
    m.weights.forEach((t) => t.release());
    // through the command: a metadata file rewritten by hand is what users would have; simulate with --config on the plain state dict
    const cfg = path.join(dir, 'mismatch.json');
    writeFileSync(cfg, JSON.stringify({
      data: { train: DARCY_TRAIN, test: {}, batch_size: 8, test_batch_size: 8, shuffle: true, encode_output: false },
      model: { name: 'FNO', n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 8, n_layers: 4 },
      optimizer: { name: 'AdamW', lr: 0.001, weight_decay: 0.0001 }, scheduler: null,
      training: { n_epochs: 1, eval_interval: 1, train_loss: 'h1', eval_losses: ['h1'], seed: 0 }, output: { dir: 'unused', checkpoint_every: 1 },
    }));
    assert.throws(() => importCommand({ source: `${FIX}darcy_plain.pt`, out, config: cfg, normalizerEps: 1e-7, force: false }), /'fno_blocks\.convs\.0\.weight' has shape \[8, 8, 6, 4, 2\]/);
    assert.ok(!existsSync(out));
  });

  it('missing files, a wrong normaliser and an existing run are named errors from the CLI (non-zero exit)', () => {
    const r1 = spawnSync(process.execPath, [bin, 'import', 'neuralop', FIX, 'nosuch', '--out', path.join(dir, 'n1')], { encoding: 'utf8' });
    assert.notEqual(r1.status, 0);
    assert.match(r1.stderr, /nosuch_metadata\.pkl/);
    const r2 = spawnSync(process.execPath, [bin, 'import', 'neuralop', FIX, 'darcy', '--out', path.join(dir, 'n2'), '--normalizer', `${FIX}darcy_plain.pt`], { encoding: 'utf8' });
    assert.notEqual(r2.status, 0);
    assert.match(r2.stderr, /no tensor 'out_normalizer\.mean'/);
    assert.ok(!existsSync(path.join(dir, 'n2', 'latest')));
    const ok = spawnSync(process.execPath, [bin, 'import', 'neuralop', FIX, 'darcy', '--out', path.join(dir, 'n3')], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const again = spawnSync(process.execPath, [bin, 'import', 'neuralop', FIX, 'darcy', '--out', path.join(dir, 'n3')], { encoding: 'utf8' });
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /already holds an mpno run/);
  });
});
