/**
 * Model families by name. A family is a set of options, a validator and a builder; `buildModel`
 * is the one way train, eval, predict, bound and the benchmarks make a model from a config.
 */
import type { Variable } from '../autograd/variable.js';
import type { Module } from '../nn/module.js';
import type { PrecisionControlled } from '../precision/policy.js';
import { FNO, type FNOOptions, resolveFnoOptions } from './fno.js';
import { TFNO, type TFNOOptions, resolveTfnoOptions } from './tfno.js';
import { SFNO, type SFNOOptions, resolveSfnoOptions } from './sfno.js';
import { GINO, type GINOOptions, resolveGinoOptions } from './gino.js';
import type { Batch } from '../core/batch.js';

/**
 * A trained operator: a module whose precision the policy controls, with one forward pass on a grid
 * batch's x, or (point-cloud models) on a batch of named fields.
 */
export type NeuralOperator = Module & PrecisionControlled & {
  forward(x: Variable): Variable;
  forwardBatch?(batch: Batch): Variable;
  takeGraphStats?(): Record<string, { queries: number; empty: number; edges: number }>;
  setStep?(epoch: number, step: number): void;
};

/** What the config, the CLI and checkpoints know of a family. */
export interface ModelFamily {
  /** The config's model.name. */
  readonly name: string;
  /** One line for `--help` and errors. */
  readonly summary: string;
  /** Validates the options (everything but `name`), naming the field of any problem; builds nothing. */
  validate(options: Record<string, unknown>): void;
  /** Builds the model; `seed` is used when the options set none. */
  build(options: Record<string, unknown>, seed: number): NeuralOperator;
  /** Number of spatial axes of the data the model takes, from its options (for data checks). */
  spatialDims(options: Record<string, unknown>): number | undefined;
  /** The data the family takes: grids {x, y} (default) or point clouds (named fields, point targets). */
  readonly data?: 'grid' | 'points';
}

const families = new Map<string, ModelFamily>();

/** Registers a family under its name (a second family of the same name is an error). */
export function registerModel(f: ModelFamily): void {
  if (families.has(f.name)) throw new Error(`registerModel: a model family named '${f.name}' is already registered`);
  families.set(f.name, f);
}

/** The registered family names, in registration order. */
export function modelNames(): string[] {
  return [...families.keys()];
}

/** The family of a name; an unregistered name is a named error listing the registered ones. */
export function modelFamily(name: unknown): ModelFamily {
  const f = typeof name === 'string' ? families.get(name) : undefined;
  if (!f) throw new RangeError(`model.name ${JSON.stringify(name)} is not a registered model family (registered: ${modelNames().join(', ')})`);
  return f;
}

/** The options of a config's model section without its name. */
export function modelOptions(spec: { name: string } & Record<string, unknown>): Record<string, unknown> {
  const { name: _name, ...rest } = spec;
  void _name;
  return rest;
}

/**
 * Builds the model a config's `model` section describes: its family by `name`, the other fields as
 * the family's options. `seed` (the run's training seed) initialises the weights unless the model
 * section sets its own `seed`.
 */
export function buildModel(spec: { name: string } & Record<string, unknown>, o: { seed?: number } = {}): NeuralOperator {
  return modelFamily(spec.name).build(modelOptions(spec), o.seed ?? 0);
}

/** Validates a config's model section against its family (before any data is read or model built). */
export function validateModel(spec: { name: string } & Record<string, unknown>): void {
  modelFamily(spec.name).validate(modelOptions(spec));
}

function nModesDims(options: Record<string, unknown>): number | undefined {
  return Array.isArray(options['n_modes']) ? options['n_modes'].length : undefined;
}

/** A family whose options are FNO's (and its own): validated by `validate`, built by `make` with the run's seed as default. */
function fnoFamily<O extends FNOOptions>(name: string, summary: string, validate: (o: O) => unknown, make: (o: O) => NeuralOperator): ModelFamily {
  return {
    name, summary, spatialDims: nModesDims,
    validate: (o) => void validate(o as unknown as O),
    build: (o, seed) => make({ seed, ...o } as unknown as O),
  };
}

registerModel(fnoFamily<FNOOptions>('FNO', 'Fourier Neural Operator (dense spectral weights)', (o) => resolveFnoOptions(o), (o) => new FNO(o)));
registerModel(fnoFamily<TFNOOptions>('TFNO', 'Tensorized FNO (factorised spectral weights: Tucker, CP or TT; Tucker rank 0.1 by default)', resolveTfnoOptions, (o) => new TFNO(o)));
registerModel(fnoFamily<SFNOOptions>('SFNO', 'Spherical FNO (spherical-harmonic spectral convolutions on equiangular or Gauss–Legendre grids; dense or factorised per-degree weights)', resolveSfnoOptions, (o) => new SFNO(o)));
registerModel({
  name: 'GINO',
  summary: 'Geometry-informed neural operator (GNO from a point cloud to a latent 3-D grid, FNO blocks there, GNO back to the points)',
  data: 'points',
  spatialDims: () => 3,
  validate: (o) => void resolveGinoOptions(o as unknown as GINOOptions),
  build: (o, seed) => new GINO({ seed, ...o } as unknown as GINOOptions),
});
