/**
 * neuralop checkpoints in and out.
 *
 * In: what neuralop's `model.save_checkpoint(dir, name)` writes — `<name>_state_dict.pt` (the state
 * dict, with the constructor arguments under the key `_metadata`) and `<name>_metadata.pkl` (the
 * constructor arguments: `_name`, `_version`, `args` and every keyword argument, some of them
 * functions such as torch.nn.functional.gelu) — or a plain `torch.save(model.state_dict())` file
 * with the model given as an mpno config section. The pickles are read by the safe unpickler of
 * src/data/formats/pt.ts: functions and classes are recognised by their qualified names from an
 * allow-list, nothing is imported or run. Every constructor argument is mapped to mpno's option of
 * the same name, accepted when it only changes how neuralop computes (e.g. gno_use_open3d), or
 * refused by name when mpno would compute something else.
 *
 * Out: the state dict under neuralop's names and layouts (complex spectral tensors as complex64)
 * and the constructor arguments as JSON, so that `FNO(**json.load(f))` +
 * `load_state_dict(safetensors.torch.load_file(...))` rebuilds the model in PyTorch.
 */
import { Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import { type PtDict, PtRef, type PtTensor, type PtValue, isPtTensor, ptToTensor, readPt } from '../data/formats/pt.js';
import { decodeSafetensors } from '../data/formats/safetensors-codec.js';
import { platform } from '../core/platform.js';
import { modelNames } from '../models/registry.js';
import { type FNOOptions, resolveFnoOptions } from '../models/fno.js';
import { type TFNOOptions, resolveTfnoOptions } from '../models/tfno.js';
import { type SFNOOptions, resolveSfnoOptions } from '../models/sfno.js';
import { type GINOOptions, resolveGinoOptions } from '../models/gino.js';
import type { Module } from '../nn/module.js';
import type { NormalizerState } from '../data/dataset.js';

/** Functions and classes a neuralop checkpoint may name (by reference, never imported). */
const GELU = new Set(['torch._C._nn.gelu', 'torch.nn.functional.gelu']);
const SPECTRAL_CONV = 'neuralop.layers.spectral_convolution.SpectralConv';
const SPHERICAL_CONV = 'neuralop.layers.spherical_convolution.SphericalConv';
/** The activations mpno has, by the qualified names a pickle gives torch's functions. */
const ACTIVATION_REFS: Record<string, string> = {
  'torch._C._nn.gelu': 'gelu', 'torch.nn.functional.gelu': 'gelu',
  'torch.nn.functional.relu': 'relu', 'torch.relu': 'relu', 'torch._C._VariableFunctions.relu': 'relu',
  'torch._C._nn.silu': 'silu', 'torch.nn.functional.silu': 'silu',
  'torch.tanh': 'tanh', 'torch.nn.functional.tanh': 'tanh', 'torch._C._VariableFunctions.tanh': 'tanh',
  'torch.sigmoid': 'sigmoid', 'torch.nn.functional.sigmoid': 'sigmoid', 'torch._C._VariableFunctions.sigmoid': 'sigmoid',
};
export const NEURALOP_REFS: ReadonlySet<string> = new Set([
  ...Object.keys(ACTIVATION_REFS),
  ...GELU,
  'torch._C._nn.silu', 'torch.nn.functional.silu', 'torch.nn.functional.relu', 'torch.relu', 'torch.tanh', 'torch.nn.functional.tanh',
  'torch.sigmoid', 'torch.nn.functional.sigmoid', 'torch._C._nn.leaky_relu', 'torch.nn.functional.leaky_relu', 'torch._C._nn.elu',
  'torch.nn.functional.elu', 'torch._C._nn.softplus', 'torch.nn.functional.softplus', 'torch._C._nn.hardtanh',
  SPECTRAL_CONV, SPHERICAL_CONV,
]);

/** The neuralop model classes mpno has a family for (the metadata's `_name`). */
export const NEURALOP_FAMILIES = ['FNO', 'TFNO', 'SFNO', 'GINO'] as const;

/** neuralop FNO's constructor arguments in signature order (positional `args` are matched to these). */
const FNO_SIGNATURE = [
  'n_modes', 'in_channels', 'out_channels', 'hidden_channels', 'n_layers', 'lifting_channel_ratio', 'projection_channel_ratio',
  'positional_embedding', 'non_linearity', 'norm', 'norm_groups', 'complex_data', 'use_channel_mlp', 'channel_mlp_dropout',
  'channel_mlp_expansion', 'channel_mlp_skip', 'fno_skip', 'conv_bias_kernel', 'resolution_scaling_factor', 'domain_padding',
  'fno_block_precision', 'stabilizer', 'max_n_modes', 'factorization', 'rank', 'fixed_rank_modes', 'implementation',
  'decomposition_kwargs', 'separable', 'preactivation', 'conv_module', 'enforce_hermitian_symmetry',
];
const GINO_SIGNATURE = ['in_channels', 'out_channels', 'latent_feature_channels', 'projection_channel_ratio', 'gno_coord_dim', 'in_gno_radius', 'out_gno_radius'];

/** Arguments passed to mpno as they are. */
const FNO_DIRECT = new Set([
  'n_modes', 'in_channels', 'out_channels', 'hidden_channels', 'n_layers', 'lifting_channel_ratio', 'projection_channel_ratio',
  'use_channel_mlp', 'channel_mlp_expansion', 'channel_mlp_skip', 'fno_skip', 'fno_block_precision', 'stabilizer', 'norm', 'norm_groups', 'preactivation', 'channel_mlp_dropout',
]);

/** Arguments mpno has no option for: accepted while they hold this value (neuralop computes the same), refused otherwise. */
const FNO_DEFAULT_ONLY: Record<string, PtValue> = {
  complex_data: false, conv_bias_kernel: 1, resolution_scaling_factor: null,
};

/** Arguments that change nothing mpno computes (how neuralop initialises or computes the same numbers). */
const FNO_NO_EFFECT = new Set(['fixed_rank_modes', 'enforce_hermitian_symmetry', 'verbose']);

const GINO_DEFAULT_ONLY: Record<string, PtValue> = {
  fno_preactivation: false, fno_resolution_scaling_factor: null, fno_channel_mlp_dropout: 0, fno_separable: false,
  gno_weighting_function: null, gno_weight_function_scale: 1,
};
const GINO_NO_EFFECT = new Set(['fno_fixed_rank_modes', 'fno_enforce_hermitian_symmetry', 'gno_use_open3d', 'gno_use_torch_scatter', 'verbose']);

export class NeuralopError extends Error {
  override name = 'NeuralopError';
}

function isDict(v: unknown): v is PtDict {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && !isPtTensor(v) && !(v instanceof PtRef);
}

function show(v: PtValue | undefined): string {
  if (v instanceof PtRef) return v.qualified;
  if (isPtTensor(v)) return `a tensor ${fmtShape(v.shape)}`;
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x instanceof PtRef ? x.qualified : x));
}

