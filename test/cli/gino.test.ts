import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));
const MINI_CAR = fileURLToPath(new URL('../../../../shared/data/neuralop/mini_car.pt', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'mpno-gino-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function mpno(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, MPNO_THREADS: '2' } });
}

/** A small GINO run config on generated bodies (and neuralop's cars when ../shared is there). */
function config(extra: Record<string, unknown> = {}): string {
  const c = {
    data: {
      train: 'train.safetensors',
      test: { bodies: 'test.safetensors', ...(existsSync(MINI_CAR) ? { cars: MINI_CAR } : {}) },
      batch_size: 2, test_batch_size: 2, shuffle: true, encode_output: true,
      generate: { pde: 'bodies', resolution: 8, train: { n: 6, seed: 0, subsample: 1 }, test: { n: 2, seed: 1, subsample: [1] }, params: { points: 150 } },
    },
    model: {
      name: 'GINO', out_channels: 1, latent_feature_channels: 1, fno_n_modes: [4, 4, 4], fno_hidden_channels: 8, fno_n_layers: 2, in_gno_radius: 0.2, out_gno_radius: 0.2,
      in_gno_pos_embed_type: 'nerf', out_gno_pos_embed_type: 'nerf', gno_embed_channels: 2, in_gno_channel_mlp_hidden_layers: [16], out_gno_channel_mlp_hidden_layers: [16],
    },
    optimizer: { name: 'AdamW', lr: 0.003, weight_decay: 0.0001 },
    scheduler: null,
    training: { n_epochs: 2, eval_interval: 1, train_loss: 'l2', eval_losses: ['l2'], seed: 0 },
    output: { dir: 'run', checkpoint_every: 1 },
    ...extra,
  };
  const f = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(c));
  return f;
}

describe('GINO from the command line', () => {
  it('generates bodies, trains, resumes, evaluates and predicts on point clouds', () => {
    const cfg = config();
    const r = mpno('train', '--config', cfg, '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(path.join(dir, 'train.safetensors')) && existsSync(path.join(dir, 'test.safetensors')));
    const log = readFileSync(path.join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(log.length, 2);
    const ev = log[1]!['eval'] as Record<string, number>;
    assert.ok(ev['bodies_l2']! > 0 && Number.isFinite(ev['bodies_l2']!));
    if (existsSync(MINI_CAR)) assert.ok(Number.isFinite(ev['cars_l2']!));
    const graphs = log[0]!['graphs'] as Record<string, { queries: number; empty: number; edges: number }>;
    assert.ok(graphs['in_gno']!.queries === 6 * 8 ** 3 && graphs['in_gno']!.empty > 0 && graphs['out_gno']!.edges > 0, JSON.stringify(graphs));
    const e = mpno('eval', '--checkpoint', 'run', '--data', 'test.safetensors', '--json');
    assert.equal(e.status, 0, e.stderr);
    assert.ok(Math.abs((JSON.parse(e.stdout) as Record<string, number>)['test.safetensors_l2']! - ev['bodies_l2']!) < 1e-6, e.stdout);
    // one more epoch from the checkpoint
    const res = mpno('train', '--config', cfg, '--resume', '--epochs', '3', '--quiet');
    assert.equal(res.status, 0, res.stderr);
    assert.equal(readFileSync(path.join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').length, 3);
    const p = mpno('predict', '--checkpoint', 'run', '--data', 'test.safetensors', '--index', '0,1', '--out', 'pred');
    assert.equal(p.status, 0, p.stderr);
    for (const f of ['sample-0000.png', 'sample-0001.png']) assert.ok(readFileSync(path.join(dir, 'pred', f)).subarray(1, 4).toString() === 'PNG');
  });

  it('names bad input: h1 on point clouds, GINO on grid data, too few points, a grid model on point data', () => {
    const h1 = mpno('train', '--config', config({ training: { n_epochs: 1, eval_interval: 1, train_loss: 'h1', eval_losses: ['l2'], seed: 0 } }), '--quiet');
    assert.notEqual(h1.status, 0);
    assert.match(h1.stderr, /training.train_loss' is 'h1', but GINO predicts on point clouds/);
    const pts = mpno('generate', 'bodies', '--n', '2', '--points', '10', '--out', 'few.safetensors');
    assert.notEqual(pts.status, 0);
    assert.match(pts.stderr, /points/);
    const grid = mpno('generate', 'darcy', '--n', '2', '--resolution', '9', '--out', 'darcy.safetensors');
    assert.equal(grid.status, 0, grid.stderr);
    const wrong = mpno('train', '--config', config({ data: { train: 'darcy.safetensors', test: {}, batch_size: 1, test_batch_size: 1, shuffle: false, encode_output: false } }), '--quiet', '--overwrite');
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /model GINO takes point clouds, but .*darcy.safetensors is a grid dataset/);
    const fnoOnPoints = mpno('eval', '--checkpoint', 'run', '--data', 'darcy.safetensors');
    assert.notEqual(fnoOnPoints.status, 0);
    assert.match(fnoOnPoints.stderr, /takes point clouds, but .* is a grid dataset/);
  });
});
