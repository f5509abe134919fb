/**
 * Factorised complex spectral weights (neuralop's TFNO): the weight tensor W of a spectral
 * convolution, of neuralop's shape (in, out, k1…kd) — separable: (in, k1…kd), in == out, and the
 * contraction is elementwise over channels — is learned as a CP, Tucker or tensor-train
 * decomposition (tensorly-torch's CPTensor / TuckerTensor / TTTensor) instead of densely.
 *
 * - CP: weights λ (R) and factors U_n (shape_n, R): W = Σ_r λ_r Π_n U_n[i_n, r].
 * - Tucker: core G (R_1…R_N) and factors U_n (shape_n, R_n): W = G ×_1 U_1 ⋯ ×_N U_N.
 * - TT: cores G_n (R_{n−1}, shape_n, R_n), R_0 = R_N = 1: W[i_1…i_N] = G_1[:, i_1, :] ⋯ G_N[:, i_N, :].
 *
 * Every tensor is complex, stored as a re/im Parameter pair (Parameter.complexPair) of float32
 * masters (float64 in a float64 model). Both implementations run through the contraction engine's
 * differentiable op (precision/contract), in the spectrum's dtype with float32 accumulation, so
 * in 'mixed'/'half' every pairwise intermediate is 16-bit (the paper's memory-efficient
 * contraction):
 * - 'factorized' contracts the spectrum with the factors directly (neuralop's _contract_cp,
 *   _contract_tucker, _contract_tt), in mpno's mode-major layout, e.g. CP 'xybi,r,ir,or,xr,yr->xybo';
 * - 'reconstructed' rebuilds the dense weight [k1…kd, in, out] (float32; float64 for a float64
 *   spectrum, as neuralop's to_tensor() runs in the parameters' complex64) and contracts it per mode
 *   (ops.modeContract; separable: an elementwise complex product through the same engine).
 * The engine plans each distinct contraction once per shape (its plan cache).
 *
 * Ranks from a fraction f of the dense tensor's size follow tensorly's validate_cp_rank,
 * validate_tucker_rank and validate_tt_rank (constant_rank False). The init gives the reconstructed
 * weight the dense layer's variance, std = √(2 / (in + out)) (complex N(0, σ²): real and imaginary
 * parts each N(0, σ²/2)): CP and Tucker as tltorch's normal_ draws them, TT with σ_f = (std/√ΠR)^(1/N)
 * (tltorch's (std/ΠR)^(1/N) would leave it √ΠR smaller). The state dict holds every tensor as a real tensor with a trailing re/im axis of 2,
 * under descriptive names ('weight.factor_in', 'weight.core', 'weight.core_mode0', …) with
 * tltorch's factor-list names ('weight.factors.0', 'weight.factors.factor_0', …) accepted on load.
 */
