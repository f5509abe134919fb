/**
 * bench fno: the workload of the PyTorch peer ../shared/peers/torch_fno.py (`--modes-convention
 * neuralop`), measured the same way: one configuration per process, `warmup` untimed steps, then
 * `steps` timed steps, median step time → samples/s, and the process's peak RSS.
 *
 * Model (torch_fno.py's classic FNO-2D layout): lifting 1×1 conv (1 + 2 grid channels → 8·width) →
 * GELU → 1×1 conv (→ width); 4 Fourier layers with linear skips; projection width → 8·width → 1.
 * In mpno: FNO({ n_modes: [modes, modes], hidden_channels: width, lifting_channel_ratio: 8,
 * projection_channel_ratio: 8, use_channel_mlp: false, fno_skip: 'linear' }) (1,201,825 parameters at
 * width 32, modes 16, as the peer). One difference, kept on purpose: mpno follows neuralop, which applies
 * gelu(gelu(·)) in the non-last Fourier layers when the channel MLP is off; torch_fno.py applies one
 * GELU. mpno therefore computes one GELU (and its gradient) per layer more than the peer.
 *
 * train step = zero grads + forward + relative L2 loss (summed over the batch) + backward + Adam step
 * (lr 1e-3, weight decay 1e-4, as the peer); infer = forward under no-grad.
 */
import { Rng } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { Variable, backward, noGrad, tidy } from '../src/autograd/variable.js';
import { LpLoss } from '../src/losses/index.js';
import { type NeuralOperator, buildModel } from '../src/models/registry.js';
import type { BlockPrecision, HalfType } from '../src/precision/policy.js';
import { Adam } from '../src/optim/index.js';
import { GradScaler } from '../src/precision/scaler.js';
import { pool } from '../src/kernels/pool.js';
import { measure } from './harness.js';

/** Precisions: the peer's names where it has the mode (fp32, mixed-bf16), mpno's own otherwise. */
export const FNO_PRECISIONS = ['fp32', 'mixed-bf16', 'mixed-fp16', 'half-bf16', 'half-fp16'] as const;
export type FnoBenchPrecision = (typeof FNO_PRECISIONS)[number];

export interface FnoBenchOptions {
  grid: number;
  modes: number;
  width: number;
  batch: number;
  precision: FnoBenchPrecision;
  mode: 'train' | 'infer';
  /** Timed steps (the peer's --steps). */
  steps: number;
  /** Untimed steps first (the peer's --warmup). */
  warmup: number;
  /** The spectral branch's stabiliser in the 16-bit precisions (default 'tanh', the paper's; fp32 has none). */
  stabilizer?: 'tanh' | 'none';
  seed?: number;
}

export interface FnoBenchRow extends Omit<FnoBenchOptions, 'seed' | 'stabilizer'> {
  suite: 'fno';
  /** The stabiliser the model ran with (none in fp32). */
  stabilizer: 'tanh' | 'none';
  name: string;
  threads: number;
  params: number;
  median_step_s: number;
  min_step_s: number;
  samples_per_s: number;
  peak_rss_mib: number;
  peak_ledger_mib: number;
  /** The loss of the last step (train), as a sanity check. */
  final_loss: number | null;
  note: string;
  /** Tasks handed to worker threads, those the main thread claimed back, the spin budget (µs). */
  handoffs: number;
  claimed_back: number;
  spin_us: number;
}

export const GELU_NOTE = 'mpno applies gelu(gelu(x)) in non-last layers (neuralop without channel MLP); torch_fno.py applies one GELU';

function precisionOf(p: FnoBenchPrecision): { block: BlockPrecision; half: HalfType | null } {
  if (p === 'fp32') return { block: 'full', half: null };
  const [block, h] = p.split('-') as ['mixed' | 'half', 'bf16' | 'fp16'];
  return { block, half: h === 'bf16' ? 'bfloat16' : 'float16' };
}

/** Builds the peer's model in mpno (see the file comment). */
export function peerFno(o: Pick<FnoBenchOptions, 'modes' | 'width' | 'precision' | 'stabilizer'> & { seed?: number }): NeuralOperator {
  const { block, half } = precisionOf(o.precision);
  const tanh = half !== null && (o.stabilizer ?? 'tanh') === 'tanh';
  return buildModel({
    name: 'FNO',
    n_modes: [o.modes, o.modes], in_channels: 1, out_channels: 1, hidden_channels: o.width,
    lifting_channel_ratio: 8, projection_channel_ratio: 8, use_channel_mlp: false, fno_skip: 'linear',
    seed: o.seed ?? 0,
    ...(half ? { fno_block_precision: block, half_type: half, amp: true } : {}),
    ...(tanh ? { stabilizer: 'tanh' as const } : {}),
  }, { seed: o.seed ?? 0 });
}

