#!/usr/bin/env bash
# Run every benchmark in one go and keep the printed tables in bench/out/results.md.
#   bench/run_all.sh            full run (about 20-30 minutes on a busy 2-core machine)
#   bench/run_all.sh --quick    one round each, to check that the scripts run
# PYTHON overrides the interpreter (default: the project's .venv, else python3).
# A failing benchmark is reported and the others still run; the exit status is then 1.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONUNBUFFERED=1
rounds=(); runs=()
if [ "${1:-}" = "--quick" ]; then rounds=(--rounds 1); runs=(--runs 3); fi

mkdir -p bench/out
log=bench/out/results.md
: >"$log"
exec > >(tee -a "$log") 2>&1
status=0
run() {
  echo; echo "\$ $*"
  "$@" || { echo "FAILED (exit $?): $*"; status=1; }
}

run "$PYTHON" bench/corpus.py
run "$PYTHON" bench/bench_startup.py "${runs[@]}" --imports
run "$PYTHON" bench/bench_compress.py "${rounds[@]}"
run "$PYTHON" bench/bench_defend.py "${rounds[@]}"
if "$PYTHON" -c "import torch" 2>/dev/null; then
  run "$PYTHON" bench/bench_torch.py "${rounds[@]}"
else
  echo; echo "bench_torch.py skipped: torch is not installed (pip install '.[attack]')"
fi
# Written with lltd watch and the Dask runner; run when present, with their own defaults.
for extra in bench/bench_watch.py bench/bench_cluster.py; do
  if [ -f "$extra" ]; then run "$PYTHON" "$extra"; fi
done
echo; echo "tables saved in $log"
exit "$status"
