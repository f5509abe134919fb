import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/train/config.js';

const example = fileURLToPath(new URL('../../../examples/darcy16.json', import.meta.url));

function variant(edit: (c: Record<string, any>) => void): string {
  const c = JSON.parse(readFileSync(example, 'utf8'));
  edit(c);
  const dir = mkdtempSync(path.join(tmpdir(), 'mpno-cfg-'));
  const f = path.join(dir, 'c.json');
  writeFileSync(f, JSON.stringify(c));
  return f;
}

describe('run configs', () => {
  it('the darcy16 example loads, with data paths resolved relative to the file', () => {
    const c = loadConfig(example);
    assert.ok(typeof c.data.train === 'string' && path.isAbsolute(c.data.train) && c.data.train.endsWith('darcy_train_16.pt'));
    assert.equal(c.training.n_epochs, 15);
    assert.deepEqual(c.model.n_modes, [8, 8]);
  });

  it('--set overrides parse JSON values and reach nested keys', () => {
    const c = loadConfig(example, ['training.n_epochs=2', 'model.hidden_channels=8', 'output.dir=/tmp/x', 'scheduler.T_max=5']);
    assert.equal(c.training.n_epochs, 2);
    assert.equal(c.model.hidden_channels, 8);
    assert.equal(c.output.dir, '/tmp/x');
    assert.throws(() => loadConfig(example, ['nosuch.key=1']), /unknown config key 'nosuch'/);
    assert.throws(() => loadConfig(example, ['training.n_epochs.x=1']), /'training.n_epochs' is not an object/);
    assert.equal(loadConfig(example, ['precision.schedule="half:0.25,mixed:0.5,full:0.25"']).precision!.schedule, 'half:0.25,mixed:0.5,full:0.25');
    assert.throws(() => loadConfig(example, ['precision.schedule="half:0.5,full:0.25"']), /'precision.schedule': precision schedule: fractions sum to 0.75, not 1/);
    assert.throws(() => loadConfig(example, ['precision.schedule="quarter:1"']), /unknown precision 'quarter'/);
    assert.throws(() => loadConfig(example, ['training']), /--set takes key.path=value/);
  });

  it('__proto__, constructor and prototype in --set or the file are unknown keys and never reach Object.prototype', () => {
    for (const set of ['__proto__.fno_block_precision="half"', 'model.__proto__.fno_block_precision="half"', 'training.constructor.x=1', 'constructor=1', 'data.prototype=1', 'model.constructor=1']) {
      const key = set.slice(0, set.indexOf('=')).split('.').slice(0, set.startsWith('model.') || set.startsWith('training.') || set.startsWith('data.') ? 2 : 1).join('.');
      assert.throws(() => loadConfig(example, [set]), (e: Error) => e.message.includes(`unknown config key '${key}'`), set);
      assert.equal(({} as Record<string, unknown>)['fno_block_precision'], undefined, `${set} polluted Object.prototype`);
    }
    assert.throws(() => loadConfig(variant((c) => (c.model = JSON.parse('{"__proto__": {"amp": true}}')))), /unknown config key 'model.__proto__'/);
    assert.throws(() => loadConfig(variant((c) => (c.optimizer = JSON.parse('{"name": "AdamW", "lr": 0.1, "weight_decay": 0, "constructor": 1}')))), /unknown config key 'optimizer.constructor'/);
  });

  it('the bodies example loads; a GINO config with h1 or a test seed that repeats the training seed is refused', () => {
    const bodies = fileURLToPath(new URL('../../../examples/bodies-gino.json', import.meta.url));
    const c = loadConfig(bodies);
    assert.equal(c.data.generate!.pde, 'bodies');
    assert.throws(() => loadConfig(bodies, ['training.eval_losses=["l2","h1"]']), /'training.eval_losses\[1\]' is 'h1', but GINO predicts on point clouds/);
    // two generated test sets draw from seeds 1 and 2: a training seed of 2 would repeat the second
    const two = ['data.test.more="more.safetensors"', 'data.generate.test.subsample=[1,1]'];
    assert.equal(Object.keys(loadConfig(bodies, two).data.test).length, 3);
    assert.throws(() => loadConfig(bodies, [...two, 'data.generate.train.seed=2']), /test.seed' 1 \+ the test set's position gives the training seed 2/);
    assert.throws(() => loadConfig(bodies, ['data.generate.test.subsample=[2]']), /must be 1 for bodies/);
  });

  it('a section that is not an object is named as such', () => {
    assert.throws(() => loadConfig(example, ['model=3']), /'model' must be an object \(a config section\), got 3/);
    assert.throws(() => loadConfig(example, ['data=[]']), /'data' must be an object, got \[\]/);
    assert.throws(() => loadConfig(example, ['scheduler=3']), /'scheduler' must be an object or null, got 3/);
    assert.throws(() => loadConfig(example, ['precision="x"']), /'precision' must be an object/);
  });

  it('unknown keys and bad values are named errors', () => {
    assert.throws(() => loadConfig(variant((c) => (c.training.epochz = 3))), /unknown config key 'training.epochz'/);
    assert.throws(() => loadConfig(variant((c) => (c.extra = 1))), /unknown config key 'extra'/);
    assert.throws(() => loadConfig(variant((c) => (c.data.batch_size = 0))), /'data.batch_size' must be an integer ≥ 1, got 0/);
    assert.throws(() => loadConfig(variant((c) => (c.optimizer.lr = -1))), /'optimizer.lr' must be a number > 0/);
    assert.throws(() => loadConfig(variant((c) => (c.training.train_loss = 'l3'))), /'training.train_loss' must be 'h1' or 'l2'/);
    assert.throws(() => loadConfig(variant((c) => (c.scheduler = { name: 'Cyclic' }))), /'scheduler.name' must be 'CosineAnnealingLR' or 'StepLR'/);
    assert.throws(() => loadConfig(variant((c) => (c.scheduler.gamma = 1))), /unknown config key 'scheduler.gamma'/);
    assert.throws(() => loadConfig('/nonexistent/c.json'), /\/nonexistent\/c.json: cannot read the config/);
  });
});
