/**
 * Data sources of a run config: `data.train` and each `data.test` entry is a path (a .pt file, an
 * mpno .safetensors file, a shard set `name-*-of-N.safetensors`, or an HDF5/.mat file with datasets
 * 'x' and 'y') or an object that says how to read an HDF5 or MATLAB v7.3 file:
 *
 *   { "file": "NavierStokes_V1e-5_N1200_T20.mat", "x": "u", "y": "u",
 *     "time": { "x": "0:10", "y": 10 }, "index": "0:1000", "subsample": 2 }
 *
 * Fields (see docs/data.md for the layouts and examples):
 * - file: the path (relative to the config file).
 * - x, y: a dataset key or a list of keys, stacked as channels in the order given (default 'x', 'y').
 * - layout: 'matlab' (axes reversed: MATLAB writes column-major, so a MATLAB [N, 64, 64, T] array is
 *   stored as [T, 64, 64, N]) or 'hdf5' (as stored); default 'matlab' for MATLAB v7.3 files.
 * - axes: the letters of each key's axes after the layout: n samples, t time, c channels, s space;
 *   one string for every key or { key: string }; inferred when absent (docs/data.md).
 * - index: the samples, a Python slice "start:end[:step]" or a list of indices (negative = from the end).
 * - subsample: a stride per spatial axis (one number for all axes, or a list).
 * - time: { x, y }: the steps of the time axis of the x and y keys, an integer or a slice "a:b[:s]";
 *   each step is a channel.
 * - samples: 'groups' when every sample is a group of the file (PDEBench's `0000/data` files);
 *   detected when the keys are not at the root but in its groups.
 */

/** How to read an HDF5 or .mat file (validated; `file` absolute). */
export interface DataSourceSpec {
  file: string;
  x?: string | string[];
  y?: string | string[];
  layout?: 'hdf5' | 'matlab';
  axes?: string | Record<string, string>;
  index?: string | number | number[];
  subsample?: number | number[];
  time?: { x?: string | number; y?: string | number };
  samples?: 'root' | 'groups';
}

export type DataSource = string | DataSourceSpec;

const SPEC_KEYS = ['file', 'x', 'y', 'layout', 'axes', 'index', 'subsample', 'time', 'samples'];

/** The file of a source (a path, or the spec's file). */
export function sourceFile(s: DataSource): string {
  return typeof s === 'string' ? s : s.file;
}

/** Whether a source is read through the HDF5 library (HDF5 and .mat files, and every object source). */
export function needsHdf5(s: DataSource): boolean {
  return typeof s !== 'string' || /\.(h5|hdf5|he5|hdf|mat)$/i.test(s);
}

const SLICE = /^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(\d+)\s*)?$/;

/** A parsed selection: one position, a slice (Python's, unclamped) or a list. */
export type Selection = { one: number } | { start?: number; end?: number; step: number } | { list: number[] };

/** Parses an index/time selection; `at` names the config field in errors. */
export function parseSelection(v: unknown, at: string): Selection {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new RangeError(`'${at}' must be an integer, a slice "start:end[:step]" or a list of integers, got ${v}`);
    return { one: v };
  }
  if (Array.isArray(v)) {
    if (v.length === 0 || !v.every((i) => Number.isInteger(i))) throw new RangeError(`'${at}' must be a non-empty list of integers, got ${JSON.stringify(v)}`);
    return { list: v as number[] };
  }
  if (typeof v === 'string') {
    const m = SLICE.exec(v);
    if (!m) throw new RangeError(`'${at}' must be a slice "start:end[:step]" (e.g. "0:1000", ":10", "10:"), got ${JSON.stringify(v)}`);
    const step = m[3] !== undefined ? Number(m[3]) : 1;
    if (step < 1) throw new RangeError(`'${at}': the step of ${JSON.stringify(v)} must be at least 1`);
    return { ...(m[1] !== undefined ? { start: Number(m[1]) } : {}), ...(m[2] !== undefined ? { end: Number(m[2]) } : {}), step };
  }
  throw new RangeError(`'${at}' must be an integer, a slice "start:end[:step]" or a list of integers, got ${JSON.stringify(v)}`);
}

/**
 * The positions a selection takes of an axis of `len` entries (negative positions count from the
 * end). Anything outside the axis, or an empty selection, is an error naming `what`.
 */
export function resolveSelection(s: Selection, len: number, what: string): number[] {
  const pos = (i: number, edge: boolean): number => {
    const p = i < 0 ? len + i : i;
    if (p < 0 || p > (edge ? len : len - 1)) throw new RangeError(`${what}: ${i} is out of range (${len} entries: ${edge ? `0…${len}` : `0…${len - 1}`}, or −${len}…−1 from the end)`);
    return p;
  };
  if ('one' in s) return [pos(s.one, false)];
  if ('list' in s) return s.list.map((i) => pos(i, false));
  const a = s.start === undefined ? 0 : pos(s.start, true);
  const b = s.end === undefined ? len : pos(s.end, true);
  const out: number[] = [];
  for (let i = a; i < b; i += s.step) out.push(i);
  if (out.length === 0) throw new RangeError(`${what}: the slice ${s.start ?? ''}:${s.end ?? ''}${s.step !== 1 ? `:${s.step}` : ''} of ${len} entries is empty`);
  return out;
}

