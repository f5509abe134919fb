/**
 * Grid datasets in HDF5 and MATLAB v7.3 files (the FNO paper's .mat files, PDEBench's .hdf5 files),
 * read lazily through hyperslabs: a batch reads only its samples, at the subsampled points and the
 * chosen time steps. See src/data/sources.ts for the source fields and docs/data.md for the layouts.
 *
 * Axes: each key's stored shape is turned into its logical shape by the layout ('matlab' reverses
 * the axes: MATLAB is column-major, so its [N, 64, 64, T] array is stored as [T, 64, 64, N];
 * 'hdf5' keeps them), and the logical axes are named by letters: n samples, t time, c channels,
 * s space. A sample of x (or y) is [channels, …space]: the keys in the order given, within a key
 * the chosen time steps, within a step the key's channel axis (time-major).
 */
import { Hdf5Error, Hdf5File, fileKind, type AxisRange } from './formats/hdf5.js';
import { type GridSampleReader, checkSampleShapes } from './lazy.js';
import { type DataSourceSpec, parseSelection, resolveSelection } from './sources.js';

/** How one key is read: its stored shape, logical axes and the selection on each. */
interface KeyPlan {
  key: string;
  /** Logical axis letters (after the layout). */
  axes: string;
  /** Logical shape. */
  shape: number[];
  /** Stored axis j holds logical axis perm[j]. */
  perm: number[];
  /** Selected time steps (a range: start, count, stride), when the key has a t axis. */
  time?: AxisRange;
  /** Spatial strides, one per s axis. */
  strides: number[];
  /** Spatial shape after subsampling. */
  spatial: number[];
  /** Channels the key gives a sample: time steps × its c axis. */
  channels: number;
}

const V5_ADVICE = 'mpno reads MATLAB v7.3 files (HDF5). Convert it: in MATLAB, load the file and save(\'file.mat\', \'-v7.3\'); ' +
  "or in Python, scipy.io.loadmat('file.mat') and write the arrays with h5py (or hdf5storage.savemat(..., format='7.3'))";

/** The default axes of a key of logical rank r: see docs/data.md. */
function inferAxes(rank: number, layout: 'hdf5' | 'matlab', groups: boolean, timed: boolean, shape: number[]): string {
  const s = (k: number) => 's'.repeat(Math.max(0, k));
  if (groups) return timed && rank >= 2 ? `t${s(rank - 2)}c` : `${s(rank - 1)}c`;
  if (timed && rank >= 3) return layout === 'matlab' ? `n${s(rank - 2)}t` : `nt${s(rank - 2)}`;
  if (rank >= 3 && shape[1] === 1) return `nc${s(rank - 2)}`;
  return `n${s(rank - 1)}`;
}

/** A slice selection of the time axis as a strided range (time selections are one step or a slice). */
function timeRange(v: string | number, len: number, what: string): AxisRange {
  const steps = resolveSelection(parseSelection(v, what), len, what);
  return { start: steps[0]!, count: steps.length, stride: steps.length > 1 ? steps[1]! - steps[0]! : 1 };
}

export class Hdf5GridReader implements GridSampleReader {
  readonly name: string;
  readonly length: number;
  readonly xSample: number[];
  readonly ySample: number[];
  readonly blockSamples: number;
  private readonly file: Hdf5File;
  private readonly plans: { x: KeyPlan[]; y: KeyPlan[] };
  /** File sample of each selected sample. */
  private readonly fileIndex: number[];
  /** Groups mode: the sample groups' names. */
  private readonly groups: string[] | undefined;
  private readonly layout: 'hdf5' | 'matlab';

