import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FNOOptions } from '../models/fno.js';
import { modelFamily, validateModel } from '../models/registry.js';
import { isAutoSchedule, parsePrecisionSchedule } from '../precision/schedule.js';
import { AUTO_SWITCH_BY, type AutoSwitchBy } from '../precision/auto.js';
import { type DataSource, sourceFile, validateSource } from '../data/sources.js';

/** A training run's configuration (JSON file; paths relative to the file). */
export interface RunConfig {
  data: {
    /**
     * A data file (.pt, mpno .safetensors, a shard set `name-*-of-N.safetensors`, an HDF5/.mat file
     * with datasets x and y) or a source object {file, x, y, layout, axes, index, subsample, time,
     * samples} for HDF5 and MATLAB v7.3 files (src/data/sources.ts, docs/data.md).
     */
    train: DataSource;
    n_train?: number | null;
    /** Named test sets: name → a data file or source object, as data.train. */
    test: Record<string, DataSource>;
    n_test?: Record<string, number> | null;
    /**
     * Read the data lazily through an LRU cache of at most this many MiB (shared by the training and
     * test sets). Without it, HDF5/.mat sources and shard sets are still read lazily but every sample
     * read stays cached, and other files are read into memory.
     */
    cache_mb?: number | null;
    batch_size: number;
    test_batch_size: number;
    shuffle: boolean;
    encode_output: boolean;
    /**
     * How to produce the data files when they are missing: training samples (seed `train.seed`) at the
     * training file's resolution, test samples (another seed) at each test set's resolution (the test
     * sets' names are their resolutions).
     */
    generate?: {
      /** bodies: resolution is the latent grid G, params.points the most vertices of a body. */
      pde: 'darcy' | 'navier-stokes' | 'swe' | 'bodies';
      /** The generation grid (swe: the latitudes nlat; params.nlon the longitudes, default 2·nlat). */
      resolution: number;
      train: { n: number; seed: number; subsample: number };
      /**
       * `resolutions` (swe only): the latitudes of each test set, each simulated on its own grid with
       * the training grid's nlon/nlat ratio (default: the training grid for all).
       */
      test: { n: number; seed: number; subsample: number[]; resolutions?: number[] };
      params?: Record<string, unknown>;
    } | null;
  };
  /**
   * The model: `name` selects a registered family (FNO, TFNO), the other fields are its options
   * (neuralop's names; the FNO options are shared by the families built on it).
   */
  model: { name: string } & FNOOptions & Record<string, unknown>;
  optimizer: { name: 'AdamW' | 'Adam'; lr: number; weight_decay: number; betas?: [number, number]; eps?: number };
  scheduler: { name: 'CosineAnnealingLR'; T_max: number; eta_min?: number } | { name: 'StepLR'; step_size: number; gamma?: number } | null;
  training: {
    n_epochs: number;
    eval_interval: number;
    train_loss: 'h1' | 'l2';
    eval_losses: ('h1' | 'l2')[];
    seed: number;
  };
  output: { dir: string; checkpoint_every: number };
  /** Mixed-precision training controls (the block precision itself is model.fno_block_precision). */
  precision?: {
    /** 'dynamic' loss scaling (default when the model computes in fp16) or 'none'. */
    loss_scale?: 'dynamic' | 'none';
    /** e.g. 'half:0.25,mixed:0.5,full:0.25' (fractions of the epochs), or 'auto' (see precision/auto.ts). */
    schedule?: string | null;
    /** The automatic schedule: training steps between probes (default min(20, steps per epoch)). */
    probe_every?: number | null;
    /** … switch up when the precision error exceeds this fraction of the gradient noise (default 0.1). */
    switch_threshold?: number | null;
    /** … for this many probes in a row (default 3). */
    switch_patience?: number | null;
    /** … switching the whole 'model' (default) or each 'layer' on its own. */
    switch_by?: AutoSwitchBy | null;
    /** Demote a Fourier layer after this many overflowing forward passes. */
    fallback_after?: number | null;
  };
}

