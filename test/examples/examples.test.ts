import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Variable, noGrad, tidy } from '../../src/autograd/variable.js';
import { storedResolutions } from '../../src/cli/generate-shard.js';
import { Tensor } from '../../src/core/tensor.js';
import { loadAnyDataset } from '../../src/data/dataset-file.js';
import { initHdf5 } from '../../src/data/formats/hdf5.js';
import { sourceFile } from '../../src/data/sources.js';
import { releaseBatch } from '../../src/core/batch.js';
import { checkModelFitsDataset } from '../../src/cli/model-check.js';
import { type NeuralOperator, buildModel } from '../../src/models/registry.js';
import { parsePrecisionSchedule, scheduleEpochs } from '../../src/precision/schedule.js';
import { loadConfig } from '../../src/train/config.js';

const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

/** The model a config describes, as `mpno train` builds it. */
function modelOf(config: ReturnType<typeof loadConfig>): NeuralOperator {
  return buildModel(config.model, { seed: config.training.seed });
}

/** One forward pass of x: the output must be finite and shaped like the targets [b, out, …grid]. */
function forwardShape(m: NeuralOperator, x: Tensor): number[] {
  return noGrad(() => tidy(() => {
    const y = m.forward(Variable.constant(x));
    assert.ok(y.value.toFloat64().every(Number.isFinite), 'the example model gives a finite output');
    return [...y.shape];
  }));
}

describe('examples/*.json', () => {
  before(() => initHdf5());

  it('lists the examples the README names', () => {
    assert.deepEqual(files, ['bodies-gino-mixed.json', 'bodies-gino-schedule.json', 'bodies-gino.json', 'darcy16-mixed.json', 'darcy16-schedule.json', 'darcy16.json', 'darcy64.json', 'hdf5-ns-mat.json', 'ns64-tfno.json', 'ns64.json', 'swe32x64-mixed.json', 'swe32x64-schedule.json', 'swe32x64.json']);
  });

  for (const f of files) {
    it(`${f}: the config validates, its model builds and fits its data (without generating or training)`, () => {
      const config = loadConfig(path.join(dir, f));
      const m = modelOf(config);
      try {
        if (config.precision?.schedule) {
          const s = scheduleEpochs(parsePrecisionSchedule(config.precision.schedule), config.training.n_epochs);
          assert.ok(s.entries.length > 0 && s.entries.at(-1)!.end === config.training.n_epochs);
        }
        const g = config.data.generate;
        if (g && g.pde === 'bodies') {
          // point data: the generated sets are made on first use; the sets on disk (neuralop's cars) go through the model
          assert.equal(config.model.name, 'GINO');
          const onDisk = Object.values(config.data.test).map(sourceFile).filter((p) => !p.endsWith('.safetensors'));
          assert.ok(onDisk.length > 0, 'a zero-shot test set on disk');
          for (const p of onDisk) {
            if (!existsSync(p)) continue; // ../shared is absent
            const d = loadAnyDataset(p, { n: 1 });
            try {
              checkModelFitsDataset(config.model, d, p);
              const b = d.batch([0]);
              const shape = noGrad(() => tidy(() => [...m.forwardBatch!(b).shape]));
              assert.deepEqual(shape, [...b.tensors['y']!.shape]);
              releaseBatch(b);
            } finally {
              d.release();
            }
          }
        } else if (g && g.pde === 'swe') {
          // on the sphere: test sets named nlat×nlon, each simulated on its own grid; 3 → 3 channels
          const ratio = Number(g.params?.['nlon'] ?? 2 * g.resolution) / g.resolution;
          const grids = [g.resolution, ...(g.test.resolutions ?? Object.keys(config.data.test).map(() => g.resolution))].map((r) => [r, ratio * r] as const);
          assert.deepEqual(Object.keys(config.data.test), grids.slice(1).map(([a, b]) => `${a}x${b}`), 'test sets are named by their grid');
          assert.ok(sourceFile(config.data.train).includes(`_${grids[0]![0]}x${grids[0]![1]}.`), `${sourceFile(config.data.train)} holds ${grids[0]!.join('×')} samples`);
          for (const [nlat, nlon] of grids) {
            const x = Tensor.zeros([1, 3, nlat, nlon]);
            assert.deepEqual(forwardShape(m, x), [1, 3, nlat, nlon], `${f}: ${nlat}×${nlon}`);
            x.release();
          }
        } else if (g) {
          // data made on first use: the files' grids follow from the generator settings; the test sets
          // are named by their resolution; darcy and navier-stokes ('map') have 1 input and 1 output channel
          assert.equal(g.params?.['layout'] ?? 'map', 'map');
          const [train] = storedResolutions(g.pde, g.resolution, [g.train.subsample]);
          const tests = storedResolutions(g.pde, g.resolution, g.test.subsample);
          assert.deepEqual(Object.keys(config.data.test).map(Number), tests, 'test sets are named by their resolution');
          assert.ok(sourceFile(config.data.train).includes(`_${train}.`), `${sourceFile(config.data.train)} holds ${train}² samples`);
          assert.equal(config.model.in_channels, 1);
          assert.equal(config.model.out_channels, 1);
          for (const r of [train!, ...tests]) {
            const x = Tensor.zeros([1, 1, r, r]);
            assert.deepEqual(forwardShape(m, x), [1, 1, r, r], `${f}: ${r}×${r}`);
            x.release();
          }
        } else {
          // data on disk: a few samples of every set go through the model and match the targets
          for (const p of [config.data.train, ...Object.values(config.data.test)]) {
            assert.ok(existsSync(sourceFile(p)), `${f}: ${sourceFile(p)} is missing and the config has no data.generate`);
            const d = loadAnyDataset(p, { n: 2 });
            const b = d.batch([0, 1]);
            try {
              checkModelFitsDataset(config.model, d, sourceFile(p));
              assert.deepEqual(forwardShape(m, b.tensors['x']!), [...b.tensors['y']!.shape], `${f}: ${sourceFile(p)}`);
            } finally {
              releaseBatch(b);
              d.release();
            }
          }
        }
      } finally {
        m.release();
      }
    });
  }
});