import type { DType } from '../core/dtype.js';
import type { Rng } from '../core/rng.js';
import { Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import * as ops from '../autograd/ops.js';
import { Variable } from '../autograd/variable.js';
import { type ContractDType, complexParts, contract, formatPlan, packComplex, planContraction } from '../precision/contract/index.js';
import { roundHalfEven } from './layers.js';
import { Parameter } from './module.js';
import { normal } from './init.js';
import { DenseSpectralWeight, type SpectralWeight, type SpectralWeightFactory } from './spectral.js';

/** How the weight of a spectral convolution is stored: densely or as a tensor decomposition. */
export type Factorization = 'dense' | 'cp' | 'tucker' | 'tt';
export const FACTORIZATIONS: readonly Factorization[] = ['dense', 'cp', 'tucker', 'tt'];

/** How a factorised weight is contracted with the spectrum (neuralop's `implementation`). */
export type FactorizedImplementation = 'factorized' | 'reconstructed';
export const FACTORIZED_IMPLEMENTATIONS: readonly FactorizedImplementation[] = ['factorized', 'reconstructed'];

/**
 * The rank of a decomposition: a number is a fraction f > 0 of the dense tensor's size (tensorly's
 * float rank); an array gives the ranks themselves (CP [R]; Tucker [R_1…R_N]; TT the full tuple
 * [1, R_1…R_{N−1}, 1]).
 */
export type RankSpec = number | readonly number[];

/**
 * A model option's rank, checked: a positive fraction of the dense weight's size, or explicit ranks
 * (positive integers: what an imported checkpoint's factor shapes give). `name` is the option in errors.
 */
export function rankOption(v: unknown, name: string, who: string): RankSpec {
  if (Array.isArray(v)) {
    if (v.length === 0 || v.some((r) => typeof r !== 'number' || !Number.isInteger(r) || r < 1)) throw new RangeError(`${who}: ${name} as explicit ranks must list positive integers, got ${JSON.stringify(v)}`);
    return [...(v as number[])];
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) throw new RangeError(`${who}: ${name} must be a positive fraction of the dense weight's size (or a list of explicit ranks), got ${JSON.stringify(v)}`);
  return v;
}

/** The factorization a name stands for, case-insensitive like neuralop's ('Tucker', 'CP'); named RangeError otherwise. */
export function parseFactorization(v: unknown, who = 'factorized weight'): Factorization {
  const s = typeof v === 'string' ? v.toLowerCase() : undefined;
  const f = FACTORIZATIONS.find((x) => x === s);
  if (!f) throw new RangeError(`${who}: factorization must be one of ${FACTORIZATIONS.join(', ')} (any case), got ${JSON.stringify(v)}`);
  return f;
}

/** Checks an implementation name; named RangeError otherwise. */
export function parseImplementation(v: unknown, who = 'factorized weight'): FactorizedImplementation {
  const f = FACTORIZED_IMPLEMENTATIONS.find((x) => x === v);
  if (!f) throw new RangeError(`${who}: implementation must be one of ${FACTORIZED_IMPLEMENTATIONS.join(', ')}, got ${JSON.stringify(v)}`);
  return f;
}

function fmtTuple(s: readonly number[]): string {
  return `(${s.join(', ')})`;
}

function checkShape(shape: readonly number[], who: string): void {
  if (!Array.isArray(shape) || shape.length < 2 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new RangeError(`${who}: the weight shape must list at least 2 positive integers, got ${JSON.stringify(shape)}`);
  }
}

function checkFraction(rank: number, who: string): void {
  if (typeof rank !== 'number' || !Number.isFinite(rank) || !(rank > 0)) throw new RangeError(`${who}: rank must be a positive fraction of the dense size, got ${JSON.stringify(rank)}`);
}

function checkExplicit(rank: readonly number[], n: number, what: string, who: string): number[] {
  if (rank.length !== n || rank.some((r) => !Number.isInteger(r) || r < 1)) {
    throw new RangeError(`${who}: rank ${JSON.stringify(rank)} must list ${n} positive integers (${what}); a rank below 1 gives an empty factor`);
  }
  return [...rank];
}

/** tensorly's validate_cp_rank: R = round_half_even(Π shape · f / Σ shape); an explicit [R] as is. */
export function cpRank(shape: readonly number[], rank: RankSpec, who = 'CP weight'): number {
  checkShape(shape, who);
  if (typeof rank !== 'number') return checkExplicit(rank, 1, 'the CP rank', who)[0]!;
  checkFraction(rank, who);
  const R = roundHalfEven((shapeSize(shape) * rank) / shape.reduce((a, s) => a + s, 0));
  if (R < 1) throw new RangeError(`${who}: rank ${rank} gives a CP rank of ${R} for a weight of shape ${fmtTuple(shape)}, an empty factor (use a larger fraction)`);
  return R;
}

/**
 * tensorly's validate_tucker_rank: c solving Π shape · c^N + Σ shape_n² · c = f · Π shape on
 * [0, max(f, 1)] (bisection to 1e-15 relative; tensorly uses brentq), R_n = max(round_half_even(shape_n · c), 1).
 */
export function tuckerRanks(shape: readonly number[], rank: RankSpec, who = 'Tucker weight'): number[] {
  checkShape(shape, who);
  const N = shape.length;
  if (typeof rank !== 'number') return checkExplicit(rank, N, 'one Tucker rank per axis', who);
  checkFraction(rank, who);
  const P = shapeSize(shape);
  const S2 = shape.reduce((a, s) => a + s * s, 0);
  const fun = (c: number): number => P * c ** N + S2 * c - rank * P;
  let lo = 0;
  let hi = Math.max(rank, 1);
  for (let it = 0; it < 200 && hi - lo > 1e-15 * hi; it++) {
    const mid = 0.5 * (lo + hi);
    if (fun(mid) > 0) hi = mid;
    else lo = mid;
  }
  const c = 0.5 * (lo + hi);
  return shape.map((s) => Math.max(roundHalfEven(s * c), 1));
}

/**
 * tensorly's validate_tt_rank (constant_rank False): ranks proportional to the mean of adjacent
 * sizes, t the positive root of a·t² + b·t − f·Π shape = 0; the full tuple [1, R_1…R_{N−1}, 1].
 */
export function ttRanks(shape: readonly number[], rank: RankSpec, who = 'TT weight'): number[] {
  checkShape(shape, who);
  const N = shape.length;
  if (typeof rank !== 'number') {
    const r = checkExplicit(rank, N + 1, 'the full tensor-train rank tuple [1, …, 1]', who);
    if (r[0] !== 1 || r[N] !== 1) throw new RangeError(`${who}: rank ${JSON.stringify(rank)} must start and end with 1 (R_0 = R_N = 1)`);
    return r;
  }
  checkFraction(rank, who);
  const avg = Array.from({ length: N - 1 }, (_, n) => (shape[n]! + shape[n + 1]!) / 2);
  let a = 0;
  if (avg.length > 1) for (let i = 1; i < N - 1; i++) a += avg[i - 1]! * shape[i]! * avg[i]!;
  else a = avg[0]! ** 2 * shape[0]!;
  const b = shape[0]! * avg[0]! + shape[N - 1]! * avg[avg.length - 1]!;
  const c = -shapeSize(shape) * rank;
  const t = (-b + Math.sqrt(b * b - 4 * a * c)) / (2 * a);
  return [1, ...avg.map((m) => Math.max(roundHalfEven(m * t), 1)), 1];
}

/** The ranks of a factorization of a weight of `shape` (CP [R], Tucker [R_1…R_N], TT [1, …, 1]; dense []). */
export function factorizedRanks(shape: readonly number[], factorization: Factorization | string, rank: RankSpec, who?: string): number[] {
  const f = parseFactorization(factorization, who);
  switch (f) {
    case 'dense': checkShape(shape, who ?? 'dense weight'); return [];
    case 'cp': return [cpRank(shape, rank, who)];
    case 'tucker': return tuckerRanks(shape, rank, who);
    case 'tt': return ttRanks(shape, rank, who);
  }
}

/** Complex entries of each tensor of the decomposition (shapes as tltorch stores them). */
function tensorShapes(shape: readonly number[], f: Factorization, ranks: readonly number[]): number[][] {
  switch (f) {
    case 'dense': return [[...shape]];
    case 'cp': return [[ranks[0]!], ...shape.map((s) => [s, ranks[0]!])];
    case 'tucker': return [[...ranks], ...shape.map((s, n) => [s, ranks[n]!])];
    case 'tt': return shape.map((s, n) => [ranks[n]!, s, ranks[n + 1]!]);
  }
}

/**
 * Real parameters of a weight of neuralop's `shape` ((in, out, k1…kd), or (in, k1…kd) separable)
 * stored with a factorization: 2 × its complex entries (real and imaginary parts count, as in
 * mpno's numParameters and neuralop's count_model_params).
 */
export function factorizedParameterCount(shape: readonly number[], factorization: Factorization | string, rank: RankSpec): number {
  const f = parseFactorization(factorization);
  const ranks = factorizedRanks(shape, f, rank);
  return 2 * tensorShapes(shape, f, ranks).reduce((a, s) => a + shapeSize(s), 0);
}

/** One complex tensor of a factorised weight. */
export interface ComplexFactor {
  /** State-dict name ('weight.factor_in'); its Parameters are `${name}.real` / `${name}.imag`. */
  readonly name: string;
  /** Shape as tltorch stores it (the state dict adds a trailing re/im axis of 2). */
  readonly shape: readonly number[];
  /** Its einsum term in the contraction (a TT boundary core drops its rank-1 axis). */
  readonly term: string;
  /** The shape matching `term`. */
  readonly termShape: readonly number[];
  readonly re: Parameter;
  readonly im: Parameter;
}

/** The options of a factorised weight (the factory's, besides the layer's channels and modes). */
export interface FactorizedWeightOptions {
  /** 'dense', 'cp', 'tucker' or 'tt', any case. */
  factorization: Factorization | string;
  /** A fraction of the dense size (default 0.1, TFNO's default) or explicit ranks (see RankSpec). */
  rank?: RankSpec;
  /** Default 'factorized' (neuralop's FNO default). */
  implementation?: FactorizedImplementation;
  /** Separable weight (in, k1…kd): y[b, c] = x[b, c] · W[c]; requires in == out. Default false. */
  separable?: boolean;
}

const MODE_LETTERS = 'xyz';
const RANK_LETTERS = 'acdefghjklmn';

/** The layer's options as a factorised weight checks them: the factorization, implementation and the weight's shape. */
function resolveLayer(o: FactorizedWeightOptions, inChannels: number, outChannels: number, modes: readonly number[], who: string): {
  factorization: Factorization; implementation: FactorizedImplementation; separable: boolean; rank: RankSpec; shape: number[];
} {
  const factorization = parseFactorization(o.factorization, who);
  const implementation = parseImplementation(o.implementation ?? 'factorized', who);
  const separable = o.separable ?? false;
  if (typeof separable !== 'boolean') throw new RangeError(`${who}: separable must be true or false, got ${JSON.stringify(separable)}`);
  const rank = o.rank ?? 0.1;
  if (typeof rank !== 'number' && !Array.isArray(rank)) throw new RangeError(`${who}: rank must be a positive fraction or a list of ranks, got ${JSON.stringify(rank)}`);
  if (separable && inChannels !== outChannels) throw new RangeError(`${who}: a separable weight needs in_channels == out_channels, got ${inChannels} and ${outChannels}`);
  if (modes.length < 1 || modes.length > MODE_LETTERS.length) throw new RangeError(`${who}: 1 to 3 mode axes, got ${JSON.stringify(modes)}`);
  const shape = separable ? [inChannels, ...modes] : [inChannels, outChannels, ...modes];
  return { factorization, implementation, separable, rank, shape };
}

/**
 * Checks factorised-weight options for a layer of these channels and modes as the weight's
 * constructor would (names the field and value), allocating nothing; returns the ranks.
 */
export function checkFactorizedWeight(o: FactorizedWeightOptions, layer: { inChannels: number; outChannels: number; modes: readonly number[] }, who = 'factorized weight'): number[] {
  const r = resolveLayer(o, layer.inChannels, layer.outChannels, layer.modes, who);
  return factorizedRanks(r.shape, r.factorization, r.rank, who);
}

/** Layout of one tensor before its Parameters exist. */
interface FactorSpec {
  name: string;
  shape: number[];
  term: string;
  termShape: number[];
  /** Standard deviation of its complex normal init; null: λ = 1 (CP weights). */
  std: number | null;
  /** tltorch's factor-list index, if it is in that list. */
  listIndex: number | null;
}

/**
 * A factorised complex spectral weight (CP, Tucker or TT; see the module comment). Its tensors are
 * `factors`, in tltorch's order (CP: weights, then the factors in, out, modes; Tucker: core, then the
 * factors; TT: the cores in, out, modes).
 */
export class FactorizedSpectralWeight implements SpectralWeight {
  /** 'dense' only separable: one tensor (in, k1…kd), the weight itself (neuralop's DenseTensor, 'weight.tensor'). */
  readonly kind: Factorization;
  readonly implementation: FactorizedImplementation;
  readonly separable: boolean;
  /** neuralop's weight shape: (in, out, k1…kd), or (in, k1…kd) separable. */
  readonly shape: readonly number[];
  /** CP [R]; Tucker [R_1…R_N]; TT [1, R_1…R_{N−1}, 1]. */
  readonly ranks: readonly number[];
  readonly factors: readonly ComplexFactor[];
  readonly parameters: readonly (readonly [string, Parameter])[];
  readonly aliases: Readonly<Record<string, string>>;
  readonly description: string;
  /** Terms of the spectrum, the output and the reconstructed weight (mode-major). */
  private readonly xTerm: string;
  private readonly yTerm: string;
  private readonly wTerm: string;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly modes: readonly number[], o: FactorizedWeightOptions & { rng: Rng; dtype?: DType }) {
    const who = 'factorized weight';
    const r = resolveLayer(o, inChannels, outChannels, modes, who);
    if (r.factorization === 'dense' && !r.separable) throw new RangeError(`${who}: factorization 'dense' is DenseSpectralWeight (use factorizedWeight)`);
    this.kind = r.factorization;
    this.implementation = r.implementation;
    this.separable = r.separable;
    this.shape = Object.freeze(r.shape);
    const d = modes.length;
    const ml = MODE_LETTERS.slice(0, d);
    // axis letters and names of the weight tensor, in neuralop's order (in, out, modes)
    const letters = r.separable ? ['i', ...ml] : ['i', 'o', ...ml];
    const modeNames = Array.from({ length: d }, (_, n) => `mode${n}`);
    const names = r.separable ? ['in', ...modeNames] : ['in', 'out', ...modeNames];
    this.xTerm = `${ml}bi`;
    this.yTerm = r.separable ? `${ml}bi` : `${ml}bo`;
    this.wTerm = r.separable ? `${ml}i` : `${ml}io`;
    const std = Math.sqrt(2 / (inChannels + outChannels));
    const shape = r.shape;
    const N = shape.length;
    const specs: FactorSpec[] = [];
    if (this.kind === 'dense') {
      this.ranks = Object.freeze([]);
      specs.push({ name: 'weight.tensor', shape: [...shape], term: letters.join(''), termShape: [...shape], std, listIndex: null });
      this.description = 'dense';
    } else if (this.kind === 'cp') {
      const R = cpRank(shape, r.rank, who);
      this.ranks = Object.freeze([R]);
      const sf = (std / Math.sqrt(R)) ** (1 / N);
      specs.push({ name: 'weight.weights', shape: [R], term: 'r', termShape: [R], std: null, listIndex: null });
      shape.forEach((s, n) => specs.push({ name: `weight.factor_${names[n]}`, shape: [s, R], term: `${letters[n]}r`, termShape: [s, R], std: sf, listIndex: n }));
      this.description = `cp rank ${R}`;
    } else if (this.kind === 'tucker') {
      const R = tuckerRanks(shape, r.rank, who);
      this.ranks = Object.freeze(R);
      const sf = (std / R.reduce((a, x) => a * Math.sqrt(x), 1)) ** (1 / (N + 1));
      const rl = RANK_LETTERS.slice(0, N);
      specs.push({ name: 'weight.core', shape: [...R], term: rl, termShape: [...R], std: sf, listIndex: null });
      shape.forEach((s, n) => specs.push({ name: `weight.factor_${names[n]}`, shape: [s, R[n]!], term: `${letters[n]}${rl[n]}`, termShape: [s, R[n]!], std: sf, listIndex: n }));
      this.description = `tucker rank ${fmtTuple(R)}`;
    } else {
      const R = ttRanks(shape, r.rank, who);
      this.ranks = Object.freeze(R);
      // E|W|² = Π R_internal · σ_f^(2N) = std²: the dense layer's variance (tltorch's TT init uses
      // (std / Π R)^(1/N), which leaves the reconstructed weight √(Π R) smaller than the dense init)
      const sf = (std / Math.sqrt(shapeSize(R))) ** (1 / N);
      shape.forEach((s, n) => {
        // the boundary ranks R_0 = R_N = 1 are dropped from the contraction terms
        const left = n > 0 ? RANK_LETTERS[n - 1]! : '';
        const right = n < N - 1 ? RANK_LETTERS[n]! : '';
        const termShape = [...(left ? [R[n]!] : []), s, ...(right ? [R[n + 1]!] : [])];
        specs.push({ name: `weight.core_${names[n]}`, shape: [R[n]!, s, R[n + 1]!], term: `${left}${letters[n]}${right}`, termShape, std: sf, listIndex: n });
      });
      this.description = `tt rank ${fmtTuple(R)}`;
    }
    this.description += `${r.separable ? ' separable' : ''} ${r.implementation}`;
    const dtype = o.dtype ?? 'float32';
    const factors: ComplexFactor[] = [];
    const params: [string, Parameter][] = [];
    const aliases: Record<string, string> = {};
    try {
      for (const s of specs) {
        let re: Parameter;
        let im: Parameter;
        if (s.std === null) {
          re = new Parameter(Tensor.full(s.shape, 1, dtype, 'parameter'));
          im = new Parameter(Tensor.zeros(s.shape, dtype, 'parameter'));
        } else {
          re = new Parameter(normal(o.rng, s.shape, s.std / Math.SQRT2, dtype));
          im = new Parameter(normal(o.rng, s.shape, s.std / Math.SQRT2, dtype));
        }
        Parameter.complexPair(re, im);
        factors.push({ name: s.name, shape: Object.freeze(s.shape), term: s.term, termShape: Object.freeze(s.termShape), re, im });
        params.push([`${s.name}.real`, re], [`${s.name}.imag`, im]);
      }
    } catch (e) {
      for (const [, p] of params) p.release();
      throw e;
    }
    // Module.loadStateDict hands a module only its undotted local names; the identity entries make
    // these dotted names reach importState (they come first, so a name and a tltorch alias of it
    // given together are the named 'both given' error)
    for (const s of specs) aliases[s.name] = s.name;
    for (const s of specs) {
      if (s.listIndex === null) continue;
      aliases[`weight.factors.${s.listIndex}`] = s.name;
      aliases[`weight.factors.factor_${s.listIndex}`] = s.name;
    }
    this.factors = Object.freeze(factors);
    this.parameters = Object.freeze(params);
    this.aliases = Object.freeze(aliases);
  }

  /** The factorised contraction's equation, e.g. CP 'xybi,r,ir,or,xr,yr->xybo'. */
  get equation(): string {
    return `${this.xTerm},${this.factors.map((f) => f.term).join(',')}->${this.yTerm}`;
  }

  /** The reconstruction's equation, e.g. CP 'r,ir,or,xr,yr->xyio' (mode-major weight). */
  get reconstructionEquation(): string {
    return `${this.factors.map((f) => f.term).join(',')}->${this.wTerm}`;
  }

  /**
   * The planned contraction of this weight with a spectrum of `batch` signals in `dtype` (the path,
   * each pairwise step's GEMM and the peak intermediate), as formatPlan prints it: for the
   * 'factorized' implementation the spectrum × factors contraction, for 'reconstructed' the rebuild
   * of the dense weight.
   */
  describePlan(batch: number, dtype: ContractDType): string {
    const shapes = this.factors.map((f) => [...f.termShape]);
    if (this.implementation === 'factorized') {
      return formatPlan(planContraction(this.equation, [[...this.modes, batch, this.inChannels], ...shapes]), dtype);
    }
    if (this.kind === 'dense') return 'the weight itself (a permutation to mode-major)';
    return formatPlan(planContraction(this.reconstructionEquation, shapes), dtype === 'float64' ? 'float64' : 'float32');
  }

  /** Each tensor as one packed complex Variable [2, ...termShape] (differentiable to its Parameters). */
  packedFactors(): Variable[] {
    return this.factors.map((f) => {
      const z = packComplex(f.re, f.im);
      return shapeEqual(f.termShape, f.shape) ? z : ops.reshape(z, [2, ...f.termShape]);
    });
  }

  contract(X: Variable): Variable {
    return this.contractWith(X, this.packedFactors());
  }

  /**
   * Y = W·X for the weight whose tensors are `packed` (one packed complex Variable [2, ...termShape]
   * per factor, as packedFactors gives them): X packed [2, k1…kd, B, in] → [2, k1…kd, B, out] in X's
   * dtype, by `implementation` (default this weight's).
   */
  contractWith(X: Variable, packed: readonly Variable[], implementation: FactorizedImplementation = this.implementation): Variable {
    const d = this.modes.length;
    const B = X.shape[d + 1]!;
    const Ci = this.inChannels;
    const want = [2, ...this.modes, B, Ci];
    if (X.value.ndim !== d + 3 || want.some((s, k) => s !== X.shape[k])) {
      throw new RangeError(`${this.kind} spectral weight: spectrum ${fmtShape(X.shape)} is not packed [2, ${this.modes.join(', ')}, batch, ${Ci}]`);
    }
    this.checkPacked(packed);
    const dtype = X.dtype as ContractDType;
    const complex = new Array<boolean>(packed.length + 1).fill(true);
    if (parseImplementation(implementation, `${this.kind} spectral weight`) === 'factorized') {
      return contract(this.equation, [X, ...packed], { complex, dtype });
    }
    const W = this.reconstructWith(packed, dtype === 'float64' ? 'float64' : 'float32');
    if (this.separable) return contract(`${this.xTerm},${this.wTerm}->${this.yTerm}`, [X, W], { complex: [true, true], dtype });
    const M = shapeSize(this.modes);
    const { re, im } = complexParts(ops.reshape(W, [2, M, Ci, this.outChannels]));
    const Ym = ops.modeContract(ops.reshape(X, [2, M, B, Ci]), re, im);
    return ops.reshape(Ym, [2, ...this.modes, B, this.outChannels]);
  }

  /**
   * The dense complex weight, packed mode-major [2, k1…kd, in, out] (separable [2, k1…kd, in]), in
   * `dtype` (default float32; float64 for a float64 model), differentiable to the factors.
   */
  reconstruct(dtype?: ContractDType): Variable {
    return this.reconstructWith(this.packedFactors(), dtype ?? (this.factors[0]!.re.dtype === 'float64' ? 'float64' : 'float32'));
  }

  /** reconstruct() from given packed tensors (see contractWith). */
  reconstructWith(packed: readonly Variable[], dtype: ContractDType): Variable {
    this.checkPacked(packed);
    if (this.kind === 'dense') {
      // the weight itself, (in, k1…kd) → mode-major (k1…kd, in)
      const w = packed[0]!;
      const d = this.modes.length;
      const m = ops.permute(w, [0, ...Array.from({ length: d }, (_, a) => a + 2), 1]);
      return m.dtype === dtype ? m : ops.cast(m, dtype);
    }
    return contract(this.reconstructionEquation, packed, { complex: packed.map(() => true), dtype });
  }

  private checkPacked(packed: readonly Variable[]): void {
    if (!Array.isArray(packed) || packed.length !== this.factors.length) {
      throw new RangeError(`${this.kind} spectral weight: ${this.factors.length} packed factors expected, got ${Array.isArray(packed) ? packed.length : typeof packed}`);
    }
    this.factors.forEach((f, k) => {
      const v = packed[k]!;
      const want = [2, ...f.termShape];
      if (!(v instanceof Variable) || !shapeEqual(v.shape, want)) {
        throw new RangeError(`${this.kind} spectral weight: '${f.name}' must be packed ${fmtShape(want)}, got ${v instanceof Variable ? fmtShape(v.shape) : typeof v}`);
      }
    });
  }

  /** Every tensor as a real tensor [...shape, 2] (re, im interleaved last), in the parameters' dtype. */
  exportState(): [string, Tensor][] {
    return this.factors.map((f) => {
      const re = f.re.value.toFloat64();
      const im = f.im.value.toFloat64();
      const w = new Float64Array(2 * re.length);
      for (let k = 0; k < re.length; k++) {
        w[2 * k] = re[k]!;
        w[2 * k + 1] = im[k]!;
      }
      return [f.name, Tensor.fromArray(w, [...f.shape, 2], f.re.dtype, 'data')];
    });
  }

  importState(state: Map<string, Tensor>): string[] {
    // every shape is checked before anything is written
    const found = this.factors.flatMap((f) => {
      const t = state.get(f.name);
      if (!t) return [];
      const want = [...f.shape, 2];
      if (!shapeEqual(t.shape, want)) {
        throw new RangeError(`loadStateDict: '${f.name}' of a ${this.kind} spectral weight has shape ${fmtShape(t.shape)}, expected ${fmtShape(want)} (${this.kind} ranks ${fmtTuple(this.ranks)}, re/im last)`);
      }
      return [[f, t] as const];
    });
    for (const [f, t] of found) {
      const v = t.toFloat64();
      const n = v.length / 2;
      const re = new Float64Array(n);
      const im = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        re[k] = v[2 * k]!;
        im[k] = v[2 * k + 1]!;
      }
      f.re.value.set(re);
      f.im.value.set(im);
    }
    return found.map(([f]) => f.name);
  }
}

function shapeEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, k) => s === b[k]);
}

/**
 * The factory of a spectral weight with a factorization ('dense': DenseSpectralWeight). The options
 * are checked here (factorization, implementation, rank's type and value), the layer-dependent ones
 * (separable in == out, a rank giving an empty factor) when each layer's weight is made, before it
 * allocates anything.
 */
export function factorizedWeight(o: FactorizedWeightOptions): SpectralWeightFactory {
  const who = 'factorized weight';
  const factorization = parseFactorization(o.factorization, who);
  parseImplementation(o.implementation ?? 'factorized', who);
  if (typeof o.rank === 'number') checkFraction(o.rank, who);
  const opts = { ...o, factorization };
  return (l) => {
    if (factorization === 'dense' && !(o.separable ?? false)) return new DenseSpectralWeight(l.inChannels, l.outChannels, l.modes, l.rng, l.dtype);
    return new FactorizedSpectralWeight(l.inChannels, l.outChannels, l.modes, { ...opts, rng: l.rng, dtype: l.dtype });
  };
}
