#!/usr/bin/env bash
# Run every benchmark in one go and keep the printed tables in bench/out/results.md.
#   bench/run_all.sh            full run (about 10-15 minutes on 2 cores)
#   bench/run_all.sh --quick    fewer rounds, for a smoke check of the scripts
# PYTHON overrides the interpreter (default: the project's .venv, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONUNBUFFERED=1
rounds=(); runs=()
if [ "${1:-}" = "--quick" ]; then rounds=(--rounds 1); runs=(--runs 3); fi

mkdir -p bench/out
log=bench/out/results.md
: >"$log"
run() { echo; echo "\$ $*"; "$@"; } 2>&1
{
  run "$PYTHON" bench/corpus.py
  run "$PYTHON" bench/bench_startup.py "${runs[@]}" --imports
  run "$PYTHON" bench/bench_compress.py "${rounds[@]}"
  run "$PYTHON" bench/bench_defend.py "${rounds[@]}"
  if "$PYTHON" -c "import torch" 2>/dev/null; then
    run "$PYTHON" bench/bench_torch.py "${rounds[@]}"
  else
    echo "bench_torch.py skipped: torch is not installed (pip install '.[attack]')"
  fi
  # Written by others; run when present, with their own defaults.
  for extra in bench/bench_watch.py bench/bench_cluster.py; do
    if [ -f "$extra" ]; then run "$PYTHON" "$extra"; fi
  done
} 2>&1 | tee -a "$log"
echo "tables saved in $log"
