import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Variable, noGrad, tidy } from '../autograd/variable.js';
import { type GridDataset, isGridDataset, loadAnyDataset, readDatasetMeta } from '../data/dataset-file.js';
import type { PointCloudDataset } from '../data/points.js';
import { releaseBatch } from '../core/batch.js';
import { fsStep, makeDirectory } from '../data/formats/atomic.js';
import { type Colormap, colorbar, colorize, encodePng, panel, stackRows, upscale } from '../data/formats/png.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { modelFromCheckpoint } from './model-check.js';

export interface PredictOptions {
  checkpoint: string;
  data: string;
  out: string;
  indices: number[];
  scale: number;
}

/** The largest side of one field's image, in pixels (--scale is refused above it). */
export const MAX_PANEL_SIDE = 8192;

/**
 * mpno predict: runs a checkpoint on samples of a data file and writes one PNG per sample with four
 * panels (input, truth, prediction, error = prediction − truth), each with a labelled colour bar
 * (truth and prediction share one range), one row per output channel (named from the data file's
 * metadata where it has channel names; fields on the sphere are drawn as equirectangular maps,
 * north up). 2-D data only. Everything is validated (indices, scale,
 * data against the model) and every image rendered before anything is written; the files are then
 * written as temporaries and renamed into place, so a failure leaves no partial output.
 */
export function predictCommand(o: PredictOptions): string[] {
  if (o.indices.length === 0) throw new RangeError('predict: --index lists no samples');
  if (!Number.isInteger(o.scale) || o.scale < 1) throw new RangeError(`predict: --scale must be a positive integer, got ${o.scale}`);
  const ck = loadCheckpoint(o.checkpoint);
  let data: GridDataset | undefined;
  let built: ReturnType<typeof modelFromCheckpoint> | undefined;
  const images: { file: string; bytes: Uint8Array }[] = [];
  try {
    const any = loadAnyDataset(o.data);
    if (!isGridDataset(any)) {
      try {
        return writeAllOrNothing(o.out, predictPoints(o, ck, any));
      } finally {
        any.release();
      }
    }
    data = any;
    if (data.xShape.length !== 4) throw new RangeError(`${o.data}: predict draws 2-D fields; the data is [${data.xShape.join(', ')}]`);
    const [H, W] = data.xShape.slice(2) as [number, number];
    const bad = o.indices.filter((i) => !Number.isInteger(i) || i < 0 || i >= data!.length);
    if (bad.length) throw new RangeError(`--index ${bad.join(',')} ${bad.length === 1 ? 'is' : 'are'} outside 0…${data.length - 1} (${o.data})`);
    if (Math.max(H, W) * o.scale > MAX_PANEL_SIDE) {
      throw new RangeError(`--scale ${o.scale} makes ${W * o.scale} × ${H * o.scale}-pixel panels; at most ${MAX_PANEL_SIDE} pixels a side (--scale ≤ ${Math.floor(MAX_PANEL_SIDE / Math.max(H, W))} for ${W} × ${H} data)`);
    }
    built = modelFromCheckpoint(ck, data, o.data);
    const { model, normalizer } = built;
    model.eval();
    const fontScale = H * o.scale >= 128 ? 2 : 1;
    const meta = readDatasetMeta(o.data);
    const names = Array.isArray(meta?.params['channels']) ? (meta.params['channels'] as string[]) : [];
    const [Ci, Co] = [data.xShape[1]!, data.yShape[1]!];
    const S = H * W;
    for (const i of new Set(o.indices)) {
      const { x, y } = data.gather([i]);
      const pred = noGrad(() => tidy(() => {
        const p = model.forward(Variable.constant(x));
        return normalizer ? normalizer.decode(p.value) : p.value.clone('data');
      }));
      const [xa, ya, pa] = [x.toFloat64(), y.toFloat64(), pred.toFloat64()];
      for (const t of [x, y, pred]) t.release();
      const rows = [];
      for (let c = 0; c < Co; c++) {
        // the input shown beside output channel c: the same channel where the input has it
        const xs = xa.subarray(Math.min(c, Ci - 1) * S, (Math.min(c, Ci - 1) + 1) * S);
        const ys = ya.subarray(c * S, (c + 1) * S);
        const ps = pa.subarray(c * S, (c + 1) * S);
        const err = ps.map((v, k) => v - ys[k]!);
        const range = (...vs: Float64Array[]): [number, number] => {
          let a = Infinity;
          let b = -Infinity;
          for (const v of vs) for (const u of v) if (Number.isFinite(u)) [a, b] = [Math.min(a, u), Math.max(b, u)];
          return a <= b ? [a, b] : [0, 0];
        };
        const [lo, hi] = range(ys, ps);
        const [elo, ehi] = range(err);
        const emax = Math.max(Math.abs(elo), Math.abs(ehi));
        const img = (v: Float64Array, cmap: Colormap, title: string, [vmin, vmax]: [number, number]) => {
          const field = upscale(colorize(v, W, H, { cmap, ...(vmin < vmax ? { vmin, vmax } : {}) }), W, H, o.scale);
          const bar = colorbar(cmap, vmin, vmax, Math.max(field.height, 16 * fontScale), fontScale);
          return { ...panel([field, bar], { gap: 2 * fontScale }), title };
        };
        const rel = Math.sqrt(err.reduce((a, v) => a + v * v, 0) / ys.reduce((a, v) => a + v * v, 0));
        const label = Co === 1 ? '' : ` ${names[c] ?? `channel ${c}`}`;
        rows.push(panel([
          img(xs, 'viridis', `input${Ci === 1 || Ci !== Co ? '' : label}`, range(xs)),
          img(ys, 'viridis', `truth${label}`, [lo, hi]),
          img(ps, 'viridis', `prediction${label}`, [lo, hi]),
          img(err, 'diverging', `error, rel ${rel.toFixed(3)}`, [-emax, emax]),
        ], { gap: 4 * fontScale }));
      }
      const p = rows.length === 1 ? rows[0]! : stackRows(rows, 6 * fontScale);
      images.push({ file: path.join(o.out, `sample-${String(i).padStart(4, '0')}.png`), bytes: encodePng(p.rgba, p.width, p.height) });
    }
  } finally {
    for (const t of Object.values(ck.weights)) t.release();
    built?.model.release();
    data?.release();
  }
  return writeAllOrNothing(o.out, images);
}

