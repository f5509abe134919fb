// The page: picks a checkpoint and a dataset (files, or what `mpno serve` serves), sends them to the
// engine worker, and draws input | prediction | truth | error with colour bars. Everything the user
// can get wrong ends in a message on the page (#message), never only in the console.
import type { DataInfo, EngineInfo, EngineRequest, GridPrediction, PointPrediction, Prediction, RunInfo } from './engine-worker.js';

type Req = EngineRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface PageState {
  engine?: EngineInfo;
  run?: RunInfo;
  data?: DataInfo;
  last?: Prediction;
  bench?: { ms: number; threads: number; size: number[] };
  /** Whether a request is running (a count of them underneath). */
  busy: boolean;
  error?: string;
  /** Increments after every finished request (tests wait on it). */
  done: number;
}

const SCALES = [0.5, 0.75, 1, 1.5, 2, 3, 4];
const state: PageState = { busy: false, done: 0 };
(globalThis as unknown as { mpno: PageState }).mpno = state;

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: #${id} is missing`);
  return el as T;
};

function showMessage(text: string | undefined): void {
  const box = $('message');
  state.error = text;
  box.hidden = text === undefined;
  box.textContent = text ?? '';
}

/** The smallest module with a SIMD instruction (v128.const): validates only where WebAssembly SIMD exists. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);

function browserProblem(): string | undefined {
  if (typeof WebAssembly !== 'object') return 'This browser has no WebAssembly; mpno needs WebAssembly with SIMD (Chrome/Edge ≥ 91, Firefox ≥ 89, Safari ≥ 16.4).';
  if (!WebAssembly.validate(SIMD_PROBE)) return 'This browser lacks WebAssembly SIMD, which mpno\'s kernels need (Chrome/Edge ≥ 91, Firefox ≥ 89, Safari ≥ 16.4).';
  if (typeof Worker !== 'function') return 'This browser has no Web Workers, which mpno runs in.';
  return undefined;
}

// ---- the engine worker ------------------------------------------------------------------------

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let engineReady: Promise<EngineInfo> | undefined;

function startEngine(): Promise<EngineInfo> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./engine.js', import.meta.url), { type: 'module', name: 'mpno-engine' });
    worker = w;
    pending.set(0, { resolve: (v) => resolve(v as EngineInfo), reject });
    w.onmessage = (e: MessageEvent<{ id: number; ok: boolean; result?: unknown; error?: string }>) => {
      const p = pending.get(e.data.id);
      pending.delete(e.data.id);
      if (!p) return;
      if (e.data.ok) p.resolve(e.data.result);
      else p.reject(new Error(e.data.error ?? 'the engine failed'));
    };
    w.onerror = (e) => {
      e.preventDefault();
      const err = new Error(`mpno's engine failed to start or crashed: ${e.message || 'no message'}`);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      showMessage(err.message);
    };
  });
}

async function call<T>(req: Req, transfer: Transferable[] = []): Promise<T> {
  await engineReady;
  if (!worker) throw new Error('the engine is not running');
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: (v) => resolve(v as T), reject });
    worker!.postMessage({ ...req, id }, transfer);
  });
}

/** Runs one user action: its error becomes the page's message; true when it succeeded. */
let running = 0;