function equal(a: PtValue | undefined, b: PtValue): boolean {
  return show(a) === show(b);
}

/** A neuralop model as mpno will build it, and its weights in mpno's layout. */
export interface NeuralopModel {
  /** The mpno config's model section (family name + options). */
  model: { name: string } & Record<string, unknown>;
  weights: Map<string, Tensor>;
  /** The neuralop class and version the checkpoint recorded. */
  source: { class: string; version: string | null };
  /** What the import did that a user should know (e.g. weights sliced to n_modes). */
  notes: string[];
}

/** Reads `<dir>/<name>_metadata.pkl` and `<dir>/<name>_state_dict.pt` (neuralop's save_checkpoint). */
export function readNeuralopCheckpoint(dir: string, name: string): { metadata: PtDict; state: PtDict; files: string[] } {
  const metaFile = `${dir}/${name}_metadata.pkl`;
  const stateFile = `${dir}/${name}_state_dict.pt`;
  const metadata = readPt(metaFile, { allowRefs: NEURALOP_REFS });
  if (!isDict(metadata)) throw new NeuralopError(`${metaFile}: neuralop's metadata is a dict of constructor arguments, got ${show(metadata)}`);
  const state = readPt(stateFile, { allowRefs: NEURALOP_REFS });
  if (!isDict(state)) throw new NeuralopError(`${stateFile}: a state dict is a dict of tensors, got ${show(state)}`);
  return { metadata, state, files: [metaFile, stateFile] };
}

/**
 * What `mpno export --format neuralop` wrote into `dir` (model.safetensors with the class in its
 * metadata, config.json with the constructor arguments), as a checkpoint's metadata and weights.
 */