/** Runs one configuration in this process (call it in a fresh process for a meaningful peak RSS). */
export function runFnoBench(o: FnoBenchOptions): FnoBenchRow {
  for (const [k, v] of [['grid', o.grid], ['modes', o.modes], ['width', o.width], ['batch', o.batch], ['steps', o.steps]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`bench fno: --${k} must be a positive integer, got ${v}`);
  }
  if (!(FNO_PRECISIONS as readonly string[]).includes(o.precision)) throw new RangeError(`bench fno: --precision must be one of ${FNO_PRECISIONS.join(', ')}, got '${o.precision}'`);
  if (o.mode !== 'train' && o.mode !== 'infer') throw new RangeError(`bench fno: --mode must be train or infer, got '${String(o.mode)}'`);
  const stab = o.stabilizer ?? 'tanh';
  if (stab !== 'tanh' && stab !== 'none') throw new RangeError(`bench fno: --stabilizer must be tanh or none, got '${String(stab)}'`);
  const used = o.precision === 'fp32' ? 'none' : stab;
  const m = peerFno(o);
  const params = m.parameters().reduce((s, p) => s + p.value.size, 0);
  const rng = new Rng(1);
  const x = rng.fillNormal(Tensor.empty([o.batch, 1, o.grid, o.grid], 'float32', 'data'));
  const y = rng.fillNormal(Tensor.empty([o.batch, 1, o.grid, o.grid], 'float32', 'data'));
  const loss = new LpLoss({ d: 2, p: 2 });
  let finalLoss: number | null = null;
  let step: () => void;
  let opt: Adam | undefined;
  if (o.mode === 'train') {
    const adam = new Adam(m.parameters(), { lr: 1e-3, weight_decay: 1e-4 });
    opt = adam;
    const scaler = precisionOf(o.precision).half === 'float16' ? new GradScaler() : undefined;
    step = () => {
      adam.zeroGrad();
      const l = tidy(() => loss.forward(m.forward(Variable.constant(x)), y));
      backward(l, scaler ? Tensor.full([], scaler.scale, l.dtype, 'gradient') : undefined);
      finalLoss = l.value.item();
      l.release();
      if (!scaler || scaler.unscaleAndCheck(m.parameters())) adam.step();
    };
  } else {
    step = () => noGrad(() => tidy(() => void m.forward(Variable.constant(x))));
  }
  const r = measure(step, { runs: o.steps, warmup: o.warmup });
  const row: FnoBenchRow = {
    suite: 'fno',
    name: `FNO ${o.grid}² ${o.mode} ${o.precision}${o.precision !== 'fp32' && used === 'none' ? ' (no stabiliser)' : ''}`,
    grid: o.grid, modes: o.modes, width: o.width, batch: o.batch, precision: o.precision, mode: o.mode, stabilizer: used,
    threads: pool.threads, params, steps: o.steps, warmup: o.warmup,
    median_step_s: r.median_ms / 1000, min_step_s: r.best_ms / 1000,
    samples_per_s: (1000 * o.batch) / r.median_ms,
    peak_rss_mib: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    peak_ledger_mib: r.peak_ledger_bytes / 2 ** 20,
    final_loss: finalLoss,
    note: GELU_NOTE,
    handoffs: pool.posted, claimed_back: pool.stolen, spin_us: pool.spinMicros,
  };
  for (const t of [x, y]) t.release();
  opt?.release();
  m.release();
  return row;
}

export function fnoHeader(): string {
  const h = `${'name'.padEnd(26)} ${'threads'.padEnd(7)} ${'params'.padEnd(10)} ${'median s'.padEnd(9)} ${'samples/s'.padEnd(10)} ${'peak RSS MiB'.padEnd(12)} ledger MiB`;
  return `${h}\n${'-'.repeat(h.length)}`;
}

export function fnoRowText(r: FnoBenchRow): string {
  return `${r.name.padEnd(26)} ${String(r.threads).padEnd(7)} ${String(r.params).padEnd(10)} ${r.median_step_s.toFixed(3).padEnd(9)} ${r.samples_per_s.toFixed(2).padEnd(10)} ${r.peak_rss_mib.toFixed(0).padEnd(12)} ${r.peak_ledger_mib.toFixed(0)}`;
}
