#!/usr/bin/env bash
# Runs the PyTorch peers (../shared/peers: torch_darcy16.py, torch_fno.py) and mpno on the same
# workloads, alternately (peer, mpno, peer, mpno, …, one repetition after the other), and prints the
# medians over the repetitions and the ratios mpno / peer as a table.
#
#   bench/peers.sh [--reps N] [--quick] [--only darcy16|fno|kernels] [--threads T] [--out results.jsonl]
#
#   --reps N     repetitions of every workload on each side (default 3; medians are reported)
#   --quick      a few minutes in all: darcy16 for 2 epochs, FNO 64² only, 3 timed steps
#   --only W     only the darcy16 example, only the FNO train/infer steps, or only the kernels (f32 GEMM
#                against numpy's BLAS and rfft2 against numpy's pocketfft, one thread on both sides,
#                bench/numpy_kernels.py)
#   --threads T  threads on both sides (default 2: torch.set_num_threads / MPNO_THREADS)
#   --out F      also keep every run's record (JSON lines) in F
#
# Every run holds /tmp/mpno-bench.lock (flock) so that it never overlaps another timing run. Ratios
# come from runs alternated in one invocation on one machine; absolute times vary between machines
# and with whatever else the machine does, so read the ratios, and rerun on a quiet machine.
# Environment: PEER_PYTHON (default /usr/bin/python3, the interpreter that has torch), MPNO_PEERS (the
# directory of the peer programs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PEER_PYTHON:-/usr/bin/python3}
PEERS=${MPNO_PEERS:-}
if [[ -z "$PEERS" ]]; then
  for d in "$ROOT/../shared/peers"; do
    if [[ -f "$d/torch_fno.py" ]]; then PEERS=$(cd "$d" && pwd); break; fi
  done
fi
LOCK=/tmp/mpno-bench.lock
REPS=3
QUICK=0
ONLY=all
THREADS=2
OUT=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peers.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: --reps must be a positive integer, got '$REPS'" >&2; exit 2; }
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: --threads must be a positive integer, got '$THREADS'" >&2; exit 2; }
[[ "$ONLY" == all || "$ONLY" == darcy16 || "$ONLY" == fno || "$ONLY" == kernels ]] || { echo "peers.sh: --only takes darcy16, fno or kernels, got '$ONLY'" >&2; exit 2; }

if [[ -z "$PEERS" || ! -f "$PEERS/torch_fno.py" || ! -f "$PEERS/torch_darcy16.py" ]]; then
  echo "peers.sh: the peer programs (torch_fno.py, torch_darcy16.py) were not found; set MPNO_PEERS to their directory. Skipping the comparison."
  exit 0
fi
if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
  echo "peers.sh: $PY cannot import torch, so there is no PyTorch peer to compare with; skipping."
  echo "          (Debian: apt-get install -y python3-torch python3-numpy libopenblas0-openmp; or set PEER_PYTHON)"
  exit 0
fi
if [[ ! -f "$ROOT/dist/src/cli/main.js" ]]; then
  echo "peers.sh: $ROOT/dist is missing; run 'npm run build' first" >&2
  exit 1