async function guarded(what: string, fn: () => Promise<void>): Promise<boolean> {
  running++;
  state.busy = true;
  try {
    await fn();
    showMessage(undefined);
    return true;
  } catch (e) {
    showMessage(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    return false;
  } finally {
    running--;
    state.busy = running > 0;
    state.done++;
    updateButtons();
  }
}

// ---- inputs -----------------------------------------------------------------------------------

interface NamedFile {
  path: string;
  file: Blob;
}

function filesOf(input: HTMLInputElement): NamedFile[] {
  return [...(input.files ?? [])].map((f) => ({ path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, file: f }));
}

type Picked =
  | { kind: 'run'; name: string; state: NamedFile; weights: NamedFile }
  | { kind: 'export'; name: string; config: NamedFile; weights: NamedFile; dataProcessor: NamedFile | undefined };

/**
 * Picks one checkpoint: an mpno checkpoint's state.json + model.safetensors (the one `latest` names,
 * else the newest epoch), or an export's config.json + model.safetensors (+ data_processor.safetensors).
 */
async function pickCheckpoint(files: NamedFile[]): Promise<Picked> {
  const dirOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
  const base = (p: string) => p.split('/').pop();
  const states = files.filter((f) => base(f.path) === 'state.json');
  if (states.length === 0) {
    const config = files.find((f) => base(f.path) === 'config.json');
    const weights = config && files.find((f) => dirOf(f.path) === dirOf(config.path) && base(f.path) === 'model.safetensors');
    if (config && weights) {
      const dp = files.find((f) => dirOf(f.path) === dirOf(config.path) && base(f.path) === 'data_processor.safetensors');
      return { kind: 'export', name: dirOf(config.path) || 'export', config, weights, dataProcessor: dp };
    }
    throw new Error(`no state.json (an mpno checkpoint) or config.json + model.safetensors (an export) among the ${files.length} file(s) picked (${files.slice(0, 4).map((f) => f.path).join(', ')}${files.length > 4 ? ', …' : ''}); pick a run directory, a checkpoint directory, an export directory, or those files`);
  }
  let chosen = states.sort((a, b) => a.path.localeCompare(b.path)).at(-1)!;
  const latest = files.find((f) => base(f.path) === 'latest');
  if (latest) {
    const name = (await latest.file.text()).trim();
    const hit = states.find((s) => dirOf(s.path) === (dirOf(latest.path) ? `${dirOf(latest.path)}/${name}` : name));
    if (hit) chosen = hit;
  }
  const dir = dirOf(chosen.path);
  const weights = files.find((f) => dirOf(f.path) === dir && base(f.path) === 'model.safetensors');
  if (!weights) throw new Error(`${chosen.path} has no model.safetensors beside it`);
  return { kind: 'run', name: dir || 'checkpoint', state: chosen, weights };
}

function showRun(info: RunInfo): void {
  state.run = info;
  $('run-info').textContent = `${info.name}: ${info.family}, epoch ${info.epoch}, ${info.inChannels} → ${info.outChannels} channel(s), runs in ${info.precision}`;
  $('precision-box').hidden = !info.hasHalf;
  $('precision-saved').textContent = `as trained (${info.precision})`;
}

async function loadRun(name: string, stateText: string, weights: ArrayBuffer): Promise<void> {
  showRun(await call<RunInfo>({ op: 'loadRun', name, state: stateText, weights }, [weights]));
}

async function loadPicked(p: Picked): Promise<void> {
  if (p.kind === 'run') {
    await loadRun(p.name, await p.state.file.text(), await p.weights.file.arrayBuffer());
    return;
  }
  const weights = await p.weights.file.arrayBuffer();
  const dataProcessor = p.dataProcessor ? await p.dataProcessor.file.arrayBuffer() : null;
  const info = await call<RunInfo>({ op: 'loadExport', name: p.name, config: await p.config.file.text(), weights, dataProcessor }, dataProcessor ? [weights, dataProcessor] : [weights]);
  showRun(info);
}

async function loadData(name: string, bytes: ArrayBuffer): Promise<void> {
  showData(await call<DataInfo>({ op: 'loadData', name, bytes }, [bytes]));
}

/** The grid the slider's factor gives on the data (the nearest stored grid for the built-in samples). */
function gridFor(d: DataInfo & { kind: 'grid' }, f: number): [number, number] {
  if (d.grids) {
    const want = d.xShape[2]! * f;
    const g = d.grids.reduce((a, b) => (Math.abs(Math.log(b / want)) < Math.abs(Math.log(a / want)) ? b : a));
    return [g, g];
  }
  return [Math.max(4, Math.round(d.xShape[2]! * f)), Math.max(4, Math.round(d.xShape[3]! * f))];
}

function showData(info: DataInfo): void {
  state.data = info;
  $<HTMLInputElement>('index').max = String(info.length - 1);
  $('data-info').textContent = info.kind === 'grid'
    ? `${info.name}: ${info.length} samples, x [${info.xShape.join(', ')}], y [${info.yShape.join(', ')}]${info.grids ? `; also at ${info.grids.filter((g) => g !== info.xShape[2]).join(' and ')} (the exact solutions: the resolution slider picks among them)` : ''}`
    : `${info.name}: ${info.length} point clouds of ${Math.min(...info.points)}–${Math.max(...info.points)} points, ${info.channels} target channel(s)`;
  $('scale-box').hidden = info.kind !== 'grid';
  $('scale').dispatchEvent(new Event('input')); // the slider's label for this data
}

// ---- drawing ----------------------------------------------------------------------------------

/** viridis, by a polynomial fit of its channels. */
function viridis(t: number): [number, number, number] {
  const c0 = [0.2777, 0.0054, 0.334], c1 = [0.105, 1.4046, 1.3846], c2 = [-0.3309, 0.2148, 0.095];
  const c3 = [-4.6342, -5.7991, -19.3324], c4 = [6.2283, 14.1799, 56.6906], c5 = [4.7764, -13.7451, -65.353], c6 = [-5.4355, 4.6459, 26.3124];
  const ch = (k: number) => c0[k]! + t * (c1[k]! + t * (c2[k]! + t * (c3[k]! + t * (c4[k]! + t * (c5[k]! + t * c6[k]!)))));
  return [ch(0), ch(1), ch(2)].map((v) => Math.round(255 * Math.min(1, Math.max(0, v)))) as [number, number, number];
}

/** Blue – white – red for signed values (t in [0, 1], 0.5 = zero). */
function diverging(t: number): [number, number, number] {
  const s = Math.min(1, Math.max(0, t)) * 2 - 1;
  const a = Math.abs(s);
  const base: [number, number, number] = s < 0 ? [33, 102, 172] : [178, 24, 43];
  return base.map((b) => Math.round(255 + (b - 255) * a)) as [number, number, number];
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toPrecision(3);
}

/** A canvas drawing a field [h, w] through a colour map. */
function fieldCanvas(values: Float32Array, h: number, w: number, range: [number, number], map: (t: number) => [number, number, number]): HTMLCanvasElement {
  const cv = document.createElement('canvas');
  cv.className = 'field';
  cv.width = w;
  cv.height = h;
  // the grid's own aspect (a latitude–longitude grid is twice as wide as high), 220 px on the long side
  cv.style.width = `${Math.round((220 * w) / Math.max(h, w))}px`;
  cv.style.height = `${Math.round((220 * h) / Math.max(h, w))}px`;
  const ctx = cv.getContext('2d')!;
  const img = ctx.createImageData(w, h);
  const [lo, hi] = range;
  const span = hi - lo || 1;
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = map((values[i]! - lo) / span);
    img.data.set([r, g, b, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  return cv;
}

/**
 * A canvas drawing values on 3-D points as two views of the cloud: from the side (x right, z up)
 * above, from the top (x right, y up) below; nearer points over farther ones, one scale for both.
 */
function cloudCanvas(values: Float32Array, points: Float32Array, range: [number, number], map: (t: number) => [number, number, number]): HTMLCanvasElement {
  const S = 220;
  const cv = document.createElement('canvas');
  cv.className = 'cloud';
  cv.width = S;
  cv.height = 2 * S;
  const ctx = cv.getContext('2d')!;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, S, 2 * S);
  const n = points.length / 3;
  const lo3 = [Infinity, Infinity, Infinity];
  const hi3 = [-Infinity, -Infinity, -Infinity];
  for (let k = 0; k < n; k++) for (let a = 0; a < 3; a++) {
    lo3[a] = Math.min(lo3[a]!, points[3 * k + a]!);
    hi3[a] = Math.max(hi3[a]!, points[3 * k + a]!);
  }
  const scale = (S - 12) / Math.max(1e-12, ...hi3.map((h, a) => h - lo3[a]!));
  const [lo, hi] = range;
  const span = hi - lo || 1;
  const view = (h: number, v: number, d: number, top: number, sign: number) => {
    const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => sign * (points[3 * a + d]! - points[3 * b + d]!));
    for (const k of order) {
      const [r, g, b] = map((values[k]! - lo) / span);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      const px = 6 + (points[3 * k + h]! - lo3[h]!) * scale;
      const py = top + S - 6 - (points[3 * k + v]! - lo3[v]!) * scale;
      ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
    }
  };
  view(0, 2, 1, 0, -1); // side: the viewer at −y, nearer = smaller y, drawn last
  view(0, 1, 2, S, 1); // top: the viewer above, nearer = larger z, drawn last
  ctx.strokeStyle = '#ccd3da';
  ctx.beginPath();
  ctx.moveTo(0, S);
  ctx.lineTo(S, S);
  ctx.stroke();
  return cv;
}

function panel(title: string, cv: HTMLCanvasElement, range: [number, number], map: (t: number) => [number, number, number]): HTMLElement {
  const el = document.createElement('div');
  el.className = 'panel';
  const head = document.createElement('h3');
  head.textContent = title;
  const body = document.createElement('div');
  body.className = 'body';
  const [lo, hi] = range;
  const bar = document.createElement('canvas');
  bar.className = 'bar';
  bar.width = 1;
  bar.height = 128;
  bar.style.height = cv.style.height || (cv.className === 'cloud' ? '440px' : '220px');
  const bctx = bar.getContext('2d')!;
  const bimg = bctx.createImageData(1, 128);
  for (let i = 0; i < 128; i++) bimg.data.set([...map(1 - i / 127), 255], 4 * i);
  bctx.putImageData(bimg, 0, 0);
  const ticks = document.createElement('div');
  ticks.className = 'ticks';
  for (const v of [hi, (hi + lo) / 2, lo]) {
    const s = document.createElement('span');
    s.textContent = fmt(v);
    ticks.append(s);
  }
  body.append(cv, bar, ticks);
  el.append(head, body);
  return el;
}

function extent(...arrays: Float32Array[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function symmetric(a: Float32Array): [number, number] {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return [-m || -1, m || 1];
}

/** The half-precision prediction minus the full one, from the shown prediction and the other. */
function halfMinusFull(shown: string, pred: Float32Array, other: Float32Array): Float32Array {
  return shown === 'full' ? other.map((v, i) => v - pred[i]!) : pred.map((v, i) => v - other[i]!);
}

function drawPoints(p: PointPrediction): HTMLElement[] {
  const n = p.points.length / 3;
  const out: HTMLElement[] = [];
  for (let c = 0; c < p.cout; c++) {
    const pick = (a: Float32Array) => Float32Array.from({ length: n }, (_, k) => a[k * p.cout + c]!);
    const [yc, pc] = [pick(p.y), pick(p.pred)];
    const err = pc.map((v, i) => v - yc[i]!);
    const shared = extent(yc, pc);
    const suffix = p.cout > 1 ? ` (channel ${c})` : '';
    out.push(
      panel(`prediction${suffix}`, cloudCanvas(pc, p.points, shared, viridis), shared, viridis),
      panel(`truth${suffix}`, cloudCanvas(yc, p.points, shared, viridis), shared, viridis),
      panel(`error = prediction − truth${suffix}`, cloudCanvas(err, p.points, symmetric(err), diverging), symmetric(err), diverging),
    );
    if (p.other) {
      const diff = halfMinusFull(p.precision, pc, pick(p.other.pred));
      out.push(panel(`half − full precision${suffix}`, cloudCanvas(diff, p.points, symmetric(diff), diverging), symmetric(diff), diverging));
    }
  }
  return out;
}

function drawGrid(p: GridPrediction): HTMLElement[] {
  const [h, w] = p.grid;
  const S = h * w;
  const out: HTMLElement[] = [];
  for (let c = 0; c < p.cout; c++) {
    const xc = p.x.subarray(Math.min(c, p.cin - 1) * S, (Math.min(c, p.cin - 1) + 1) * S);
    const yc = p.y.subarray(c * S, (c + 1) * S);
    const pc = p.pred.subarray(c * S, (c + 1) * S);
    const err = pc.map((v, i) => v - yc[i]!);
    const shared = extent(yc, pc);
    const suffix = p.cout > 1 ? ` (channel ${c})` : '';
    const field = (title: string, v: Float32Array, range: [number, number], map: (t: number) => [number, number, number]) => panel(title, fieldCanvas(v, h, w, range, map), range, map);
    out.push(
      field(`input${suffix}`, xc, extent(xc), viridis),
      field(`prediction${suffix}`, pc, shared, viridis),
      field(`${p.truthResampled ? 'truth, resampled' : 'truth'}${suffix}`, yc, shared, viridis),
      field(`error = prediction − truth${suffix}`, err, symmetric(err), diverging),
    );
    if (p.other) {
      const diff = halfMinusFull(p.precision, pc, p.other.pred.subarray(c * S, (c + 1) * S));
      out.push(field(`half − full precision${suffix}`, diff, symmetric(diff), diverging));
    }
  }
  return out;
}

function draw(p: Prediction): void {
  const all = p.kind === 'grid' ? drawGrid(p) : drawPoints(p);
  // one row per output channel
  const per = all.length / p.cout;
  const rows = Array.from({ length: p.cout }, (_, c) => {
    const row = document.createElement('div');
    row.className = 'row';
    row.append(...all.slice(c * per, (c + 1) * per));
    return row;
  });
  $('panels').replaceChildren(...rows);
  const other = p.other ? `; in ${p.other.precision}: relative L2 ${p.other.relL2.toFixed(5)}, difference between the two ${p.other.relDiff.toExponential(2)}` : '';
  const sphere = state.run?.family === 'SFNO' ? ' on the sphere (equirectangular: latitude down the rows, longitude across)' : '';
  const where = p.kind === 'grid' ? `${p.grid[0]} × ${p.grid[1]} grid${sphere}` : `${p.points.length / 3} points (side view above, top view below)`;
  const resampled = p.kind === 'grid' && p.truthResampled ? ' (against the truth resampled from the data\'s grid)' : '';
  $('summary').textContent = `${where}, ${p.precision}: relative L2 error ${p.relL2.toFixed(5)}${resampled}${other}; inference ${p.ms.toFixed(1)} ms on ${state.engine?.threads ?? 1} thread(s)`;
  $('result').hidden = false;
}

// ---- controls ---------------------------------------------------------------------------------

function updateButtons(): void {
  const ok = state.run !== undefined && state.data !== undefined && !state.busy;
  $<HTMLButtonElement>('run').disabled = !ok;
  $<HTMLButtonElement>('bench').disabled = !ok;
}

function request(repeats: number): Req {
  const precision = (document.querySelector('input[name=precision]:checked') as HTMLInputElement | null)?.value === 'full' ? 'full' : 'saved';
  return { op: 'predict', index: Number($<HTMLInputElement>('index').value), scale: SCALES[Number($<HTMLInputElement>('scale').value)] ?? 1, precision, repeats };
}

async function predict(repeats = 1): Promise<void> {
  if (!state.run || !state.data) return;
  await guarded('inference', async () => {
    const p = await call<Prediction>(request(repeats));
    state.last = p;
    if (repeats > 1) state.bench = { ms: p.ms, threads: state.engine?.threads ?? 1, size: p.kind === 'grid' ? p.grid : [p.points.length / 3] };
    draw(p);
  });
}

async function fromServer(): Promise<void> {
  const res = await fetch('run/manifest.json');
  if (!res.ok) return; // the page was not served with a run
  const m = (await res.json()) as { name: string; checkpoint: { state: string; weights: string }; data: { name: string; url: string }[] };
  const ok = await guarded('the served run', async () => {
    const [s, w] = await Promise.all([fetch(m.checkpoint.state), fetch(m.checkpoint.weights)]);
    if (!s.ok || !w.ok) throw new Error(`the server did not give the run's checkpoint (${s.status}, ${w.status})`);
    await loadRun(m.name, await s.text(), await w.arrayBuffer());
    const sel = $<HTMLSelectElement>('served-data');
    sel.replaceChildren(...m.data.map((d) => Object.assign(document.createElement('option'), { value: d.url, textContent: d.name })));
    $('served-label').hidden = m.data.length === 0;
    if (m.data[0]) {
      const d = await fetch(m.data[0].url);
      if (!d.ok) throw new Error(`the server did not give ${m.data[0].name} (${d.status})`);
      await loadData(m.data[0].name, await d.arrayBuffer());
    }
  });
  if (ok && state.run && state.data) await predict();
}

async function main(): Promise<void> {
  const problem = browserProblem();
  if (problem) {
    showMessage(problem);
    $('status').textContent = 'cannot run here';
    state.done++;
    return;
  }
  const params = new URLSearchParams(location.search);
  const cores = navigator.hardwareConcurrency || 1;
  const isolated = globalThis.crossOriginIsolated === true;
  const threadSel = $<HTMLSelectElement>('threads');
  const choices = isolated ? [...new Set([1, Math.min(2, cores), cores])] : [1];
  threadSel.replaceChildren(...choices.map((n) => Object.assign(document.createElement('option'), { value: String(n), textContent: String(n) })));
  const asked = Number(params.get('threads') ?? (isolated ? cores : 1));
  threadSel.value = String(choices.includes(asked) ? asked : choices.at(-1));
  engineReady = startEngine();
  try {
    await engineReady;
    state.engine = await call<EngineInfo>({ op: 'init', threads: Number(threadSel.value) });
  } catch (e) {
    showMessage(`mpno could not start: ${e instanceof Error ? e.message : String(e)}`);
    state.done++;
    return;
  }
  const status = () => {
    const e = state.engine!;
    $('status').textContent = `kernels: ${e.kernels}; ${e.threads} thread(s)${isolated ? '' : ' (the page is not cross-origin isolated: one thread)'}`;
  };
  status();
  threadSel.onchange = () => void guarded('threads', async () => {
    state.engine = await call<EngineInfo>({ op: 'init', threads: Number(threadSel.value) });
    status();
  });
  const onCheckpoint = (input: HTMLInputElement) => void guarded('checkpoint', async () => {
    await loadPicked(await pickCheckpoint(filesOf(input)));
  }).then((ok) => (ok ? predict() : undefined));
  $<HTMLInputElement>('ckpt-dir').onchange = (e) => onCheckpoint(e.target as HTMLInputElement);
  $<HTMLInputElement>('ckpt-files').onchange = (e) => onCheckpoint(e.target as HTMLInputElement);
  $<HTMLInputElement>('data-file').onchange = (e) => void guarded('dataset', async () => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (!f) return;
    await loadData(f.name, await f.arrayBuffer());
  }).then((ok) => (ok ? predict() : undefined));
  $<HTMLSelectElement>('served-data').onchange = (e) => void guarded('dataset', async () => {
    const sel = e.target as HTMLSelectElement;
    const d = await fetch(sel.value);
    if (!d.ok) throw new Error(`the server did not give ${sel.value} (${d.status})`);
    await loadData(sel.selectedOptions[0]?.textContent ?? sel.value, await d.arrayBuffer());
  }).then((ok) => (ok ? predict() : undefined));
  $('builtin').onclick = () => void guarded('built-in samples', async () => {
    showData(await call<DataInfo>({ op: 'builtin', n: 4 }));
  }).then((ok) => (ok ? predict() : undefined));
  const scale = $<HTMLInputElement>('scale');
  const showScale = () => {
    const f = SCALES[Number(scale.value)] ?? 1;
    const d = state.data;
    $('scale-out').textContent = d?.kind === 'grid' ? `${gridFor(d, f).join(' × ')} (×${f})` : `×${f}`;
  };
  scale.oninput = showScale;
  scale.onchange = () => void predict();
  $<HTMLInputElement>('index').onchange = () => void predict();
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name=precision]')) r.onchange = () => void predict();
  $('run').onclick = () => void predict();
  $('bench').onclick = () => void predict(10);
  await fromServer();
  showScale();
  updateButtons();
  state.done++;
}

void main();
