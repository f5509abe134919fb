import { generateDarcy, subsampledResolution } from '../data/generators/darcy.js';
import { type GenerateNSOptions, generateNS } from '../data/generators/navier-stokes.js';
import { type GenerateSweOptions, generateSwe } from '../data/generators/swe.js';
import { generateBodies } from '../data/generators/bodies.js';
import type { BodyArrays } from '../data/points.js';

export type PdeName = 'darcy' | 'navier-stokes' | 'swe' | 'bodies';
export const PDES: readonly PdeName[] = ['darcy', 'navier-stokes', 'swe', 'bodies'];

/** The parameters `--set` (and a config's data.generate.params) may give each PDE's generator. */
export const PDE_PARAMS: Readonly<Record<PdeName, readonly string[]>> = {
  darcy: ['alpha', 'tau', 'f', 'tol', 'maxIter', 'preconditioner'],
  'navier-stokes': ['alpha', 'tau', 'nu', 'dt', 'T', 'recordInterval', 'layout', 'inSteps', 'forcing', 'checkStability'],
  swe: ['nlon', 'lmax', 'nsteps', 'dt', 'mach', 'grid', 'initialCondition', 'normalize', 'chunk'],
  bodies: ['points'],
};

/** Refuses parameters the PDE's generator does not take (they would otherwise be silently ignored). */
export function checkPdeParams(pde: PdeName, params: Record<string, unknown>): void {
  for (const k of Object.keys(params)) {
    if (!PDE_PARAMS[pde].includes(k)) throw new RangeError(`generate: unknown ${pde} parameter '${k}' (--set takes ${PDE_PARAMS[pde].join(', ')})`);
  }
}

/** One shard of a generation job: samples [start, start + n). */
export interface ShardJob {
  pde: PdeName;
  n: number;
  start: number;
  resolution: number;
  seed: number;
  subsample: number[];
  /** PDE-specific parameters (validated by the generator). */
  params: Record<string, unknown>;
}

export interface ShardResult {
  /** Stored resolutions (one per subsample factor). */
  resolutions: number[];
  /** The spatial shape of each stored resolution ([r, r] on the square grids, [nlat, nlon] on the sphere). */
  grids: number[][];
  /** Per resolution: x [n, C_in, r, r] and y [n, C_out, r, r], flat float32. */
  x: Float32Array[];
  y: Float32Array[];
  inChannels: number;
  outChannels: number;
  meta: Record<string, unknown>;
  /** bodies: the generated bodies (point data; x and y are empty). */
  bodies?: BodyArrays[];
}

/** Runs one shard in this thread. */
export function runGeneratorShard(job: ShardJob, onSample: (i: number) => void, onStep?: (done: number, total: number) => void): ShardResult {
  if (job.pde === 'darcy') {
    const d = generateDarcy({
      ...(job.params as object), n: job.n, start: job.start, resolution: job.resolution, seed: job.seed, subsample: job.subsample, onSample,
    });
    return { resolutions: d.resolutions, grids: d.resolutions.map((r) => [r, r]), x: d.x, y: d.y, inChannels: 1, outChannels: 1, meta: { ...d.meta } };
  }
  if (job.pde === 'bodies') {
    // car-like bodies: resolution = the latent grid G, params.points the most vertices of a body
    const points = job.params['points'];
    const d = generateBodies({ n: job.n, start: job.start, seed: job.seed, points: typeof points === 'number' ? points : 1000, grid: job.resolution, onSample });
    const bodies = d.samples.map((b) => ({ vertices: b.vertices, normals: b.normals, vertexAreas: b.vertexAreas, cp: b.cp, triangles: b.triangles, sdf: b.sdf }));
    return { resolutions: [job.resolution], grids: [], x: [], y: [], inChannels: 0, outChannels: 1, meta: { ...d.meta }, bodies };
  }
  if (job.pde === 'swe') {
    // shallow water on the sphere: resolution = nlat, nlon from the parameters (default 2·nlat)
    const p = job.params as Partial<GenerateSweOptions>;
    const nlon = p.nlon ?? 2 * job.resolution;
    const d = generateSwe({ ...p, n: job.n, start: job.start, seed: job.seed, nlat: job.resolution, nlon, onSample });
    return { resolutions: [job.resolution], grids: [[job.resolution, nlon]], x: [d.x], y: [d.y], inChannels: 3, outChannels: 3, meta: { ...d.meta } };
  }
  // navier-stokes: simulate at `resolution`, store at resolution / factor for each factor
  const res = job.subsample.map((r) => job.resolution / r);
  const p = job.params as Partial<GenerateNSOptions>;
  const d = generateNS({
    layout: 'map', ...p, n: job.n, start: job.start, seed: job.seed, resolution: res[0]!, simResolution: job.resolution,
    alsoResolutions: res.slice(1), onSample, ...(onStep ? { onStep } : {}),
  });
  return {
    resolutions: res,
    grids: res.map((r) => [r, r]),
    x: [d.x, ...d.also.map((a) => a.x)],
    y: [d.y, ...d.also.map((a) => a.y)],
    inChannels: d.xShape[1]!,
    outChannels: d.yShape[1]!,
    meta: { ...d.meta },
  };
}

/** The resolutions a job will store (validates the subsample factors before any work). */
export function storedResolutions(pde: PdeName, s: number, subsample: readonly number[]): number[] {
  if (pde === 'darcy') return subsample.map((r) => subsampledResolution(s, r));
  if (pde === 'bodies') {
    if (!Number.isInteger(s) || s < 2) throw new RangeError(`generate: bodies needs --resolution (the latent grid G, at least 2), got ${s}`);
    if (subsample.length !== 1 || subsample[0] !== 1) throw new RangeError('generate: bodies are point data (--subsample 1)');
    return [s];
  }
  if (pde === 'swe') {
    if (!Number.isInteger(s) || s < 4) throw new RangeError(`generate: swe needs --nlat (latitudes, at least 4), got ${s}`);
    if (subsample.length !== 1 || subsample[0] !== 1) throw new RangeError(`generate: swe stores the simulation grid only (--subsample 1); generate each resolution with its own --nlat/--nlon`);
    return [s];
  }
  return subsample.map((r) => {
    if (!Number.isInteger(s) || s < 4 || s % r !== 0) throw new RangeError(`generate: resolution ${s} cannot be subsampled by ${r} (a periodic grid needs s divisible by r)`);
    return s / r;
  });
}