export function readNeuralopExport(dir: string): { metadata: PtDict; weights: Map<string, Tensor>; files: string[] } {
  const cfgFile = `${dir}/config.json`;
  const stFile = `${dir}/model.safetensors`;
  let text: string;
  try {
    text = new TextDecoder().decode(platform.readFile(cfgFile));
  } catch (e) {
    throw new NeuralopError(`${cfgFile}: cannot be read (${e instanceof Error ? e.message : String(e)})`);
  }
  return { ...neuralopExportFromBytes(text, cfgFile, platform.readFile(stFile), stFile), files: [cfgFile, stFile] };
}

/** readNeuralopExport on the files' contents (config.json's text, model.safetensors's bytes); the names are for errors. */
export function neuralopExportFromBytes(configText: string, cfgFile: string, weightBytes: Uint8Array, stFile: string): { metadata: PtDict; weights: Map<string, Tensor> } {
  let args: unknown;
  try {
    args = JSON.parse(configText);
  } catch (e) {
    throw new NeuralopError(`${cfgFile}: cannot be read as JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isDict(args as PtValue)) throw new NeuralopError(`${cfgFile}: the constructor arguments are a JSON object, got ${JSON.stringify(args)}`);
  const { tensors, metadata } = decodeSafetensors(weightBytes, stFile, { role: 'parameter' });
  const cls = metadata['neuralop_class'];
  if (!cls) {
    for (const t of Object.values(tensors)) t.release();
    throw new NeuralopError(`${stFile}: no 'neuralop_class' in its metadata (not written by mpno export --format neuralop)`);
  }
  return { metadata: { ...(args as PtDict), _name: cls }, weights: new Map(Object.entries(tensors)) };
}

/** A state dict file (torch.save(model.state_dict()), or neuralop's with its `_metadata`). */
export function readStateDict(file: string): PtDict {
  const state = readPt(file, { allowRefs: NEURALOP_REFS });
  if (!isDict(state)) throw new NeuralopError(`${file}: a state dict is a dict of tensors, got ${show(state)}`);
  return state;
}

/** The constructor arguments of a metadata dict, positional `args` matched to the signature. */
/** Arguments neuralop's config files give as the string "None" (zencfg), read as None. */
const NONE_STRINGS = new Set(['norm', 'factorization', 'stabilizer', 'fno_norm', 'fno_factorization', 'fno_stabilizer', 'positional_embedding', 'domain_padding']);

function keywordArguments(meta: PtDict, signature: readonly string[], where: string): Record<string, PtValue> {
  const out: Record<string, PtValue> = {};
  for (const [k, v] of Object.entries(meta)) if (k !== 'args' && k !== '_name' && k !== '_version') out[k] = NONE_STRINGS.has(k) && v === 'None' ? null : v;
  const args = meta['args'] ?? [];
  if (!Array.isArray(args)) throw new NeuralopError(`${where}: 'args' (the positional arguments) must be a tuple, got ${show(args)}`);
  if (args.length > signature.length) throw new NeuralopError(`${where}: ${args.length} positional arguments, the signature has ${signature.length}`);
  args.forEach((v, i) => {
    const k = signature[i]!;
    // BaseModel records a default for every keyword argument, also those given positionally: the positional value wins
    out[k] = v;
  });
  return out;
}

function toNumberList(v: PtValue, name: string, where: string): number[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.some((x) => typeof x !== 'number')) throw new NeuralopError(`${where}: '${name}' must be an int or a tuple of ints, got ${show(v)}`);
  return list as number[];
}

/** A state dict's tensors as float32 (complex ones as [..., 2]); neuralop's `_metadata` entry dropped. */
export function stateDictTensors(state: PtDict, where: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  try {
    for (const [k, v] of Object.entries(state)) {
      if (k === '_metadata') continue;
      if (!isPtTensor(v)) throw new NeuralopError(`${where}: state dict entry '${k}' is ${show(v)}, not a tensor`);
      if (v.dtype !== 'float32' && v.dtype !== 'float64' && v.dtype !== 'float16' && v.dtype !== 'bfloat16') {
        throw new NeuralopError(`${where}: state dict entry '${k}' has dtype ${v.dtype}; model weights are floating point`);
      }
      out.set(k, ptToTensor(v, 'float32', 'parameter'));
    }
  } catch (e) {
    for (const t of out.values()) t.release();
    throw e;
  }
  return out;
}

/** t restricted to [start, start + len) on `axis`. */
function sliceAxis(t: Tensor, axis: number, start: number, len: number): Tensor {
  const shape = [...t.shape];
  const outer = shapeSize(shape.slice(0, axis));
  const inner = shapeSize(shape.slice(axis + 1));
  const n = shape[axis]!;
  shape[axis] = len;
  const out = Tensor.empty(shape, 'float32', 'parameter');
  const src = t.data as Float32Array;
  const dst = out.data as Float32Array;
  for (let o = 0; o < outer; o++) dst.set(src.subarray((o * n + start) * inner, (o * n + start + len) * inner), o * len * inner);
  return out;
}

/**
 * neuralop keeps max_n_modes modes in each spectral weight and uses the n_modes around the centre
 * (the first ones on the last axis); mpno stores the used ones only. Slices every spectral weight (or
 * each factor of a mode axis) of `convs` to them.
 */
function sliceToModes(weights: Map<string, Tensor>, nModes: number[], maxModes: number[], separable: boolean, where: string, notes: string[]): void {
  const d = nModes.length;
  if (maxModes.length !== d) throw new NeuralopError(`${where}: max_n_modes ${show(maxModes)} and n_modes ${show(nModes)} have different lengths`);
  const used = nModes.map((m, i) => (i === d - 1 ? Math.floor(m / 2) + 1 : m));
  const first = separable ? 1 : 2; // axes before the modes: (in, out) or (in)
  let sliced = 0;
  for (const [k, t] of [...weights]) {
    const m = /^(.*\.convs\.\d+\.weight)\.(tensor|core|weights|factors\.factor_(\d+))$/.exec(k);
    if (!m) continue;
    const cases: [number, number][] = []; // [mode index, tensor axis]
    if (m[2] === 'tensor') for (let a = 0; a < d; a++) cases.push([a, first + a]);
    else if (m[3] !== undefined) {
      const f = Number(m[3]);
      if (f >= first) {
        // CP/Tucker factors are [size, rank]; TT cores [rank, size, rank]
        const tt = !weights.has(`${m[1]}.core`) && !weights.has(`${m[1]}.weights`);
        cases.push([f - first, tt ? 1 : 0]);
      }
    }
    let cur = t;
    for (const [a, axis] of cases) {
      const have = cur.shape[axis]!;
      if (have !== maxModes[a]) throw new NeuralopError(`${where}: '${k}' has ${have} modes on axis ${axis}, max_n_modes says ${maxModes[a]}`);
      if (have === used[a]) continue;
      if (used[a]! > have) throw new NeuralopError(`${where}: n_modes ${show(nModes)} uses ${used[a]} modes on axis ${a}, more than the ${have} of max_n_modes`);
      const s = have - used[a]!;
      const start = a === d - 1 ? 0 : Math.floor(s / 2);
      const next = sliceAxis(cur, axis, start, used[a]!);
      if (cur !== t) cur.release();
      cur = next;
    }
    if (cur !== t) {
      t.release();
      weights.set(k, cur);
      sliced++;
    }
  }
  if (sliced) notes.push(`max_n_modes ${show(maxModes)}: ${sliced} spectral tensors sliced to the ${show(used)} modes n_modes ${show(nModes)} uses`);
}

/** The explicit ranks of layer 0's factorised weight, read off the state dict (the same for every layer, checked). */
function ranksFromState(weights: Map<string, Tensor>, factorization: string, prefix: string, where: string): number[] {
  const layerRanks = new Map<string, string>();
  const ranksOf = (w: string): number[] | undefined => {
    const core = weights.get(`${w}.core`);
    const cpw = weights.get(`${w}.weights`);
    if (factorization === 'tucker') return core ? core.shape.slice(0, -1) : undefined;
    if (factorization === 'cp') return cpw ? [cpw.shape[0]!] : undefined;
    const r: number[] = [1];
    for (let i = 0; ; i++) {
      const f = weights.get(`${w}.factors.factor_${i}`) ?? weights.get(`${w}.factors.${i}`);
      if (!f) break;
      r.push(f.shape[f.ndim - 2]!);
    }
    return r.length > 1 ? r : undefined;
  };
  for (const k of weights.keys()) {
    const m = new RegExp(`^(${prefix.replace(/\./g, '\\.')}convs\\.\\d+\\.weight)\\.`).exec(k);
    if (!m || layerRanks.has(m[1]!)) continue;
    const r = ranksOf(m[1]!);
    if (!r) throw new NeuralopError(`${where}: '${m[1]}' has no ${factorization === 'tucker' ? 'core' : factorization === 'cp' ? 'weights' : 'factors'}, which a ${factorization} weight has`);
    layerRanks.set(m[1]!, JSON.stringify(r));
  }
  const all = [...new Set(layerRanks.values())];
  if (all.length === 0) throw new NeuralopError(`${where}: the state dict has no spectral weights under '${prefix}convs.'`);
  if (all.length > 1) throw new NeuralopError(`${where}: the spectral layers have different ranks (${all.join(', ')}); mpno gives every layer the same`);
  return JSON.parse(all[0]!) as number[];
}

function normalizeFactorization(v: PtValue | undefined, where: string, key: string): { kind: 'dense' | 'cp' | 'tucker' | 'tt'; realView: boolean } {
  if (v === null || v === undefined) return { kind: 'dense', realView: false };
  if (typeof v !== 'string') throw new NeuralopError(`${where}: '${key}' must be a string or None, got ${show(v)}`);
  let s = v.toLowerCase();
  const realView = s.startsWith('complex');
  if (realView) s = s.slice('complex'.length);
  if (s !== 'dense' && s !== 'cp' && s !== 'tucker' && s !== 'tt') throw new NeuralopError(`${where}: ${key} '${v}' is not one mpno has (Dense, CP, Tucker, TT)`);
  return { kind: s, realView };
}

/**
 * Maps a neuralop checkpoint (its metadata and state dict) to an mpno model section and weights.
 * Throws NeuralopError naming the argument mpno cannot reproduce.
 */
export function neuralopToMpno(metadata: PtDict, state: PtDict | Map<string, Tensor>, where: string): NeuralopModel {
  const cls = metadata['_name'];
  if (typeof cls !== 'string') throw new NeuralopError(`${where}: the metadata has no '_name' (the neuralop model class)`);
  if (!(NEURALOP_FAMILIES as readonly string[]).includes(cls)) {
    throw new NeuralopError(`${where}: neuralop model '${cls}' has no mpno family (mpno imports ${NEURALOP_FAMILIES.join(', ')}; registered families: ${modelNames().join(', ')})`);
  }
  const version = typeof metadata['_version'] === 'string' ? metadata['_version'] : null;
  // a Map is already converted (an export's safetensors); its tensors become the result's
  const weights = state instanceof Map ? state : stateDictTensors(state, where);
  try {
    const notes: string[] = [];
    const model = minimal(cls === 'GINO' ? ginoOptions(metadata, weights, where, notes) : fnoOptions(cls, metadata, weights, where, notes));
    return { model, weights, source: { class: cls, version }, notes };
  } catch (e) {
    for (const t of weights.values()) t.release();
    throw e;
  }
}

/** The family's options with every default filled in (how two model sections are compared). */
function resolved(spec: { name: string } & Record<string, unknown>): string {
  const { name, ...o } = spec;
  const r: unknown = name === 'FNO' ? resolveFnoOptions(o as unknown as FNOOptions)
    : name === 'TFNO' ? resolveTfnoOptions(o as unknown as TFNOOptions)
      : name === 'SFNO' ? resolveSfnoOptions(o as unknown as SFNOOptions)
        : name === 'GINO' ? resolveGinoOptions(o as unknown as GINOOptions) : o;
  return JSON.stringify({ name, r });
}

/** Whether two model sections describe the same model (equal once the family's defaults are filled in). */
export function sameModel(a: { name: string } & Record<string, unknown>, b: { name: string } & Record<string, unknown>): boolean {
  if (a.name !== b.name) return false;
  try {
    return resolved(a) === resolved(b);
  } catch {
    return false;
  }
}

/** The model section without the options that hold the family's default (what a user would write). */
function minimal(spec: { name: string } & Record<string, unknown>): { name: string } & Record<string, unknown> {
  const out = { ...spec };
  const full = resolved(out);
  for (const k of Object.keys(spec)) {
    if (k === 'name') continue;
    const { [k]: _drop, ...rest } = out;
    void _drop;
    try {
      if (resolved(rest as typeof spec) === full) delete out[k];
    } catch {
      // a required option stays
    }
  }
  return out;
}

function refuse(where: string, key: string, v: PtValue | undefined, only: string): never {
  throw new NeuralopError(`${where}: neuralop argument '${key}' = ${show(v)} is not supported by mpno (only ${only})`);
}

function checkActivation(where: string, key: string, v: PtValue | undefined): void {
  if (v === undefined || (v instanceof PtRef && GELU.has(v.qualified))) return;
  refuse(where, key, v, 'torch.nn.functional.gelu, neuralop\'s default');
}

function fnoOptions(cls: string, metadata: PtDict, weights: Map<string, Tensor>, where: string, notes: string[]): { name: string } & Record<string, unknown> {
  const kw = keywordArguments(metadata, FNO_SIGNATURE, where);
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kw)) {
    if (FNO_DIRECT.has(k)) o[k] = v;
    else if (Object.hasOwn(FNO_DEFAULT_ONLY, k)) {
      if (!equal(v, FNO_DEFAULT_ONLY[k]!)) refuse(where, k, v, show(FNO_DEFAULT_ONLY[k]!));
    } else if (FNO_NO_EFFECT.has(k)) continue;
    else if (k === 'non_linearity') {
      const name = v instanceof PtRef ? ACTIVATION_REFS[v.qualified] : typeof v === 'string' ? v : undefined;
      if (name === undefined) refuse(where, k, v, `one of ${[...new Set(Object.values(ACTIVATION_REFS))].join(', ')} (torch.nn.functional's)`);
      o[k] = name;
    }
    else if (k === 'decomposition_kwargs' || k === 'max_n_modes' || k === 'factorization' || k === 'rank' || k === 'implementation' || k === 'separable' || k === 'conv_module' || k === 'domain_padding' || k === 'positional_embedding') continue; // below
    else throw new NeuralopError(`${where}: unknown neuralop ${cls} argument '${k}' = ${show(v)}`);
  }
  for (const k of ['n_modes', 'in_channels', 'out_channels', 'hidden_channels']) {
    if (kw[k] === undefined) throw new NeuralopError(`${where}: the metadata has no '${k}', a required ${cls} argument`);
  }
  const nModes = toNumberList(kw['n_modes']!, 'n_modes', where);
  o['n_modes'] = nModes;
  const pe = kw['positional_embedding'];
  if (pe !== undefined) {
    if (pe !== null && pe !== 'grid') refuse(where, 'positional_embedding', pe, "'grid' or None");
    o['positional_embedding'] = pe;
  }
  const dp = kw['domain_padding'];
  if (dp !== undefined && dp !== null) {
    const list = toNumberList(dp, 'domain_padding', where);
    // one number pads every axis; a list pads each axis by its own fraction
    if (!Array.isArray(dp)) o['domain_padding'] = list[0] === 0 ? null : list[0];
    else o['domain_padding'] = list.every((p) => p === 0) ? null : list.every((p) => p === list[0]) ? list[0] : list;
  }
  const dk = kw['decomposition_kwargs'];
  if (dk !== undefined && dk !== null && !(isDict(dk) && Object.keys(dk).length === 0)) refuse(where, 'decomposition_kwargs', dk, 'None or {}');
  const conv = kw['conv_module'];
  const wantConv = cls === 'SFNO' ? SPHERICAL_CONV : SPECTRAL_CONV;
  if (conv !== undefined && !(conv instanceof PtRef && conv.qualified === wantConv)) refuse(where, 'conv_module', conv, `${wantConv} for ${cls}`);
  // factorization: TFNO's class defaults are Tucker and rank 0.1; SFNO's 'dense'
  const facKey = kw['factorization'] !== undefined ? kw['factorization'] : cls === 'TFNO' ? 'Tucker' : cls === 'SFNO' ? 'dense' : null;
  const fac = normalizeFactorization(facKey, where, 'factorization');
  const separable = kw['separable'] ?? false;
  if (typeof separable !== 'boolean') throw new NeuralopError(`${where}: 'separable' must be a bool, got ${show(separable)}`);
  const mx = kw['max_n_modes'];
  if (mx !== undefined && mx !== null) {
    if (cls === 'SFNO') {
      if (!equal(toNumberList(mx, 'max_n_modes', where), nModes)) refuse(where, 'max_n_modes', mx, 'None or n_modes for SFNO');
    } else sliceToModes(weights, nModes, toNumberList(mx, 'max_n_modes', where), separable, where, notes);
  }
  const impl = kw['implementation'] ?? 'factorized';
  if (impl !== 'factorized' && impl !== 'reconstructed') refuse(where, 'implementation', impl, "'factorized' or 'reconstructed'");
  let family = cls === 'TFNO' ? 'TFNO' : cls;
  if (cls === 'SFNO') {
    if (separable) refuse(where, 'separable', separable, 'False for SFNO');
    if (fac.kind !== 'dense') Object.assign(o, { factorization: fac.kind, rank: ranksFromState(weights, fac.kind, 'fno_blocks.', where), implementation: impl });
  } else if (fac.kind !== 'dense' || separable) {
    family = 'TFNO';
    Object.assign(o, { factorization: fac.kind, implementation: impl, separable });
    if (fac.kind !== 'dense') o['rank'] = ranksFromState(weights, fac.kind, 'fno_blocks.', where);
  } else family = 'FNO';
  if (o['norm'] === null || o['norm'] === undefined) delete o['norm_groups']; // used by a group norm only
  return { name: family, ...o };
}

function ginoOptions(metadata: PtDict, weights: Map<string, Tensor>, where: string, notes: string[]): { name: string } & Record<string, unknown> {
  void notes;
  const kw = keywordArguments(metadata, GINO_SIGNATURE, where);
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kw)) {
    if (Object.hasOwn(GINO_DEFAULT_ONLY, k)) {
      if (!equal(v, GINO_DEFAULT_ONLY[k]!)) refuse(where, k, v, show(GINO_DEFAULT_ONLY[k]!));
    } else if (GINO_NO_EFFECT.has(k)) continue;
    else if (k === 'gno_channel_mlp_non_linearity' || k === 'fno_non_linearity') checkActivation(where, k, v);
    else if (k === 'fno_conv_module') {
      if (!(v instanceof PtRef && v.qualified === SPECTRAL_CONV)) refuse(where, k, v, SPECTRAL_CONV);
    } else if (k === 'fno_ada_in_features' || k === 'fno_ada_in_dim') continue; // used by an ada_in norm only (refused by the model)
    else if (k === 'fno_decomposition_kwargs') {
      if (v !== null && !(isDict(v) && Object.keys(v).length === 0)) refuse(where, k, v, 'None or {}');
    } else if (k === 'fno_factorization') {
      const fac = normalizeFactorization(v, where, k);
      if (fac.kind !== 'dense') {
        o['fno_factorization'] = fac.kind;
        o['fno_rank'] = ranksFromState(weights, fac.kind, 'fno_blocks.', where);
      }
    } else if (k === 'fno_rank') continue; // read off the state dict with the factorization
    else if (k === 'fno_n_modes' || k === 'in_gno_channel_mlp_hidden_layers' || k === 'out_gno_channel_mlp_hidden_layers') o[k] = toNumberList(v, k, where);
    else o[k] = v;
  }
  return { name: 'GINO', ...o };
}

