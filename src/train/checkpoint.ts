import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../core/tensor.js';
import { fsStep, makeDirectory } from '../data/formats/atomic.js';
import { readSafetensors, writeSafetensors } from '../data/formats/safetensors.js';
import { type RunConfig, validateConfig } from './config.js';

/** What a checkpoint holds besides the weights (JSON). */
export interface TrainingState {
  format: 'mpno-checkpoint';
  version: 1;
  /** Epochs completed. */
  epoch: number;
  config: RunConfig;
  optimizer: unknown;
  scheduler: unknown;
  loaderRng: unknown;
  normalizer: unknown;
  history: unknown[];
  /** Per-layer precision and the loss scaler's state (mixed-precision runs). */
  precision?: unknown;
  /** Where the weights came from when they were imported (e.g. a neuralop checkpoint), not trained here. */
  source?: Record<string, unknown>;
}

const LATEST = 'latest';

function ckptName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

/**
 * Writes checkpoint `epoch` into runDir/epoch-NNNN: weights as model.safetensors (neuralop names)
 * and state.json, first into a temporary directory that is renamed into place, then the `latest`
 * pointer file (also renamed into place). Keeps the newest `keep` checkpoints of this run: only
 * epochs up to this one are candidates, and the one just written is never removed, so `latest`
 * always names an existing checkpoint. `beforeRename` is a fault-injection hook (tests).
 */
