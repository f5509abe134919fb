import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../core/tensor.js';
import { readSafetensors, writeSafetensors } from '../data/formats/safetensors.js';

/** What a checkpoint holds besides the weights (JSON). */
export interface TrainingState {
  format: 'mpno-checkpoint';
  version: 1;
  /** Epochs completed. */
  epoch: number;
  config: unknown;
  optimizer: unknown;
  scheduler: unknown;
  loaderRng: unknown;
  normalizer: unknown;
  history: unknown[];
  /** Per-layer precision and the loss scaler's state (mixed-precision runs). */
  precision?: unknown;
}

const LATEST = 'latest';

function ckptName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

/**
 * Writes checkpoint `epoch` into runDir/epoch-NNNN: weights as model.safetensors (neuralop names)
 * and state.json, first into a temporary directory that is renamed into place, then the `latest`
 * pointer file (also renamed into place). Keeps the newest `keep` checkpoints.
 */
export function saveCheckpoint(runDir: string, weights: Map<string, Tensor>, state: TrainingState, keep = 2): string {
  mkdirSync(runDir, { recursive: true });
  const final = path.join(runDir, ckptName(state.epoch));
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    writeSafetensors(path.join(tmp, 'model.safetensors'), Object.fromEntries(weights), { format: 'mpno', epoch: String(state.epoch) });
    writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(state));
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const ptr = path.join(runDir, `${LATEST}.tmp-${process.pid}`);
  writeFileSync(ptr, ckptName(state.epoch));
  renameSync(ptr, path.join(runDir, LATEST));
  const all = readdirSync(runDir).filter((n) => /^epoch-\d{4}$/.test(n)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(path.join(runDir, old), { recursive: true, force: true });
  return final;
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

export function loadCheckpoint(dir: string): { dir: string; state: TrainingState; weights: Record<string, Tensor> } {
  const ck = resolveCheckpoint(dir);
  let state: TrainingState;
  try {
    state = JSON.parse(readFileSync(path.join(ck, 'state.json'), 'utf8')) as TrainingState;
  } catch (e) {
    throw new Error(`${ck}/state.json: cannot be read as JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (state.format !== 'mpno-checkpoint' || state.version !== 1) throw new Error(`${ck}/state.json: not an mpno checkpoint (format ${String(state.format)}, version ${String(state.version)})`);
  const { tensors, metadata } = readSafetensors(path.join(ck, 'model.safetensors'), { role: 'data' });
  if (metadata['epoch'] !== String(state.epoch)) {
    for (const t of Object.values(tensors)) t.release();
    throw new Error(`${ck}: model.safetensors is from epoch ${metadata['epoch']} but state.json from epoch ${state.epoch}`);
  }
  return { dir: ck, state, weights: tensors };
}