/**
 * neuralop's DefaultDataProcessor state dict (`out_normalizer.mean`, `out_normalizer.std`, shaped
 * [1, C, 1, …]) as mpno's channel-wise output normaliser. An input normaliser, or one that is not
 * channel-wise, is a named error (mpno normalises outputs per channel).
 */
export function normalizerFromDataProcessor(state: PtDict, file: string, eps: number): NormalizerState {
  const keys = Object.keys(state);
  const inKeys = keys.filter((k) => k.startsWith('in_normalizer.') && isPtTensor(state[k]));
  if (inKeys.length) throw new NeuralopError(`${file}: has an input normaliser (${inKeys.join(', ')}); mpno normalises outputs only (train without encode_input, or fold the input normalisation into the data)`);
  const get = (k: string): PtTensor => {
    const t = state[k];
    if (!isPtTensor(t)) throw new NeuralopError(`${file}: no tensor '${k}' (it has ${keys.join(', ') || 'nothing'}); expected DefaultDataProcessor.state_dict() with out_normalizer.mean and out_normalizer.std`);
    return t;
  };
  const mean = get('out_normalizer.mean');
  const std = get('out_normalizer.std');
  if (fmtShape(mean.shape) !== fmtShape(std.shape)) throw new NeuralopError(`${file}: out_normalizer.mean ${fmtShape(mean.shape)} and out_normalizer.std ${fmtShape(std.shape)} differ in shape`);
  if (mean.shape.length < 2 || mean.shape.some((s, i) => i !== 1 && s !== 1)) {
    throw new NeuralopError(`${file}: out_normalizer.mean has shape ${fmtShape(mean.shape)}; mpno's normaliser is channel-wise ([1, C, 1, …], neuralop's dim=[0, 2, 3])`);
  }
  const vals = (t: PtTensor): number[] => {
    const x = ptToTensor(t, 'float64');
    const a = Array.from(x.data as Float64Array);
    x.release();
    return a;
  };
  return { mean: vals(mean), std: vals(std), eps };
}