export function saveCheckpoint(runDir: string, weights: Map<string, Tensor>, state: TrainingState, keep = 2, beforeRename?: () => void): string {
  makeDirectory(runDir, 'run directory');
  const final = path.join(runDir, ckptName(state.epoch));
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  fsStep('create the checkpoint directory', tmp, () => mkdirSync(tmp));
  try {
    writeSafetensors(path.join(tmp, 'model.safetensors'), Object.fromEntries(weights), { format: 'mpno', epoch: String(state.epoch) });
    const statePath = path.join(tmp, 'state.json');
    fsStep('write the training state', statePath, () => writeFileSync(statePath, JSON.stringify(state)));
    beforeRename?.();
    rmSync(final, { recursive: true, force: true });
    fsStep('rename the checkpoint into place', final, () => renameSync(tmp, final));
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const ptr = path.join(runDir, `${LATEST}.tmp-${process.pid}`);
  fsStep(`write the '${LATEST}' pointer`, ptr, () => {
    writeFileSync(ptr, ckptName(state.epoch));
    renameSync(ptr, path.join(runDir, LATEST));
  });
  const mine = readdirSync(runDir).filter((n) => /^epoch-\d{4}$/.test(n) && Number(n.slice(6)) <= state.epoch).sort();
  for (const old of mine.slice(0, Math.max(0, mine.length - Math.max(1, keep)))) rmSync(path.join(runDir, old), { recursive: true, force: true });
  return final;
}

/** What in a directory belongs to an mpno run: the `latest` pointer, epoch-NNNN checkpoints, metrics.jsonl. */
export function runEntries(runDir: string): string[] {
  if (!existsSync(runDir)) return [];
  if (!statSync(runDir).isDirectory()) throw new Error(`${runDir}: the run directory is a file`);
  return readdirSync(runDir).filter((n) => n === LATEST || n === 'metrics.jsonl' || /^epoch-\d{4}$/.test(n)).sort();
}

/** Removes a run's entries (the `latest` pointer first, so that it never names a removed checkpoint); other files stay. */
export function clearRun(runDir: string): void {
  const entries = runEntries(runDir);
  for (const n of [...entries.filter((e) => e === LATEST), ...entries.filter((e) => e !== LATEST)]) {
    const p = path.join(runDir, n);
    fsStep('remove the old run\'s file', p, () => rmSync(p, { recursive: true, force: true }));
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Removes the temporaries that killed processes left in a run directory: `epoch-NNNN.tmp-<pid>`
 * checkpoint directories, `latest.tmp-<pid>` pointers and atomic-write temporaries
 * (`.<name>.<pid>.<hex>.tmp`) whose process no longer runs. A live process's temporaries are left
 * alone. Returns the names removed.
 */
export function removeStaleTemporaries(runDir: string): string[] {
  if (!existsSync(runDir)) return [];
  const removed: string[] = [];
  for (const n of readdirSync(runDir)) {
    const m = /^(?:epoch-\d{4}|latest)\.tmp-(\d+)$/.exec(n) ?? /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/.exec(n);
    if (!m || processAlive(Number(m[1]))) continue;
    const p = path.join(runDir, n);
    fsStep('remove a stale temporary', p, () => rmSync(p, { recursive: true, force: true }));
    removed.push(n);
  }
  return removed;
}

/** The checkpoint `latest` names in a run directory (undefined when there is none). */
export function latestName(runDir: string): string | undefined {
  const ptr = path.join(runDir, LATEST);
  return existsSync(ptr) ? readFileSync(ptr, 'utf8').trim() : undefined;
}

/** Resolves a run directory (through `latest`) or a checkpoint directory to the checkpoint directory. */
export function resolveCheckpoint(dir: string): string {
  if (existsSync(path.join(dir, 'state.json'))) return dir;
  const ptr = path.join(dir, LATEST);
  if (!existsSync(ptr)) throw new Error(`${dir}: not a checkpoint (no state.json) and not a run directory (no '${LATEST}')`);
  const name = readFileSync(ptr, 'utf8').trim();
  const ck = path.join(dir, name);
  if (!existsSync(path.join(ck, 'state.json'))) throw new Error(`${dir}: '${LATEST}' points to ${name}, which has no state.json`);
  return ck;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Checks a checkpoint's state.json against the schema: format and version, the epoch count, the
 * run config (validated as a config file is: its model family must be registered), the history,
 * and the types of the optimizer, scheduler, loader, normaliser and precision states. A state of
 * another shape is a named error here, not a crash later.
 */
export function checkTrainingState(state: unknown, where: string): asserts state is TrainingState {
  if (!isObject(state)) throw new TypeError(`${where}: a checkpoint state is a JSON object, got ${JSON.stringify(state)}`);
  if (state['format'] !== 'mpno-checkpoint' || state['version'] !== 1) throw new Error(`${where}: not an mpno checkpoint (format ${String(state['format'])}, version ${String(state['version'])})`);
  const epoch = state['epoch'];
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0) throw new TypeError(`${where}: 'epoch' must be a non-negative integer, got ${JSON.stringify(epoch)}`);
  state['config'] = validateConfig(state['config'], `${where} (its config)`);
  if (!Array.isArray(state['history'])) throw new TypeError(`${where}: 'history' must be a list of epoch records, got ${JSON.stringify(state['history'])}`);
  for (const k of ['optimizer', 'loaderRng'] as const) {
    if (!isObject(state[k])) throw new TypeError(`${where}: '${k}' must be an object, got ${JSON.stringify(state[k])}`);
  }
  for (const k of ['scheduler', 'normalizer', 'precision'] as const) {
    if (state[k] !== undefined && state[k] !== null && !isObject(state[k])) throw new TypeError(`${where}: '${k}' must be an object or null, got ${JSON.stringify(state[k])}`);
  }
}

export function loadCheckpoint(dir: string): { dir: string; state: TrainingState; weights: Record<string, Tensor> } {
  const ck = resolveCheckpoint(dir);
  let state: TrainingState;
  try {
    state = JSON.parse(readFileSync(path.join(ck, 'state.json'), 'utf8')) as TrainingState;
  } catch (e) {
    throw new Error(`${ck}/state.json: cannot be read as JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  checkTrainingState(state, `${ck}/state.json`);
  const { tensors, metadata } = readSafetensors(path.join(ck, 'model.safetensors'), { role: 'data' });
  if (metadata['epoch'] !== String(state.epoch)) {
    for (const t of Object.values(tensors)) t.release();
    throw new Error(`${ck}: model.safetensors is from epoch ${metadata['epoch']} but state.json from epoch ${state.epoch}`);
  }
  return { dir: ck, state, weights: tensors };
}
