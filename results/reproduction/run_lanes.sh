#!/usr/bin/env bash
# Studies 2-4 of docs/reproduction.md, as two single-worker lanes with disjoint jobs (one per core,
# so neither waits idle for the other's last job). After the README's install, its environment
# active (`ddse` on the PATH), from the repository root:
#
#   nohup results/reproduction/run_lanes.sh 1 > lane1.log 2>&1 &
#   nohup results/reproduction/run_lanes.sh 2 > lane2.log 2>&1 &
#
# Each `ddse sweep` skips the jobs already in its results.jsonl and continues a job cut short from
# its partial run, so after an interruption the same two commands carry on where the studies stand.
# A job's result does not depend on its lane or order: the lanes make the rows one call with
# `--workers 2` would.
set -euo pipefail
cd "$(dirname "$0")/../.."
lane=${1:-}
case "$lane" in
  1) methods=ddse,fc; sparse=ddse ;;
  2) methods=lista,ddse-noskip; sparse=ddse-noskip ;;
  *) echo "usage: $0 1|2" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1  # one BLAS thread per job
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE           # the processor's own BLAS kernels (Protocol)
common=(--budget paper --seeds 3 --set epochs=60 --set aug_elastic=34 --set patience=6
        --lr-from results/reproduction/lr --workers 1)
run() { echo "lane $lane: ddse sweep $* ($(date -u +%FT%TZ))" >&2; ddse sweep "$@" "${common[@]}"; }

# Study 2, samples (Fig. 5): each ts/t in turn, smallest first
for ts in 0.05 0.1 0.25 0.5; do
  run samples --values "$ts" --methods "$methods" --keep-checkpoints --out results/reproduction/samples-steps
done
# Study 3, sparsity (Fig. 3): DDSE in lane 1, baseline V in lane 2
if [ "$lane" = 2 ]; then
  # V diverged in the first 30 steps of all three seeds at s/n = 0.1 and its rate 0.05: its rate
  # there is picked again by step 0's short validation sweep, and its runs made at that rate
  echo "lane 2: V's learning rate at s/n = 0.1, and its runs at that rate ($(date -u +%FT%TZ))" >&2
  ddse sweep lr --methods ddse-noskip --set sparsity=0.1 --budget paper --set epochs=3 --seeds 1 --workers 1 \
      --out results/reproduction/lr-sparsity0.1
  ddse sweep sparsity --values 0.1 --methods ddse-noskip --budget paper --seeds 3 --set epochs=60 \
      --set aug_elastic=34 --set patience=6 --lr-from results/reproduction/lr-sparsity0.1 --workers 1 \
      --out results/reproduction/sparsity-v-repicked
fi
run sparsity --values 0.1,0.5 --methods "$sparse" --out results/reproduction/sparsity
# Study 4, ablations: DDSE without the weight constraint (s = n) in lane 1, with random weights in lane 2
if [ "$lane" = 1 ]; then
  run sparsity --values 1 --methods ddse --set init_sparsity=0.25 --out results/reproduction/ablation-dense
else
  run depth --values 2 --methods ddse --set init=random --out results/reproduction/ablation-random-init
fi
echo "lane $lane: done ($(date -u +%FT%TZ))" >&2