type Shape = { [k: string]: Shape | 'any' };
const SCHEMA: Shape = {
  data: {
    train: 'any', n_train: 'any', test: 'any', n_test: 'any', cache_mb: 'any', batch_size: 'any', test_batch_size: 'any', shuffle: 'any', encode_output: 'any',
    generate: { pde: 'any', resolution: 'any', train: { n: 'any', seed: 'any', subsample: 'any' }, test: { n: 'any', seed: 'any', subsample: 'any', resolutions: 'any' }, params: 'any' },
  },
  model: 'any',
  optimizer: { name: 'any', lr: 'any', weight_decay: 'any', betas: 'any', eps: 'any' },
  scheduler: 'any',
  training: { n_epochs: 'any', eval_interval: 'any', train_loss: 'any', eval_losses: 'any', seed: 'any' },
  output: { dir: 'any', checkpoint_every: 'any' },
  precision: { loss_scale: 'any', schedule: 'any', fallback_after: 'any', probe_every: 'any', switch_threshold: 'any', switch_patience: 'any', switch_by: 'any' },
};

/** Names that would reach an object's prototype chain when used as keys; they are unknown keys like any other. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Every key path of a JSON value that goes through `__proto__`, `constructor` or `prototype` (an unknown key anywhere). */
function prototypeKeyPath(v: unknown, at: string): string | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  for (const k of Object.keys(v)) {
    const p = at ? `${at}.${k}` : k;
    if (PROTOTYPE_KEYS.has(k)) return p;
    const inner = prototypeKeyPath((v as Record<string, unknown>)[k], p);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

function checkKeys(v: unknown, s: Shape, at: string, file: string): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${file}: '${at || '(root)'}' must be an object, got ${JSON.stringify(v)}`);
  for (const k of Object.keys(v)) {
    const p = at ? `${at}.${k}` : k;
    if (!Object.hasOwn(s, k)) throw new RangeError(`${file}: unknown config key '${p}'`);
    const sub = s[k]!;
    const val = (v as Record<string, unknown>)[k];
    // optional sections may be null (data.generate, precision) or absent; 'any' values are validated in loadConfig
    if (sub !== 'any' && val !== null) checkKeys(val, sub, p, file);
  }
}

/** The value of a `key=value` override: JSON when it parses (numbers, booleans, arrays, quoted strings), else the text. */
export function parseOverrideValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Sets an own property, even one named `__proto__` (plain assignment would replace the prototype). */
export function setOwn(o: Record<string, unknown>, k: string, value: unknown): void {
  Object.defineProperty(o, k, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Applies `key.path=value` overrides (value parsed as JSON when it parses, else a string). Every path
 * segment is data: only own properties are followed or created, so `__proto__`, `constructor` and
 * `prototype` become (unknown) keys of the config instead of reaching Object.prototype.
 */
export function applyOverrides(cfg: Record<string, unknown>, sets: readonly string[], file: string): void {
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new RangeError(`--set takes key.path=value, got '${s}'`);
    const keys = s.slice(0, eq).split('.');
    if (keys.some((k) => k === '')) throw new RangeError(`--set ${s}: empty key in '${s.slice(0, eq)}'`);
    const value = parseOverrideValue(s.slice(eq + 1));
    let obj = cfg;
    keys.slice(0, -1).forEach((k, i) => {
      if (!Object.hasOwn(obj, k)) setOwn(obj, k, {}); // a missing section is created; its keys are validated later
      const next = obj[k];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) {
        throw new RangeError(`${file}: --set ${s}: '${keys.slice(0, i + 1).join('.')}' is not an object in the config`);
      }
      obj = next as Record<string, unknown>;
    });
    setOwn(obj, keys[keys.length - 1]!, value);
  }
}

function num(v: unknown, at: string, file: string, opts: { int?: boolean; min?: number; gt?: number } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || (opts.int && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.gt !== undefined && !(v > opts.gt))) {
    throw new RangeError(`${file}: '${at}' must be ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}${opts.gt !== undefined ? ` > ${opts.gt}` : ''}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Reads, overrides and validates a run config; data paths become absolute (relative to the file). */
