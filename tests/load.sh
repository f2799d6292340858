#!/usr/bin/env bash
# Run the test suite several times in a row, each in a new random order (pytest-randomly), while
# CPU burners keep every core busy: the check that no test waits on time instead of on its event.
#
#   tests/load.sh [-n RUNS] [-b BURNERS] [PYTEST ARGS...]
#
# RUNS defaults to 3, BURNERS to the number of cores; PYTEST ARGS default to the whole suite.
# Examples:  tests/load.sh                      # "passes three times in a row under load"
#            tests/load.sh -n 1 -m "not systemd" tests/test_watch_shared.py
# The interpreter is $PYTHON, else .venv/bin/python. Burners are stopped by PID when the script
# ends, and each also exits by itself once this script is gone (even after a SIGKILL).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
burners=$(nproc)
# Only -n and -b, and only first: every other argument is pytest's (-m, -k, -x, ...).
while [ $# -ge 2 ] && { [ "$1" = -n ] || [ "$1" = -b ]; }; do
  case $1 in
    -n) runs=$2 ;;
    -b) burners=$2 ;;
  esac
  shift 2
done
case ${1:-} in -h | --help) sed -n '2,11p' "$0"; exit 0 ;; esac
python=${PYTHON:-.venv/bin/python}

if ! "$python" -c 'import pytest_randomly' 2>/dev/null; then
  echo "load.sh: pytest-randomly is not installed in $python (it is in the test extra)" >&2
  exit 2
fi

pids=()
stop_burners() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_burners EXIT

# Each burner spins at normal priority and checks now and then that this script still lives.
burn='import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(2_000_000):
        pass'
for _ in $(seq "$burners"); do
  python3 -c "$burn" $$ &
  pids+=($!)
done
echo "load.sh: $burners burners (PIDs ${pids[*]}), $runs runs of: pytest -p randomly $*"

for run in $(seq "$runs"); do
  seed=$(( (RANDOM << 15) | RANDOM ))
  start=$SECONDS
  if "$python" -m pytest -p randomly --randomly-seed="$seed" "$@"; then
    echo "load.sh: run $run/$runs passed (seed $seed, $((SECONDS - start)) s, load: $(cut -d' ' -f1-3 /proc/loadavg))"
  else
    status=$?
    echo "load.sh: run $run/$runs FAILED (exit $status, seed $seed; rerun that order with --randomly-seed=$seed)" >&2
    exit "$status"
  fi
done
echo "load.sh: $runs of $runs runs passed under load"
