import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Variable, noGrad, tidy } from '../autograd/variable.js';
import { type NormalizerState, UnitGaussianNormalizer } from '../data/dataset.js';
import { loadDataset } from '../data/dataset-file.js';
import { colorize, panel, upscale, writePng } from '../data/formats/png.js';
import { FNO } from '../models/fno.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import type { RunConfig } from '../train/config.js';

export interface PredictOptions {
  checkpoint: string;
  data: string;
  out: string;
  indices: number[];
  scale: number;
}

/**
 * mpno predict: runs a checkpoint on samples of a .pt file and writes one PNG per sample with four
 * panels (input, truth, prediction, error = prediction − truth). 2-D data only.
 */
export function predictCommand(o: PredictOptions): string[] {
  const ck = loadCheckpoint(o.checkpoint);
  const config = ck.state.config as RunConfig;
  const { name: _n, ...fnoOpts } = config.model;
  void _n;
  const model = new FNO(fnoOpts);
  const data = loadDataset(o.data);
  const written: string[] = [];
  try {
    model.loadStateDict(ck.weights);
    model.eval();
    if (data.x.ndim !== 4) throw new RangeError(`${o.data}: predict draws 2-D fields; the data is [${data.x.shape.join(', ')}]`);
    const normalizer = ck.state.normalizer ? UnitGaussianNormalizer.fromState(ck.state.normalizer as NormalizerState) : undefined;
    const [H, W] = data.x.shape.slice(2) as [number, number];
    mkdirSync(o.out, { recursive: true });
    for (const i of o.indices) {
      if (!Number.isInteger(i) || i < 0 || i >= data.length) throw new RangeError(`--index ${i} is outside 0…${data.length - 1} (${o.data})`);
      const { x, y } = data.gather([i]);
      const pred = noGrad(() => tidy(() => {
        const p = model.forward(Variable.constant(x));
        const dec = normalizer ? normalizer.decode(p.value) : p.value.clone('data');
        return dec;
      }));
      const xs = x.toFloat64();
      const ys = y.toFloat64();
      const ps = pred.toFloat64();
      const err = ps.map((v, k) => v - ys[k]!);
      const lo = Math.min(...ys, ...ps);
      const hi = Math.max(...ys, ...ps);
      const img = (v: Float64Array, cmap: 'viridis' | 'diverging', title: string, range?: [number, number]) => ({
        ...upscale(colorize(v.subarray(0, H * W), W, H, { cmap, ...(range ? { vmin: range[0], vmax: range[1] } : {}) }), W, H, o.scale),
        title,
      });
      const rel = Math.sqrt(err.reduce((a, v) => a + v * v, 0) / ys.reduce((a, v) => a + v * v, 0));
      const p = panel([
        img(xs, 'viridis', 'input'),
        img(ys, 'viridis', 'truth', [lo, hi]),
        img(ps, 'viridis', 'prediction', [lo, hi]),
        img(err, 'diverging', `error, rel ${rel.toFixed(3)}`),
      ]);
      const file = path.join(o.out, `sample-${String(i).padStart(4, '0')}.png`);
      writePng(file, p.rgba, p.width, p.height);
      written.push(file);
      for (const t of [x, y, pred]) t.release();
    }
    return written;
  } finally {
    for (const t of Object.values(ck.weights)) t.release();
    model.release();
    data.release();
  }
}