fi
command -v flock >/dev/null || { echo "peers.sh: flock (util-linux) is needed to keep timing runs apart" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mpno-peers.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

if [[ $QUICK == 1 ]]; then
  EPOCHS=2; GRIDS="64"; STEPS=3; WARMUP=1; KRUNS=5
else
  EPOCHS=15; GRIDS="64 128"; STEPS=10; WARMUP=2; KRUNS=7
fi

# run <workload> <side> <rep> <command…>: runs it under the lock, appends {workload, side, rep, wall_s, out} to RESULTS
run() {
  local workload=$1 side=$2 rep=$3; shift 3
  local log="$WORK/$workload.$side.$rep.log" times="$WORK/times" t0 t1 rc=0
  # the wall time is taken inside the lock: waiting for another timing run does not count
  flock "$LOCK" bash -c 'date +%s.%N > "$0"; "$@"; rc=$?; date +%s.%N >> "$0"; exit $rc' "$times" "$@" > "$log" 2>&1 || rc=$?
  t0=$(sed -n 1p "$times"); t1=$(sed -n 2p "$times")
  if [[ $rc != 0 ]]; then
    echo "peers.sh: $side $workload (rep $rep) failed (exit $rc): $(tail -n 3 "$log" | tr '\n' ' ')" >&2
  fi
  node -e '
    const fs = require("fs");
    const [workload, side, rep, t0, t1, rc, log, peerOut] = process.argv.slice(1);
    const lines = fs.readFileSync(log, "utf8").trim().split("\n");
    let out = null;
    if (workload === "kernels") {
      // every JSON row: numpy prints its own; mpno bench gemm/fft print theirs (only the shapes numpy has are kept)
      const rows = [];
      for (const l of lines) { try { const o = JSON.parse(l); if (o && (o.suite === "gemm" || (o.suite === "fft" && o.name === "rfft2 full"))) rows.push(o); } catch {} }
      out = rows.length ? rows : null;
    } else {
      for (let i = lines.length - 1; i >= 0 && out === null; i--) { try { out = JSON.parse(lines[i]); } catch {} }
    }
    if (peerOut && fs.existsSync(peerOut)) { const l = fs.readFileSync(peerOut, "utf8").trim().split("\n").pop(); out = JSON.parse(l); fs.unlinkSync(peerOut); }
    const rec = { workload, side, rep: Number(rep), ok: Number(rc) === 0 && out !== null, wall_s: Number(t1) - Number(t0), out };
    fs.appendFileSync(process.env.RESULTS, JSON.stringify(rec) + "\n");
    const m = metrics(rec);
    console.log(`  ${side.padEnd(5)} ${workload.padEnd(16)} rep ${rep}: ` + (rec.ok ? Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(k.includes("rss") ? 0 : 2)}`).join(", ") : "FAILED"));
    function metrics(r) {
      if (!r.ok) return {};
      if (r.workload === "darcy16") {
        const ep = r.side === "torch" ? r.out.epoch_log.map((e) => e.time) : r.out.epoch_s;
        const s = [...ep].sort((a, b) => a - b);
        const h = s.length >> 1;
        return { "wall s": r.wall_s, "s/epoch": s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2 };
      }
      if (r.workload === "kernels") return Object.fromEntries(r.out.map((x) => [`${x.name} ${x.shape} ms`, x.median_ms]));
      return { "samples/s": r.out.samples_per_s, "peak rss MiB": r.out.peak_rss_mib };
    }
  ' "$workload" "$side" "$rep" "$t0" "$t1" "$rc" "$log" "${PEER_OUT:-}"
}
export RESULTS

echo "peers.sh: PyTorch ($PY, $("$PY" -c 'import torch; print(torch.__version__)')) vs mpno ($ROOT), $THREADS threads, $REPS repetitions$([[ $QUICK == 1 ]] && echo ', quick')"
echo "          load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (timings are noisy while the machine does other work)"

for rep in $(seq 1 "$REPS"); do
  echo "repetition $rep of $REPS"
  if [[ $ONLY == all || $ONLY == darcy16 ]]; then
    PEER_OUT="$WORK/darcy.jsonl" run darcy16 torch "$rep" "$PY" "$PEERS/torch_darcy16.py" --seed 0 --epochs "$EPOCHS" --threads "$THREADS" --out "$WORK/darcy.jsonl"
    run darcy16 mpno "$rep" env MPNO_THREADS="$THREADS" node "$ROOT/bin/mpno.js" bench darcy16 --epochs "$EPOCHS" --threads "$THREADS" --json
  fi
  if [[ $ONLY == all || $ONLY == kernels ]]; then
    run kernels numpy "$rep" env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$PY" "$ROOT/bench/numpy_kernels.py" --runs "$KRUNS"
    run kernels mpno "$rep" env MPNO_THREADS=1 bash -c 'node "$0/bin/mpno.js" bench gemm --threads 1 --dtypes float32 --runs "$1" --json && node "$0/bin/mpno.js" bench fft --threads 1 --dtypes float32 --runs "$1" --json' "$ROOT" "$KRUNS"
  fi
  if [[ $ONLY == all || $ONLY == fno ]]; then
    for grid in $GRIDS; do
      for mode in train infer; do
        run "fno$grid-$mode" torch "$rep" "$PY" "$PEERS/torch_fno.py" --modes-convention neuralop --grid "$grid" --modes 16 --width 32 --batch 8 \
          --bench "$mode" --precision fp32 --threads "$THREADS" --steps "$STEPS" --warmup "$WARMUP"
        run "fno$grid-$mode" mpno "$rep" env MPNO_THREADS="$THREADS" node "$ROOT/bin/mpno.js" bench fno --grid "$grid" --modes 16 --width 32 --batch 8 \
          --mode "$mode" --precision fp32 --threads "$THREADS" --runs "$STEPS" --warmup "$WARMUP" --json
      done
    done
  fi
done

[[ -n "$OUT" ]] && cp "$RESULTS" "$OUT"

node -e '
  const fs = require("fs");
  const recs = fs.readFileSync(process.env.RESULTS, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const med = (v) => { const s = [...v].sort((a, b) => a - b); const h = s.length >> 1; return s.length === 0 ? NaN : s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
  const rows = [];
  const order = [...new Set(recs.map((r) => r.workload))];
  for (const w of order) {
    const peer = w === "kernels" ? "numpy" : "torch";
    const get = (side, f) => recs.filter((r) => r.workload === w && r.side === side && r.ok).map(f);
    const fails = recs.filter((r) => r.workload === w && !r.ok).length;
    if (w === "darcy16") {
      const ep = (r) => med(r.side === "torch" ? r.out.epoch_log.map((e) => e.time) : r.out.epoch_s);
      rows.push([w, "wall time s (lower is better)", get(peer, (r) => r.wall_s), get("mpno", (r) => r.wall_s), "time", fails]);
      rows.push([w, "s per epoch (median epoch)", get("torch", ep), get("mpno", ep), "time", fails]);
    } else if (w === "kernels") {
      const keys = [...new Set(recs.filter((r) => r.workload === w && r.side === "numpy" && r.ok).flatMap((r) => r.out.map((x) => `${x.name} ${x.shape}`)))];
      for (const k of keys) {
        const pick = (r) => r.out.find((x) => `${x.name} ${x.shape}` === k)?.median_ms;
        const label = k.startsWith("gemm") ? `${k} f32, 1 thread, ms (vs numpy/BLAS)` : `${k} f32, 1 thread, ms (vs numpy pocketfft)`;
        rows.push([w, label, get("numpy", pick).filter((v) => v !== undefined), get("mpno", pick).filter((v) => v !== undefined), "time", fails]);
      }
    } else {
      rows.push([w, "samples/s (higher is better)", get("torch", (r) => r.out.samples_per_s), get("mpno", (r) => r.out.samples_per_s), "rate", fails]);
      rows.push([w, "peak RSS MiB", get("torch", (r) => r.out.peak_rss_mib), get("mpno", (r) => r.out.peak_rss_mib), "mem", fails]);
    }
  }
  const f = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "-");
  console.log("\n| workload | metric | peer median | mpno median | mpno / peer | peer runs | mpno runs |");
  console.log("|---|---|---|---|---|---|---|");
  for (const [w, metric, t, m, kind, fails] of rows) {
    const d = kind === "mem" ? 0 : 2;
    const ratio = med(m) / med(t);
    const hint = kind === "time" ? " (time ratio: < 1 = mpno faster)" : kind === "rate" ? " (speed ratio: > 1 = mpno faster)" : "";
    console.log(`| ${w} | ${metric} | ${f(med(t), d)} | ${f(med(m), d)} | ${f(ratio)}×${hint} | ${t.map((v) => f(v, d)).join(" / ")} | ${m.map((v) => f(v, d)).join(" / ")}${fails ? ` (${fails} failed)` : ""} |`);
  }
  console.log("\nNotes: the peer is PyTorch, for the kernels numpy; medians over the repetitions, peer and mpno alternated; darcy16 wall time is the whole command (interpreter start-up included).");
  console.log("mpno applies gelu(gelu(x)) in the non-last Fourier layers (neuralop without channel MLP), one GELU per layer more than torch_fno.py.");
'
