#!/usr/bin/env bash
# Mixed precision against full precision on the FNO bench workload (torch_fno.py's model: width 32,
# modes 16, batch 8): `mpno bench fno --mode train` in fp32, mixed-bf16 and mixed-fp16 (AMP + mixed
# Fourier blocks + tanh stabiliser, or none with --stabilizer none), alternated run by run, several
# repetitions; prints the medians and the ratios to fp32 of samples/s, peak ledger and peak RSS.
#
#   bench/mixed-vs-full.sh [--reps N] [--grids "64 128"] [--threads T] [--runs R] [--stabilizer tanh|none]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=3; GRIDS="64 128"; THREADS=2; RUNS=5; STAB=tanh
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --grids) GRIDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --stabilizer) STAB=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "mixed-vs-full.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$STAB" == tanh || "$STAB" == none ]] || { echo "mixed-vs-full.sh: --stabilizer must be tanh or none, got '$STAB'" >&2; exit 2; }
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "mixed-vs-full.sh: --reps must be a positive integer, got '$REPS'" >&2; exit 2; }
[[ -f "$ROOT/dist/src/cli/main.js" ]] || { echo "mixed-vs-full.sh: $ROOT/dist is missing; run 'npm run build' first" >&2; exit 1; }
OUT=$(mktemp /tmp/mpno-mvf.XXXXXX)
trap 'rm -f "$OUT"' EXIT
echo "mixed-vs-full.sh: $REPS repetitions, grids $GRIDS, $THREADS threads, $RUNS timed steps per run, stabiliser $STAB in the 16-bit runs"
for rep in $(seq 1 "$REPS"); do
  for grid in $GRIDS; do
    for p in fp32 mixed-bf16 mixed-fp16; do
      MPNO_THREADS="$THREADS" node "$ROOT/bin/mpno.js" bench fno --grid "$grid" --mode train --precision "$p" \
        --threads "$THREADS" --runs "$RUNS" --stabilizer "$STAB" --json | tail -n 1 | tee -a "$OUT" | \
        node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`  rep '"$rep"' ${r.name}: ${r.samples_per_s.toFixed(2)} samples/s, ledger ${r.peak_ledger_mib.toFixed(0)} MiB, RSS ${r.peak_rss_mib.toFixed(0)} MiB`)'
    done
  done
done
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const med = (v) => { const s = [...v].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
  console.log("\n| grid | precision | samples/s (median) | vs fp32 | peak ledger MiB | vs fp32 | peak RSS MiB | vs fp32 | runs (samples/s) |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const g of [...new Set(rows.map((r) => r.grid))]) {
    const pick = (p, k) => med(rows.filter((r) => r.grid === g && r.precision === p).map((r) => r[k]));
    for (const p of ["fp32", "mixed-bf16", "mixed-fp16"]) {
      const sel = rows.filter((r) => r.grid === g && r.precision === p);
      const [s, l, m] = ["samples_per_s", "peak_ledger_mib", "peak_rss_mib"].map((k) => pick(p, k));
      const [s0, l0, m0] = ["samples_per_s", "peak_ledger_mib", "peak_rss_mib"].map((k) => pick("fp32", k));
      console.log(`| ${g}² | ${p} | ${s.toFixed(2)} | ${(s / s0).toFixed(2)}× | ${l.toFixed(0)} | ${(l / l0).toFixed(2)}× | ${m.toFixed(0)} | ${(m / m0).toFixed(2)}× | ${sel.map((r) => r.samples_per_s.toFixed(2)).join(" / ")} |`);
    }
  }
' "$OUT"
