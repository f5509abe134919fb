// The page's engine: a dedicated worker that holds the model and data and runs inference (the kernel
// pool blocks in Atomics.wait, which a page's main thread may not). Requests {id, op, …} get replies
// {id, ok, result | error}; see page.ts for the other side.
import { arena } from '../../core/arena.js';
import { kernelVariant } from '../../kernels/module.js';
import { pool } from '../../kernels/pool.js';
import { PointCloudDataset } from '../../data/points.js';
import { BUILTIN_DARCY_GRIDS, InputError, type LoadedRun, type PageDataset, builtinDarcy, checkRunFitsData, datasetFromBytes, predictOne, predictPoints, relativeL2, resampleGrid, runFromBytes, runFromExport } from '../engine.js';

export type EngineRequest =
  | { id: number; op: 'init'; threads: number }
  | { id: number; op: 'loadRun'; name: string; state: string; weights: ArrayBuffer }
  | { id: number; op: 'loadExport'; name: string; config: string; weights: ArrayBuffer; dataProcessor: ArrayBuffer | null }
  | { id: number; op: 'loadData'; name: string; bytes: ArrayBuffer }
  | { id: number; op: 'builtin'; n: number }
  | { id: number; op: 'predict'; index: number; scale: number; precision: 'saved' | 'full'; repeats: number };

export interface EngineInfo {
  threads: number;
  shared: boolean;
  kernels: string;
}

export interface RunInfo {
  name: string;
  family: string;
  epoch: number;
  precision: string;
  hasHalf: boolean;
  inChannels: number;
  outChannels: number;
}

export type DataInfo =
  | { kind: 'grid'; name: string; length: number; xShape: number[]; yShape: number[]; grids?: number[] }
  | { kind: 'points'; name: string; length: number; points: number[]; channels: number };

/** Where `other` is the model in the other precision (full when it runs in half, and the reverse), where it has half layers. */
interface Common {
  cout: number;
  pred: Float32Array;
  relL2: number;
  /** Median wall time of one forward pass, ms. */
  ms: number;
  other: { precision: string; pred: Float32Array; relL2: number; relDiff: number } | null;
  precision: string;
}

/** A prediction on point-cloud sample: values [P, cout] on points [P, 3]. */
export interface PointPrediction extends Common {
  kind: 'points';
  points: Float32Array;
  y: Float32Array;
}

export type Prediction = GridPrediction | PointPrediction;

export interface GridPrediction extends Common {
  kind: 'grid';
  grid: [number, number];
  cin: number;
  cout: number;
  /** The input at the grid predicted on. */
  x: Float32Array;
  /** The truth at that grid (resampled from the data's grid when the two differ). */
  y: Float32Array;
  truthResampled: boolean;
}

let run: LoadedRun | undefined;
let data: PageDataset | undefined;
/** The built-in samples at each of their grids (data is the middle one); none for a file. */
let levels: Map<number, PageDataset> | undefined;

function setData(next: PageDataset, nextLevels?: Map<number, PageDataset>): void {
  for (const d of levels?.values() ?? []) if (d !== next) d.release();
  if (!levels && data && data !== next) data.release();
  data = next;
  levels = nextLevels;
}

function info(): EngineInfo {
  return { threads: pool.threads, shared: arena.shared, kernels: kernelVariant };
}

