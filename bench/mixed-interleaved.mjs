#!/usr/bin/env node
// Mixed against full precision on the FNO bench's train step (bench fno's model and step: torch_fno.py's
// FNO, width 32, modes 16, batch 8, relative L2, Adam), with the steps of fp32, mixed-bf16 and mixed-fp16
// interleaved in one process (fp32, bf16, fp16, fp32, …), so that a noisy machine slows all three alike.
// Prints the median step time of each and its speed ratio to fp32. Needs `npm run build`.
//
//   node bench/mixed-interleaved.mjs [--grid 64] [--rounds 12] [--threads 1] [--stabilizer tanh|none]
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
if (!existsSync(fileURLToPath(new URL('bench/fno.js', dist)))) {
  console.error('mixed-interleaved: dist is missing; run npm run build first');
  process.exit(1);
}
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const int = (name, dflt) => {
  const v = Number(opt(name, dflt));
  if (!Number.isInteger(v) || v < 1) {
    console.error(`mixed-interleaved: ${name} must be a positive integer, got '${opt(name, dflt)}'`);
    process.exit(2);
  }
  return v;
};
const grid = int('--grid', '64');
const rounds = int('--rounds', '12');
const threads = int('--threads', '1');
const stabilizer = opt('--stabilizer', 'tanh');
if (stabilizer !== 'tanh' && stabilizer !== 'none') {
  console.error(`mixed-interleaved: --stabilizer must be tanh or none, got '${stabilizer}'`);
  process.exit(2);
}
const imp = (p) => import(new URL(p, dist).href);
const { Rng } = await imp('src/core/rng.js');
const { Tensor } = await imp('src/core/tensor.js');
const { Variable, backward, tidy } = await imp('src/autograd/variable.js');
const { LpLoss } = await imp('src/losses/index.js');
const { Adam } = await imp('src/optim/index.js');
const { GradScaler } = await imp('src/precision/scaler.js');
const { pool } = await imp('src/kernels/pool.js');
const { peerFno } = await imp('bench/fno.js');

pool.setThreads(threads);
const rng = new Rng(1);
const x = rng.fillNormal(Tensor.empty([8, 1, grid, grid], 'float32', 'data'));
const y = rng.fillNormal(Tensor.empty([8, 1, grid, grid], 'float32', 'data'));
const loss = new LpLoss({ d: 2, p: 2 });
const cases = ['fp32', 'mixed-bf16', 'mixed-fp16'].map((precision) => {
  const m = peerFno({ modes: 16, width: 32, precision, stabilizer });
  const adam = new Adam(m.parameters(), { lr: 1e-3, weight_decay: 1e-4 });
  const scaler = precision === 'mixed-fp16' ? new GradScaler() : undefined;
  const step = () => {
    adam.zeroGrad();
    const l = tidy(() => loss.forward(m.forward(Variable.constant(x)), y));
    backward(l, scaler ? Tensor.full([], scaler.scale, l.dtype, 'gradient') : undefined);
    l.release();
    if (!scaler || scaler.unscaleAndCheck(m.parameters())) adam.step();
  };
  return { precision, step, ms: [] };
});
for (const c of cases) for (let w = 0; w < 2; w++) c.step();
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const t0 = performance.now();
    c.step();
    c.ms.push(performance.now() - t0);
  }
}
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const base = median(cases[0].ms);
console.log(`FNO ${grid}² train step, ${threads} thread(s), stabiliser ${stabilizer} in the 16-bit runs, ${rounds} interleaved rounds`);
for (const c of cases) console.log(`  ${c.precision.padEnd(10)} median ${median(c.ms).toFixed(1)} ms, ${(base / median(c.ms)).toFixed(3)}× fp32's speed`);