/** Side of a point-cloud view, in pixels (--scale applies to grid fields only). */
const VIEW = 256;

/**
 * predict on a point dataset (GINO): per sample, truth | prediction | error at the points, seen from
 * the side (z → right, y up, the points nearest +x on top) and from above (z → right, x up), each
 * point a 3 × 3 splat on 256 × 256 views, with colour bars and the relative L2 of the sample.
 */
function predictPoints(o: PredictOptions, ck: ReturnType<typeof loadCheckpoint>, data: PointCloudDataset): { file: string; bytes: Uint8Array }[] {
  const bad = o.indices.filter((i) => !Number.isInteger(i) || i < 0 || i >= data.length);
  if (bad.length) throw new RangeError(`--index ${bad.join(',')} ${bad.length === 1 ? 'is' : 'are'} outside 0…${data.length - 1} (${o.data})`);
  const built = modelFromCheckpoint(ck, data, o.data);
  const { model, normalizer } = built;
  model.eval();
  const images: { file: string; bytes: Uint8Array }[] = [];
  const fontScale = 2;
  try {
    for (const i of new Set(o.indices)) {
      const b = data.batch([i]);
      const y = b.tensors['y']!.toFloat64();
      const q = (b.tensors['output_queries'] ?? b.tensors['input_geom']!).toFloat64();
      const pred = noGrad(() => tidy(() => {
        const p = model.forwardBatch!(b);
        return (normalizer ? normalizer.decode(p.value) : p.value.clone('data'));
      }));
      const pv = pred.toFloat64();
      pred.release();
      releaseBatch(b);
      const err = pv.map((v, k) => v - y[k]!);
      const rel = Math.sqrt(err.reduce((a, v) => a + v * v, 0) / y.reduce((a, v) => a + v * v, 0));
      const lo = Math.min(...y, ...pv);
      const hi = Math.max(...y, ...pv);
      const emax = Math.max(...err.map(Math.abs));
      const S = VIEW;
      // a view: horizontal axis h, vertical axis v (up), depth axis d (larger = nearer)
      const view = (vals: Float64Array, h: number, v: number, d: number) => {
        const img = new Float64Array(S * S).fill(NaN);
        const depth = new Float64Array(S * S).fill(-Infinity);
        for (let k = 0; k < vals.length; k++) {
          const px = Math.min(S - 3, Math.max(0, Math.round(q[3 * k + h]! * (S - 3))));
          const py = Math.min(S - 3, Math.max(0, Math.round((1 - q[3 * k + v]!) * (S - 3))));
          for (let a = 0; a < 9; a++) {
            const at = (py + Math.floor(a / 3)) * S + px + (a % 3);
            if (q[3 * k + d]! > depth[at]!) {
              depth[at] = q[3 * k + d]!;
              img[at] = vals[k]!;
            }
          }
        }
        return img;
      };
      const fig = (v: Float64Array, cmap: Colormap, title: string, vmin: number, vmax: number) => {
        const field = { rgba: colorize(v, S, S, { cmap, ...(vmin < vmax ? { vmin, vmax } : {}) }), width: S, height: S };
        const bar = colorbar(cmap, vmin, vmax, Math.max(S, 16 * fontScale), fontScale);
        return { ...panel([field, bar], { gap: 2 * fontScale }), title };
      };
      const rows = ([[2, 1, 0, 'side'], [2, 0, 1, 'top']] as const).map(([h, v, d, name]) => panel([
        fig(view(y, h, v, d), 'viridis', `truth (${name})`, lo, hi),
        fig(view(pv, h, v, d), 'viridis', `prediction (${name})`, lo, hi),
        fig(view(err, h, v, d), 'diverging', `error, rel ${rel.toFixed(3)}`, -emax, emax),
      ], { gap: 4 * fontScale }));
      const p = stackRows(rows, 6 * fontScale);
      images.push({ file: path.join(o.out, `sample-${String(i).padStart(4, '0')}.png`), bytes: encodePng(p.rgba, p.width, p.height) });
    }
  } finally {
    built.model.release();
  }
  return images;
}

/** Writes files into `dir` as temporaries, then renames them all into place; on an error removes what it wrote (and `dir`, if it made it). */
function writeAllOrNothing(dir: string, files: { file: string; bytes: Uint8Array }[]): string[] {
  const made = !existsSync(dir);
  makeDirectory(dir, 'output directory');
  const tmps: string[] = [];
  try {
    for (const f of files) {
      const tmp = path.join(dir, `.${path.basename(f.file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      tmps.push(tmp);
      fsStep('write the image', f.file, () => writeFileSync(tmp, f.bytes));
    }
    files.forEach((f, k) => fsStep('write the image', f.file, () => renameSync(tmps[k]!, f.file)));
  } catch (e) {
    for (const t of tmps) {
      try {
        unlinkSync(t);
      } catch {
        /* not written, or already renamed */
      }
    }
    if (made) {
      try {
        rmdirSync(dir);
      } catch {
        /* not empty */
      }
    }
    throw e;
  }
  return files.map((f) => f.file);
}
