#!/usr/bin/env bash
# The comparison on one fixed step schedule (docs/reproduction.md, "The amended protocol"), as two
# single-worker lanes with disjoint jobs. After the README's install, from the repository root:
#
#   nohup results/reproduction/run_fixed.sh 1 > lane1.log 2>&1 &
#   nohup results/reproduction/run_fixed.sh 2 > lane2.log 2>&1 &
#
# DDSE=/path/to/ddse runs another installed copy of the code (a frozen worktree) instead of the
# `ddse` on the PATH. Every `ddse sweep` skips the jobs already in its results.jsonl and continues a
# job cut short from its partial run, so the same two commands carry on where the studies stand.
#   1. the search: E in {60, 100, 150} epochs, lr x0.1 after 50% and 75% of E, DDSE (lane 1) and
#      baseline I (lane 2), seed 0, each method at its rate picked in step 0;
#   2. E picked on validation error (pick_schedule.py; each lane waits for the other's search);
#   3. the defaults, 5 seeds, every method, in results/reproduction/step-E<E> (the search's seed-0
#      runs at that E are its first rows).
set -euo pipefail
cd "$(dirname "$0")/../.."
lane=${1:-}
case "$lane" in
  1) search=ddse; defaults=ddse,fc-dropout,lista ;;
  2) search=fc; defaults=fc,fc-dropconnect,ddse-noskip ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
ddse=${DDSE:-ddse}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1  # one BLAS thread per job
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE           # the processor's own BLAS kernels (Protocol)
grid=(60 100 150)
run() {  # run E SEEDS METHODS [ARGS...]: the defaults' network on the fixed schedule of E epochs
  local epochs=$1 seeds=$2 methods=$3; shift 3
  echo "lane $lane: E=$epochs seeds=$seeds $methods $* ($(date -u +%FT%TZ))" >&2
  "$ddse" sweep depth --values 2 --methods "$methods" --budget paper --seeds "$seeds" --set epochs="$epochs" \
      --set aug_elastic=34 --set schedule=step --set lr_drops=0.5,0.75 --lr-from results/reproduction/lr \
      --workers 1 --out "results/reproduction/step-E$epochs" "$@"
}
for epochs in "${grid[@]}"; do run "$epochs" 1 "$search"; done
until chosen=$(python3 results/reproduction/pick_schedule.py "${grid[@]/#/step-E}"); do
  sleep 120  # the other lane's search is still running
done
echo "lane $lane: E = $chosen picked on validation error ($(date -u +%FT%TZ))" >&2
run "$chosen" 5 "$defaults"
echo "lane $lane: done ($(date -u +%FT%TZ))" >&2