// ---------------------------------------------------------------------------------------------
// export

/** The names neuralop (tltorch) gives a spectral weight's tensors: all complex. */
const COMPLEX_NAME = /\.weight\.(tensor|core|weights|factors\.factor_\d+)$/;

/**
 * The model's weights under neuralop's state-dict names: a dense spectral weight 'weight' →
 * 'weight.tensor', factorised ones by tltorch's factor-list names ('weight.factors.factor_<n>'); and
 * the names that are complex tensors in neuralop (stored here as float32 [..., 2]). The caller owns
 * the tensors.
 */
export function neuralopStateDict(model: Module): { tensors: Map<string, Tensor>; complex: Set<string> } {
  const toNeuralop = new Map<string, string>();
  for (const [alias, name] of model.stateAliasMap()) {
    if (/\.weight\.tensor$/.test(alias) || /\.factors\.factor_\d+$/.test(alias)) toNeuralop.set(name, alias);
  }
  const tensors = new Map<string, Tensor>();
  const complex = new Set<string>();
  for (const [name, t] of model.stateDict()) {
    const n = toNeuralop.get(name) ?? name;
    tensors.set(n, t);
    if (COMPLEX_NAME.test(n) && /convs\.\d+\./.test(n)) {
      if (t.shape[t.ndim - 1] !== 2) throw new NeuralopError(`export: '${name}' ${fmtShape(t.shape)} is a complex weight without its (re, im) axis`);
      complex.add(n);
    }
  }
  return { tensors, complex };
}