function keyList(v: unknown, at: string): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((k) => typeof k === 'string' && k !== '')) {
    throw new TypeError(`'${at}' must be a dataset key or a non-empty list of keys, got ${JSON.stringify(v)}`);
  }
  return list as string[];
}

/** Validates an axes string: letters n, t, c, s, at most one n (first), one t and one c, some s. */
export function checkAxes(a: unknown, at: string): string {
  if (typeof a !== 'string' || !/^[ntcs]+$/.test(a)) throw new RangeError(`'${at}' must be a string of axis letters n (samples), t (time), c (channels), s (space), e.g. "nsst", got ${JSON.stringify(a)}`);
  for (const l of 'ntc') if (a.split(l).length > 2) throw new RangeError(`'${at}' = "${a}" has more than one '${l}' axis`);
  if (a.includes('n') && a[0] !== 'n') throw new RangeError(`'${at}' = "${a}": the sample axis n must come first`);
  if (!a.includes('s')) throw new RangeError(`'${at}' = "${a}" has no spatial axis s`);
  return a;
}

/**
 * Checks a config's source (a path or an object) and makes its path absolute with `abs`. Errors
 * name the config field; the file itself is read later.
 */
export function validateSource(v: unknown, at: string, abs: (p: unknown, at: string) => string): DataSource {
  if (typeof v === 'string') return abs(v, at);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`'${at}' must be a file path or an object {file, x, y, …}, got ${JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!SPEC_KEYS.includes(k)) throw new RangeError(`unknown config key '${at}.${k}' (a data source takes ${SPEC_KEYS.join(', ')})`);
  const spec: DataSourceSpec = { file: abs(o['file'], `${at}.file`) };
  if (o['x'] !== undefined) spec.x = keyList(o['x'], `${at}.x`);
  if (o['y'] !== undefined) spec.y = keyList(o['y'], `${at}.y`);
  if (o['layout'] !== undefined) {
    if (o['layout'] !== 'hdf5' && o['layout'] !== 'matlab') throw new RangeError(`'${at}.layout' must be 'matlab' (MATLAB's column-major arrays: axes reversed) or 'hdf5' (as stored), got ${JSON.stringify(o['layout'])}`);
    spec.layout = o['layout'];
  }
  if (o['axes'] !== undefined) {
    const a = o['axes'];
    if (typeof a === 'string') spec.axes = checkAxes(a, `${at}.axes`);
    else if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
      spec.axes = Object.fromEntries(Object.entries(a).map(([k, s]) => [k, checkAxes(s, `${at}.axes.${k}`)]));
      const keys = [...(spec.x ?? ['x']), ...(spec.y ?? ['y'])];
      for (const k of Object.keys(spec.axes)) if (!keys.includes(k)) throw new RangeError(`'${at}.axes.${k}': '${k}' is not one of the source's keys (${keys.join(', ')})`);
    } else throw new TypeError(`'${at}.axes' must be an axes string or an object {key: axes}, got ${JSON.stringify(a)}`);
  }
  if (o['index'] !== undefined) {
    parseSelection(o['index'], `${at}.index`);
    spec.index = o['index'] as string | number | number[];
  }
  if (o['subsample'] !== undefined) {
    const s = o['subsample'];
    const list = typeof s === 'number' ? [s] : s;
    if (!Array.isArray(list) || list.length === 0 || !list.every((r) => Number.isInteger(r) && r >= 1)) throw new RangeError(`'${at}.subsample' must be a positive integer or a list of them (a stride per spatial axis), got ${JSON.stringify(s)}`);
    spec.subsample = s as number | number[];
  }
  if (o['time'] !== undefined) {
    const t = o['time'];
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new TypeError(`'${at}.time' must be an object {x, y} of time steps, got ${JSON.stringify(t)}`);
    for (const k of Object.keys(t)) if (k !== 'x' && k !== 'y') throw new RangeError(`unknown config key '${at}.time.${k}' (time takes x and y)`);
    const tt = t as Record<string, unknown>;
    for (const k of ['x', 'y'] as const) {
      if (tt[k] === undefined) continue;
      const sel = parseSelection(tt[k], `${at}.time.${k}`);
      if ('list' in sel) throw new RangeError(`'${at}.time.${k}' must be one step or a slice "a:b[:s]", got a list`);
    }
    spec.time = t as DataSourceSpec['time'] & object;
  }
  if (o['samples'] !== undefined) {
    if (o['samples'] !== 'root' && o['samples'] !== 'groups') throw new RangeError(`'${at}.samples' must be 'groups' (one group per sample) or 'root' (a sample axis in each dataset), got ${JSON.stringify(o['samples'])}`);
    spec.samples = o['samples'];
  }
  return spec;
}
