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
# Each job keeps its checkpoint (git-ignored) beside its row, for the McNemar tests
# (mcnemar.py, which keeps their test predictions; the search's runs and baseline I's seed 1
# ran before the lanes kept them).
#   1. the search: E in {60, 100, 150} epochs, lr x0.1 after 50% and 75% of E, DDSE (lane 1) and
#      baseline I (lane 2), seed 0, each method at its rate picked in step 0;
#   2. E picked on validation error (pick_schedule.py; each lane waits for the other's search);
#   3. the defaults, 5 seeds, every method, in results/reproduction/step-E<E> (the search's seed-0
#      runs at that E are its first rows);
#   4. sparsity and ablations, 3 seeds: DDSE (lane 1) and V (lane 2) at s/n 0.1 and 0.5 in
#      step-E<E>-sparsity (V at 0.1 in step-E<E>-sparsity-v-repicked, at the rate picked again
#      there, lr-sparsity0.1, since it diverged at its default rate), DDSE without
#      the weight constraint (lane 1, step-E<E>-ablation-dense) and with random initialisation
#      (lane 2, step-E<E>-ablation-random-init);
#   5. how much data, 3 seeds: DDSE and I (lane 1), IV and V (lane 2) at ts/t 0.05, 0.1, 0.25 and 0.5,
#      smallest first, step-matched (E scaled as the epochs are) in step-E<E>-samples;
#   6. width and depth (Figures 4 and 6), 3 seeds, the same split of methods: m in {800, 2000} in
#      step-E<E>-width, then k in {1, 6} in step-E<E>-depth.
# Steps 5 and 6 leave out --beside (the defaults' rows of the other lane may not have landed yet):
# the write-up redraws their tables with `--plot-only --beside results/reproduction/step-E<E>`.
set -euo pipefail
cd "$(dirname "$0")/../.."
lane=${1:-}
case "$lane" in
  1) search=ddse; defaults=ddse,fc-dropout,lista; figures=ddse,fc ;;
  2) search=fc; defaults=fc,fc-dropconnect,ddse-noskip; figures=lista,ddse-noskip ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
ddse=${DDSE:-ddse}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1  # one BLAS thread per job
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE           # the processor's own BLAS kernels (Protocol)
grid=(60 100 150)
sweep() {  # sweep NAME VALUES E SEEDS METHODS OUT [ARGS...]: on the fixed schedule of E epochs
  local name=$1 values=$2 epochs=$3 seeds=$4 methods=$5 out=$6; shift 6
  echo "lane $lane: $name=$values E=$epochs seeds=$seeds $methods $* ($(date -u +%FT%TZ))" >&2
  "$ddse" sweep "$name" --values "$values" --methods "$methods" --budget paper --seeds "$seeds" \
      --set epochs="$epochs" --set aug_elastic=34 --set schedule=step --set lr_drops=0.5,0.75 \
      --lr-from results/reproduction/lr --workers 1 --keep-checkpoints \
      --out "results/reproduction/$out" "$@"
}
run() {  # run E SEEDS METHODS [ARGS...]: the defaults' network (k = 2) in step-E<E>
  sweep depth 2 "$1" "$2" "$3" "step-E$1" "${@:4}"
}
for epochs in "${grid[@]}"; do run "$epochs" 1 "$search"; done
while true; do  # pick_schedule.py: 0 picked, 3 the other lane's search still running, else stop
  status=0; chosen=$(python3 results/reproduction/pick_schedule.py "${grid[@]/#/step-E}") || status=$?
  [ "$status" = 0 ] && break
  [ "$status" = 3 ] || { echo "lane $lane: no schedule picked (status $status)" >&2; exit 1; }
  sleep 120
done
echo "lane $lane: E = $chosen picked on validation error ($(date -u +%FT%TZ))" >&2
run "$chosen" 5 "$defaults"
if [ "$lane" = 1 ]; then
  sweep sparsity 0.1,0.5 "$chosen" 3 ddse "step-E$chosen-sparsity"
  sweep sparsity 1 "$chosen" 3 ddse "step-E$chosen-ablation-dense" --set init_sparsity=0.25
else
  sweep sparsity 0.1 "$chosen" 3 ddse-noskip "step-E$chosen-sparsity-v-repicked" \
      --lr-from results/reproduction/lr-sparsity0.1
  sweep sparsity 0.5 "$chosen" 3 ddse-noskip "step-E$chosen-sparsity"
  sweep depth 2 "$chosen" 3 ddse "step-E$chosen-ablation-random-init" --set init=random
fi
for ts in 0.05 0.1 0.25 0.5; do
  sweep samples "$ts" "$chosen" 3 "$figures" "step-E$chosen-samples"
done
sweep width 800,2000 "$chosen" 3 "$figures" "step-E$chosen-width"
sweep depth 1,6 "$chosen" 3 "$figures" "step-E$chosen-depth"
echo "lane $lane: done ($(date -u +%FT%TZ))" >&2
