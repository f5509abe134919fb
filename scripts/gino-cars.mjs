// Zero-shot on neuralop's three cars: runs a GINO checkpoint trained on generated bodies (potential-flow
// Cp) on mini_car.pt (RANS pressure, unit-Gaussian normalised) and reports per car the relative L2 of the
// prediction, of the prediction after the best affine map a·p + b onto the car's pressure (the units
// differ: Cp against normalised pressure), and the correlation. A measure of how much of the pressure
// pattern carries over from inviscid bodies to real cars, not of car aerodynamics.
//
//   npm run build && node scripts/gino-cars.mjs [--checkpoint runs/bodies-gino] [--data ../shared/data/neuralop/mini_car.pt]
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { loadCheckpoint } = await import(path.join(root, 'dist/src/train/checkpoint.js'));
const { modelFromCheckpoint } = await import(path.join(root, 'dist/src/cli/model-check.js'));
const { loadAnyDataset } = await import(path.join(root, 'dist/src/data/dataset-file.js'));
const { releaseBatch } = await import(path.join(root, 'dist/src/core/batch.js'));
const { noGrad, tidy } = await import(path.join(root, 'dist/src/autograd/variable.js'));

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : d;
};
const ckPath = opt('--checkpoint', 'runs/bodies-gino');
const dataPath = opt('--data', path.join(root, '..', 'shared', 'data', 'neuralop', 'mini_car.pt'));
const ck = loadCheckpoint(ckPath);
const data = loadAnyDataset(dataPath);
const { model, normalizer } = modelFromCheckpoint(ck, data, dataPath);
model.eval();
const norm = (v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
console.log('car  rel L2  rel L2 after a·p + b  correlation');
for (let i = 0; i < data.length; i++) {
  const b = data.batch([i]);
  const y = b.tensors.y.toFloat64();
  const p = noGrad(() => tidy(() => {
    const out = model.forwardBatch(b).value;
    return (normalizer ? normalizer.decode(out) : out.clone('data')).toFloat64();
  }));
  releaseBatch(b);
  const n = y.length;
  const mp = p.reduce((a, x) => a + x, 0) / n;
  const my = y.reduce((a, x) => a + x, 0) / n;
  let spy = 0, spp = 0, syy = 0;
  for (let k = 0; k < n; k++) {
    spy += (p[k] - mp) * (y[k] - my);
    spp += (p[k] - mp) ** 2;
    syy += (y[k] - my) ** 2;
  }
  const a = spy / spp;
  const fit = p.map((x) => a * (x - mp) + my);
  const rel = norm(p.map((x, k) => x - y[k])) / norm(y);
  const relFit = norm(fit.map((x, k) => x - y[k])) / norm(y);
  console.log(`${String(i).padEnd(4)} ${rel.toFixed(4).padEnd(7)} ${relFit.toFixed(4).padEnd(21)} ${(spy / Math.sqrt(spp * syy)).toFixed(4)}`);
}
for (const t of Object.values(ck.weights)) t.release();
model.release();
data.release();