export function loadConfig(file: string, sets: readonly string[] = []): RunConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read the config (${e instanceof Error ? e.message : String(e)})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new TypeError(`${file}: a config is a JSON object, got ${JSON.stringify(raw)}`);
  applyOverrides(raw as Record<string, unknown>, sets, file);
  return validateConfig(raw, file);
}

/**
 * Validates a run config object (a config file's, or the one a checkpoint stored) and returns it
 * typed; relative data paths become absolute (relative to `file`). Errors name `file` and the key.
 */
export function validateConfig(raw: unknown, file: string): RunConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new TypeError(`${file}: a config is a JSON object, got ${JSON.stringify(raw)}`);
  const proto = prototypeKeyPath(raw, '');
  if (proto !== undefined) throw new RangeError(`${file}: unknown config key '${proto}'`);
  checkKeys(raw, SCHEMA, '', file);
  const c = raw as RunConfig;
  for (const k of ['data', 'model', 'optimizer', 'training', 'output'] as const) {
    const v: unknown = c[k];
    if (v === undefined) throw new RangeError(`${file}: missing section '${k}'`);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${file}: '${k}' must be an object (a config section), got ${JSON.stringify(v)}`);
  }
  if (c.precision !== undefined && (c.precision === null || typeof c.precision !== 'object' || Array.isArray(c.precision))) {
    throw new TypeError(`${file}: 'precision' must be an object, got ${JSON.stringify(c.precision)}`);
  }
  const dir = path.dirname(path.resolve(file));
  const abs = (p: unknown, at: string): string => {
    if (typeof p !== 'string' || p === '') throw new TypeError(`${file}: '${at}' must be a file path`);
    return path.resolve(dir, p);
  };
  const source = (v: unknown, at: string): DataSource => {
    try {
      return validateSource(v, at, abs);
    } catch (e) {
      if (e instanceof Error && !e.message.startsWith(`${file}: `)) e.message = `${file}: ${e.message}`;
      throw e;
    }
  };
  c.data.train = source(c.data.train, 'data.train');
  if (c.data.test === null || typeof c.data.test !== 'object' || Array.isArray(c.data.test)) throw new TypeError(`${file}: 'data.test' must map test-set names to data files or sources`);
  for (const [k, p] of Object.entries(c.data.test)) c.data.test[k] = source(p, `data.test.${k}`);
  if (c.data.cache_mb != null) num(c.data.cache_mb, 'data.cache_mb', file, { gt: 0 });
  num(c.data.batch_size, 'data.batch_size', file, { int: true, min: 1 });
  num(c.data.test_batch_size, 'data.test_batch_size', file, { int: true, min: 1 });
  if (typeof c.data.shuffle !== 'boolean') throw new TypeError(`${file}: 'data.shuffle' must be true or false`);
  if (typeof c.data.encode_output !== 'boolean') throw new TypeError(`${file}: 'data.encode_output' must be true or false`);
  if (c.data.n_train != null) num(c.data.n_train, 'data.n_train', file, { int: true, min: 1 });
  const g = c.data.generate;
  if (g != null) {
    for (const [at, v] of [['data.train', c.data.train], ...Object.entries(c.data.test).map(([k, v]) => [`data.test.${k}`, v])] as const) {
      if (typeof v !== 'string') throw new TypeError(`${file}: '${at}' must be a file path with data.generate (it writes mpno .safetensors files), got a source object`);
    }
    if (g.pde !== 'darcy' && g.pde !== 'navier-stokes' && g.pde !== 'swe' && g.pde !== 'bodies') throw new RangeError(`${file}: 'data.generate.pde' must be 'darcy', 'navier-stokes', 'swe' or 'bodies', got ${JSON.stringify(g.pde)}`);
    num(g.resolution, 'data.generate.resolution', file, { int: true, min: g.pde === 'bodies' ? 2 : 3 });
    num(g.train?.n, 'data.generate.train.n', file, { int: true, min: 1 });
    num(g.train?.seed, 'data.generate.train.seed', file, { int: true, min: 0 });
    num(g.train?.subsample, 'data.generate.train.subsample', file, { int: true, min: 1 });
    num(g.test?.n, 'data.generate.test.n', file, { int: true, min: 1 });
    num(g.test?.seed, 'data.generate.test.seed', file, { int: true, min: 0 });
    if (g.test.seed === g.train.seed) throw new RangeError(`${file}: 'data.generate.test.seed' must differ from the training seed (the test samples would repeat training samples)`);
    // bodies: the generated test sets are the .safetensors ones (others, such as neuralop's cars, are read as they are)
    const generatedTests = Object.keys(c.data.test).filter((k) => g.pde !== 'bodies' || sourceFile(c.data.test[k]!).endsWith('.safetensors'));
    if (!Array.isArray(g.test?.subsample) || g.test.subsample.length !== generatedTests.length) {
      throw new RangeError(`${file}: 'data.generate.test.subsample' must list one factor per generated test set (${generatedTests.join(', ')})`);
    }
    if (g.pde === 'bodies' && g.test.subsample.some((r) => r !== 1)) throw new RangeError(`${file}: 'data.generate.test.subsample' must be 1 for bodies (point data are not subsampled)`);
    // bodies: generated test set i is drawn from seed test.seed + i
    if (g.pde === 'bodies' && generatedTests.some((_, i) => g.test.seed + i === g.train.seed)) {
      throw new RangeError(`${file}: 'data.generate.test.seed' ${g.test.seed} + the test set's position gives the training seed ${g.train.seed} (the test bodies would repeat training bodies)`);
    }
    if (g.test.resolutions != null) {
      if (g.pde !== 'swe') throw new RangeError(`${file}: 'data.generate.test.resolutions' is for swe (the other PDEs store subsamplings of one grid: use 'data.generate.test.subsample')`);
      if (!Array.isArray(g.test.resolutions) || g.test.resolutions.length !== Object.keys(c.data.test).length) {
        throw new RangeError(`${file}: 'data.generate.test.resolutions' must list one nlat per test set (${Object.keys(c.data.test).join(', ')})`);
      }
      g.test.resolutions.forEach((r, k) => num(r, `data.generate.test.resolutions[${k}]`, file, { int: true, min: 4 }));
    }
  }
  try {
    validateModel(c.model);
  } catch (e) {
    throw new RangeError(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (c.optimizer.name !== 'AdamW' && c.optimizer.name !== 'Adam') throw new RangeError(`${file}: 'optimizer.name' must be 'AdamW' or 'Adam', got ${JSON.stringify(c.optimizer.name)}`);
  num(c.optimizer.lr, 'optimizer.lr', file, { gt: 0 });
  num(c.optimizer.weight_decay, 'optimizer.weight_decay', file, { min: 0 });
  if (c.scheduler !== null && c.scheduler !== undefined) {
    if (typeof c.scheduler !== 'object' || Array.isArray(c.scheduler)) throw new TypeError(`${file}: 'scheduler' must be an object or null, got ${JSON.stringify(c.scheduler)}`);
    const s = c.scheduler as Record<string, unknown>;
    if (s['name'] === 'CosineAnnealingLR') {
      for (const k of Object.keys(s)) if (!['name', 'T_max', 'eta_min'].includes(k)) throw new RangeError(`${file}: unknown config key 'scheduler.${k}'`);
      num(s['T_max'], 'scheduler.T_max', file, { int: true, min: 1 });
    } else if (s['name'] === 'StepLR') {
      for (const k of Object.keys(s)) if (!['name', 'step_size', 'gamma'].includes(k)) throw new RangeError(`${file}: unknown config key 'scheduler.${k}'`);
      num(s['step_size'], 'scheduler.step_size', file, { int: true, min: 1 });
    } else throw new RangeError(`${file}: 'scheduler.name' must be 'CosineAnnealingLR' or 'StepLR', got ${JSON.stringify(s['name'])}`);
  } else c.scheduler = null;
  num(c.training.n_epochs, 'training.n_epochs', file, { int: true, min: 0 });
  num(c.training.eval_interval, 'training.eval_interval', file, { int: true, min: 1 });
  num(c.training.seed, 'training.seed', file, { int: true, min: 0 });
  const lossName = (v: unknown, at: string) => {
    if (v !== 'h1' && v !== 'l2') throw new RangeError(`${file}: '${at}' must be 'h1' or 'l2', got ${JSON.stringify(v)}`);
  };
  lossName(c.training.train_loss, 'training.train_loss');
  if (!Array.isArray(c.training.eval_losses) || c.training.eval_losses.length === 0) throw new TypeError(`${file}: 'training.eval_losses' must be a non-empty list`);
  c.training.eval_losses.forEach((l, i) => lossName(l, `training.eval_losses[${i}]`));
  if (modelFamily(c.model.name).data === 'points') {
    for (const [at, l] of [['training.train_loss', c.training.train_loss], ...c.training.eval_losses.map((l, i) => [`training.eval_losses[${i}]`, l])] as const) {
      if (l === 'h1') throw new RangeError(`${file}: '${at}' is 'h1', but ${c.model.name} predicts on point clouds, which have no grid to differentiate on; use 'l2'`);
    }
  }
  if (typeof c.output.dir !== 'string' || c.output.dir === '') throw new TypeError(`${file}: 'output.dir' must be a directory path`);
  num(c.output.checkpoint_every, 'output.checkpoint_every', file, { int: true, min: 1 });
  if (c.precision !== undefined) {
    const p = c.precision;
    if (p.loss_scale !== undefined && p.loss_scale !== 'dynamic' && p.loss_scale !== 'none') {
      throw new RangeError(`${file}: 'precision.loss_scale' must be 'dynamic' or 'none', got ${JSON.stringify(p.loss_scale)}`);
    }
    if (p.schedule != null) {
      try {
        if (!isAutoSchedule(p.schedule)) parsePrecisionSchedule(p.schedule);
      } catch (e) {
        throw new RangeError(`${file}: 'precision.schedule': ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (p.fallback_after != null) num(p.fallback_after, 'precision.fallback_after', file, { int: true, min: 1 });
    const auto = isAutoSchedule(p.schedule);
    for (const k of ['probe_every', 'switch_threshold', 'switch_patience', 'switch_by'] as const) {
      if (p[k] != null && !auto) throw new RangeError(`${file}: 'precision.${k}' belongs to the automatic schedule; set precision.schedule to "auto" or remove it`);
    }
    if (p.probe_every != null) num(p.probe_every, 'precision.probe_every', file, { int: true, min: 1 });
    if (p.switch_threshold != null) num(p.switch_threshold, 'precision.switch_threshold', file, { gt: 0 });
    if (p.switch_patience != null) num(p.switch_patience, 'precision.switch_patience', file, { int: true, min: 1 });
    if (p.switch_by != null && !AUTO_SWITCH_BY.includes(p.switch_by)) {
      throw new RangeError(`${file}: 'precision.switch_by' must be ${AUTO_SWITCH_BY.map((b) => `'${b}'`).join(' or ')}, got ${JSON.stringify(p.switch_by)}`);
    }
  }
  return c;
}