function timed<T>(repeats: number, fn: () => T): { value: T; ms: number } {
  const times: number[] = [];
  let value!: T;
  for (let r = 0; r < Math.max(1, repeats); r++) {
    const t0 = performance.now();
    value = fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { value, ms: times[Math.floor(times.length / 2)]! };
}

/**
 * A prediction's error against the truth, its precision's name, and, for a model with half layers,
 * the same prediction in the other precision (`again`) with its error and the difference between the two.
 */
function compared(run: LoadedRun, precision: 'saved' | 'full', pred: Float32Array, y: Float32Array, again: (p: 'saved' | 'full') => Float32Array): Pick<Common, 'relL2' | 'other' | 'precision'> {
  const name = (p: 'saved' | 'full') => (p === 'full' ? 'full' : run.precision);
  let other: Common['other'] = null;
  if (run.hasHalf) {
    const o = precision === 'full' ? 'saved' : 'full';
    const p2 = again(o);
    other = { precision: name(o), pred: p2, relL2: relativeL2(p2, y), relDiff: relativeL2(pred, p2) };
  }
  return { relL2: relativeL2(pred, y), other, precision: name(precision) };
}

async function handle(req: EngineRequest): Promise<unknown> {
  switch (req.op) {
    case 'init': {
      const want = Math.max(1, Math.floor(req.threads));
      pool.setThreads(arena.shared ? want : 1);
      if (pool.threads > 1) await pool.ready();
      return info();
    }
    case 'loadRun':
    case 'loadExport': {
      const next = req.op === 'loadRun'
        ? runFromBytes(req.state, new Uint8Array(req.weights), req.name)
        : runFromExport(req.config, new Uint8Array(req.weights), req.dataProcessor ? new Uint8Array(req.dataProcessor) : undefined, req.name);
      run?.model.release();
      run = next;
      const s = next.spec;
      return {
        name: next.name, family: s.name, epoch: next.epoch, precision: next.precision, hasHalf: next.hasHalf,
        inChannels: Number(s['in_channels'] ?? 0), outChannels: Number(s['out_channels'] ?? 0),
      } satisfies RunInfo;
    }
    case 'loadData': {
      const next = datasetFromBytes(new Uint8Array(req.bytes), req.name);
      setData(next);
      if (next instanceof PointCloudDataset) {
        const c = next.samples[0]!['y']!.shape[1]!;
        return { kind: 'points', name: next.name, length: next.length, points: next.samples.map((s) => s['y']!.shape[0]!), channels: c } satisfies DataInfo;
      }
      return { kind: 'grid', name: next.name, length: next.length, xShape: [...next.xShape], yShape: [...next.yShape] } satisfies DataInfo;
    }
    case 'builtin': {
      const made = builtinDarcy(req.n);
      const mid = made.get(BUILTIN_DARCY_GRIDS[1]!)!;
      setData(mid, made);
      return { kind: 'grid', name: 'built-in Darcy flow (generated here)', length: mid.length, xShape: [...mid.xShape], yShape: [...mid.yShape], grids: [...BUILTIN_DARCY_GRIDS] } satisfies DataInfo;
    }
    case 'predict': {
      if (!run) throw new InputError('pick a checkpoint first');
      if (!data) throw new InputError('pick a dataset first');
      checkRunFitsData(run, data);
      if (!Number.isInteger(req.index) || req.index < 0 || req.index >= data.length) throw new InputError(`sample ${req.index} is outside 0…${data.length - 1} of ${data.name}`);
      const r = run;
      if (data instanceof PointCloudDataset) {
        const d = data;
        const { value: p, ms } = timed(req.repeats, () => predictPoints(r, d, req.index, req.precision));
        const c = compared(r, req.precision, p.pred, p.y, (other) => predictPoints(r, d, req.index, other).pred);
        return { kind: 'points', cout: p.y.length / (p.points.length / 3), points: p.points, y: p.y, pred: p.pred, ms, ...c } satisfies Prediction;
      }
      if (data.xShape.length !== 4) throw new InputError(`${data.name}: the page draws 2-D fields; x is [${data.xShape.join(', ')}]`);
      let source: PageDataset = data;
      if (levels) {
        // built-in samples: the stored grid nearest to the one asked for, with its exact solution
        const want = data.xShape[2]! * req.scale;
        const g = [...levels.keys()].reduce((a, b) => (Math.abs(Math.log(b / want)) < Math.abs(Math.log(a / want)) ? b : a));
        source = levels.get(g)!;
      }
      if (source instanceof PointCloudDataset) throw new InputError(`${source.name}: not a grid dataset`);
      const [C, H, W] = source.xShape.slice(1) as [number, number, number];
      const Co = source.yShape[1]!;
      const h = levels ? H : Math.max(4, Math.round(H * req.scale));
      const w = levels ? W : Math.max(4, Math.round(W * req.scale));
      const s = source.gather([req.index]);
      const xa = s.x.toFloat64();
      const ya = s.y.toFloat64();
      s.x.release();
      s.y.release();
      const x = resampleGrid(xa, C, H, W, h, w);
      const y = Float32Array.from(resampleGrid(ya, Co, H, W, h, w));
      checkRunFitsData(run, { xShape: [1, C, h, w], yShape: [1, Co, h, w], name: `${source.name} at ${h} × ${w}` });
      const { value: pred, ms } = timed(req.repeats, () => predictOne(r, x, [h, w], req.precision));
      const c = compared(r, req.precision, pred, y, (other) => predictOne(r, x, [h, w], other));
      return { kind: 'grid', grid: [h, w], cin: C, cout: Co, x: Float32Array.from(x), y, truthResampled: h !== H || w !== W, pred, ms, ...c } satisfies Prediction;
    }
  }
}

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<EngineRequest>) => void) | null;
  postMessage(m: unknown): void;
};
// requests are handled one after another (each may await the pool's start-up)
let queue = Promise.resolve();
scope.onmessage = (e) => {
  const req = e.data;
  queue = queue.then(async () => {
    try {
      scope.postMessage({ id: req.id, ok: true, result: await handle(req) });
    } catch (err) {
      const known = err instanceof InputError || err instanceof RangeError || err instanceof TypeError;
      scope.postMessage({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err), kind: known ? 'input' : 'internal' });
    }
  });
};
scope.postMessage({ id: 0, ok: true, result: info() });