/**
 * neuralop's class and constructor arguments for an mpno model section (what `FNO(**args)` takes):
 * mpno's own options (half_type, amp, seeds, dtypes) are left out; an option neuralop cannot take
 * (an fft_norm other than 'forward', SFNO on Gauss–Legendre grids) is a named error.
 */
export function neuralopArguments(model: { name: string } & Record<string, unknown>): { cls: string; args: Record<string, unknown> } {
  const { name, ...o } = model;
  if (!(NEURALOP_FAMILIES as readonly string[]).includes(name)) throw new NeuralopError(`export: model family '${name}' has no neuralop class`);
  const dropped = new Set(['half_type', 'amp', 'emulate_half_fft', 'seed', 'dtype', 'in_gno_quadrature']);
  if (o['fft_norm'] !== undefined && o['fft_norm'] !== 'forward') throw new NeuralopError(`export: fft_norm '${String(o['fft_norm'])}' cannot be given to neuralop's ${name} (its SpectralConv uses 'forward')`);
  const grids = o['sht_grids'];
  if (grids !== undefined && (Array.isArray(grids) ? grids : [grids]).some((g) => g !== 'equiangular')) {
    throw new NeuralopError(`export: sht_grids ${JSON.stringify(grids)} cannot be given to neuralop's SFNO (its FNO passes no grid to SphericalConv: equiangular)`);
  }
  if (name === 'GINO' && o['in_gno_quadrature'] === true) throw new NeuralopError("export: in_gno_quadrature is an mpno option; neuralop's GINO takes the quadrature weights as a forward argument, not a constructor argument");
  const args: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!dropped.has(k) && k !== 'fft_norm' && k !== 'sht_grids') args[k] = v;
  const rankKey = name === 'GINO' ? 'fno_rank' : 'rank';
  const facKey = name === 'GINO' ? 'fno_factorization' : 'factorization';
  const fac = typeof args[facKey] === 'string' ? (args[facKey] as string).toLowerCase() : undefined;
  // tensorly's explicit ranks: an int for CP, a tuple for Tucker and TT
  if (Array.isArray(args[rankKey]) && fac === 'cp') args[rankKey] = (args[rankKey] as number[])[0];
  if (name === 'TFNO') {
    args['factorization'] ??= 'tucker';
    args['rank'] ??= 0.1;
  }
  return { cls: name, args };
}

/** Renames neuralop's state-dict keys to the model's own names (through its aliases). */
export function toModelNames(model: Module, weights: Map<string, Tensor>): Record<string, Tensor> {
  const aliases = model.stateAliasMap();
  const out: Record<string, Tensor> = {};
  for (const [k, t] of weights) {
    const name = aliases.get(k) ?? k;
    if (Object.hasOwn(out, name)) throw new NeuralopError(`the state dict has both '${k}' and another name of '${name}'`);
    out[name] = t;
  }
  return out;
}