  /** `at`: the config field of the source, for errors. */
  constructor(readonly spec: DataSourceSpec, at = 'data source') {
    const path = spec.file;
    this.name = path;
    const kind = fileKind(path);
    if (kind === 'matlab-v5') throw new Hdf5Error(`${path}: a MATLAB v5/v7 MAT-file (not HDF5). ${V5_ADVICE}`);
    if (kind === 'other') throw new Hdf5Error(`${path}: not an HDF5 file (no HDF5 signature at byte 0 or after a user block) nor a MATLAB v7.3 .mat file`);
    this.layout = spec.layout ?? (kind === 'matlab-v73' ? 'matlab' : 'hdf5');
    this.file = new Hdf5File(path);
    try {
      const xKeys = typeof spec.x === 'string' ? [spec.x] : spec.x ?? ['x'];
      const yKeys = typeof spec.y === 'string' ? [spec.y] : spec.y ?? ['y'];
      const root = this.file.keys();
      const all = [...xKeys, ...yKeys];
      let groups = spec.samples === 'groups';
      if (spec.samples === undefined && all.some((k) => this.file.typeOf(k) === 'none')) {
        // PDEBench's per-sample files: every root member a group holding the keys
        const first = root[0];
        groups = first !== undefined && root.every((g) => this.file.typeOf(g) === 'group') && all.every((k) => this.file.typeOf(`${first}/${k}`) === 'dataset');
      }
      this.groups = groups ? root.filter((g) => this.file.typeOf(g) === 'group') : undefined;
      const where = (k: string) => (groups ? `${this.groups![0]}/${k}` : k);
      for (const k of all) {
        if (this.file.typeOf(where(k)) !== 'dataset') {
          const listing = groups ? `group '${this.groups![0]}' has ${this.file.keys(this.groups![0]).join(', ')}` : `the file has ${root.map((r) => `${r}${this.file.typeOf(r) === 'group' ? '/' : ''}`).join(', ') || 'no keys'}`;
          throw new Hdf5Error(`${path}: no dataset '${k}' (${at}: ${listing})`);
        }
      }
      const plan = (k: string, side: 'x' | 'y'): KeyPlan => {
        const info = this.file.info(where(k));
        const r = info.shape.length;
        const perm = info.shape.map((_, j) => (this.layout === 'matlab' ? r - 1 - j : j));
        const shape = this.layout === 'matlab' ? [...info.shape].reverse() : [...info.shape];
        const timed = spec.time?.[side] !== undefined;
        const given = typeof spec.axes === 'string' ? spec.axes : spec.axes?.[k];
        const axes = given ?? inferAxes(r, this.layout, groups, timed, shape);
        const desc = `${path}: dataset '${k}' (${this.layout === 'matlab' ? `stored [${info.shape.join(', ')}], as MATLAB's ` : ''}[${shape.join(', ')}], axes "${axes}")`;
        if (axes.length !== r) throw new Hdf5Error(`${desc}: the axes name ${axes.length} axes but the dataset has ${r}${given ? '' : `; give ${at}.axes`}`);
        if (groups && axes.includes('n')) throw new Hdf5Error(`${desc}: in a file of one group per sample the datasets have no sample axis n`);
        if (!groups && axes[0] !== 'n') throw new Hdf5Error(`${desc}: the first axis must be the samples (n)`);
        if (!axes.includes('s')) throw new Hdf5Error(`${desc}: no spatial axis (rank ${r}); a grid dataset is [N, …space] (with t and c axes where it has them)`);
        if (info.kind === 'other') throw new Hdf5Error(`${desc}: holds neither integers nor floating-point numbers`);
        const sAxes = [...axes].flatMap((l, i) => (l === 's' ? [i] : []));
        const sub = spec.subsample === undefined ? sAxes.map(() => 1) : typeof spec.subsample === 'number' ? sAxes.map(() => spec.subsample as number) : spec.subsample;
        if (sub.length !== sAxes.length) throw new Hdf5Error(`${desc}: ${at}.subsample lists ${sub.length} strides for ${sAxes.length} spatial axes`);
        const spatial = sAxes.map((a, i) => {
          const n = shape[a]!;
          const s = sub[i]!;
          if (s > 1 && n % s !== 0 && (n - 1) % s !== 0) {
            throw new Hdf5Error(`${desc}: ${at}.subsample ${s} does not fit spatial axis ${i} of ${n} points (the stride must divide ${n} (periodic grids) or ${n - 1} (grids with both end points))`);
          }
          if (s >= n) throw new Hdf5Error(`${desc}: ${at}.subsample ${s} leaves one point of spatial axis ${i} (${n} points)`);
          return Math.ceil(n / s);
        });
        const tAxis = axes.indexOf('t');
        const tv = spec.time?.[side];
        let time: AxisRange | undefined;
        if (tAxis >= 0) {
          if (tv === undefined) throw new Hdf5Error(`${desc}: the key has a time axis t of ${shape[tAxis]} steps; give ${at}.time.${side} (a step, or a slice "a:b")`);
          time = timeRange(tv, shape[tAxis]!, `${desc}: ${at}.time.${side}`);
        }
        const cAxis = axes.indexOf('c');
        const channels = (time?.count ?? 1) * (cAxis >= 0 ? shape[cAxis]! : 1);
        return { key: k, axes, shape, perm, ...(time ? { time } : {}), strides: sub, spatial, channels };
      };
      this.plans = { x: xKeys.map((k) => plan(k, 'x')), y: yKeys.map((k) => plan(k, 'y')) };
      for (const side of ['x', 'y'] as const) {
        if (spec.time?.[side] !== undefined && !this.plans[side].some((p) => p.time)) {
          throw new Hdf5Error(`${path}: ${at}.time.${side} is given but no ${side} key (${this.plans[side].map((p) => `'${p.key}' axes "${p.axes}"`).join(', ')}) has a time axis t`);
        }
      }
      const plans = [...this.plans.x, ...this.plans.y];
      const counts = plans.map((p) => (groups ? this.groups!.length : p.shape[0]!));
      const N = counts[0]!;
      plans.forEach((p, i) => {
        if (counts[i] !== N) throw new Hdf5Error(`${path}: ${i < this.plans.x.length ? 'x' : 'y'} key '${p.key}' has ${counts[i]} samples but '${plans[0]!.key}' has ${N}`);
        if (p.spatial.join() !== plans[0]!.spatial.join()) {
          throw new Hdf5Error(`${path}: key '${p.key}' has spatial shape [${p.spatial.join(', ')}] (axes "${p.axes}") but '${plans[0]!.key}' has [${plans[0]!.spatial.join(', ')}]; every key must be on one grid (check ${at}.axes)`);
        }
      });
      this.fileIndex = spec.index === undefined ? Array.from({ length: N }, (_, i) => i) : resolveSelection(parseSelection(spec.index, `${at}.index`), N, `${path}: ${at}.index`);
      this.length = this.fileIndex.length;
      const sp = plans[0]!.spatial;
      this.xSample = [this.plans.x.reduce((a, p) => a + p.channels, 0), ...sp];
      this.ySample = [this.plans.y.reduce((a, p) => a + p.channels, 0), ...sp];
      checkSampleShapes(path, this.xSample, this.ySample);
      // column-major storage: a sample is strided over the whole dataset; read blocks of samples
      const per = 4 * (this.xSample.reduce((a, b) => a * b, 1) + this.ySample.reduce((a, b) => a * b, 1));
      this.blockSamples = this.layout === 'matlab' && !groups ? Math.max(1, Math.min(64, Math.floor((4 << 20) / per))) : 1;
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  read(start: number, count: number): { x: Float32Array; y: Float32Array } {
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > this.length) {
      throw new RangeError(`${this.name}: read of samples ${start}…${start + count - 1} outside 0…${this.length - 1}`);
    }
    const xPer = this.xSample.reduce((a, b) => a * b, 1);
    const yPer = this.ySample.reduce((a, b) => a * b, 1);
    const x = new Float32Array(count * xPer);
    const y = new Float32Array(count * yPer);
    // runs of consecutive file samples (an index list may jump)
    let b = 0;
    while (b < count) {
      let e = b + 1;
      while (e < count && this.fileIndex[start + e] === this.fileIndex[start + e - 1]! + 1) e++;
      for (const [side, out, per] of [['x', x, xPer], ['y', y, yPer]] as const) {
        let chan = 0;
        for (const p of this.plans[side]) {
          if (this.groups) {
            for (let k = b; k < e; k++) this.readKey(p, this.fileIndex[start + k]!, 1, out, k, per, chan);
          } else this.readKey(p, this.fileIndex[start + b]!, e - b, out, b, per, chan);
          chan += p.channels;
        }
      }
      b = e;
    }
    return { x, y };
  }

  /**
   * Reads `count` file samples from `first` of one key and scatters them into `out` (samples from
   * `at`, `per` values each) at channel offset `chan`: [sample][chan + t·C + c][…space].
   */
  private readKey(p: KeyPlan, first: number, count: number, out: Float32Array, at: number, per: number, chan: number): void {
    const S = p.spatial.reduce((a, v) => a * v, 1);
    const cAxis = p.axes.indexOf('c');
    const C = cAxis >= 0 ? p.shape[cAxis]! : 1;
    // the range of each logical axis, and where each lands in the output
    const ranges: AxisRange[] = [];
    const outStride: number[] = [];
    let s = 0;
    const sStride = p.spatial.map((_, i) => p.spatial.slice(i + 1).reduce((a, v) => a * v, 1));
    [...p.axes].forEach((l, a) => {
      if (l === 'n') {
        ranges.push({ start: first, count, stride: 1 });
        outStride.push(per);
      } else if (l === 't') {
        ranges.push(p.time!);
        outStride.push(C * S);
      } else if (l === 'c') {
        ranges.push({ start: 0, count: p.shape[a]!, stride: 1 });
        outStride.push(S);
      } else {
        ranges.push({ start: 0, count: p.spatial[s]!, stride: p.strides[s]! });
        outStride.push(sStride[s]!);
        s++;
      }
    });
    const key = this.groups ? `${this.groups[first]}/${p.key}` : p.key;
    // stored axis j is logical axis perm[j]
    const stored = p.perm.map((l) => ranges[l]!);
    const buf = this.file.read(key, stored);
    const r = stored.length;
    const cnt = stored.map((q) => q.count);
    const ostr = p.perm.map((l) => outStride[l]!);
    const base = at * per + chan * S;
    // walk the buffer in its (stored, C) order with an odometer over the output offsets
    const idx = new Array<number>(r).fill(0);
    let o = base;
    const last = r - 1;
    const lastStride = ostr[last]!;
    const lastCount = cnt[last]!;
    for (let i = 0; i < buf.length; i += lastCount) {
      for (let k = 0; k < lastCount; k++) {
        const v = buf[i + k]!;
        if (!Number.isFinite(v)) throw new Hdf5Error(`${this.name}: dataset '${key}' has a non-finite value (${v}) in file sample${count > 1 ? `s ${first}…${first + count - 1}` : ` ${first}`}`);
        out[o + k * lastStride] = v;
      }
      // advance the axes above the last
      let j = last - 1;
      while (j >= 0) {
        idx[j]!++;
        o += ostr[j]!;
        if (idx[j]! < cnt[j]!) break;
        o -= ostr[j]! * cnt[j]!;
        idx[j] = 0;
        j--;
      }
    }
  }

  close(): void {
    this.file.close();
  }
}
