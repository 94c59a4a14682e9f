#!/usr/bin/env bash
# The GPU measurements of issue 4 in one command (about 3 minutes on one GPU):
#   benchmarks/gpu.sh [OUTDIR]
# Needs CuPy (any cupy-cuda1x wheel) and, for the comparison, PyTorch with CUDA. Writes
# OUTDIR/gpu_train.json (ddse_np on cupy vs PyTorch on CUDA, and the cuBLAS GEMM ceiling),
# OUTDIR/gpu_sparse.json (dense vs CSR inference), OUTDIR/device.txt, and prints both tables.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-.}}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/device.txt" 2>&1 || true
date -u +%Y-%m-%dT%H:%MZ >> "$out/device.txt"
python -c "import cupy; print('cupy', cupy.__version__)" >> "$out/device.txt"
timeout 240 python benchmarks/bench_train.py --backend cupy --shapes default,m2000,k6 --rounds 5 \
    --save "$out/gpu_train.json" | tee "$out/gpu_train.txt"
timeout 120 python benchmarks/bench_sparse.py --backend cupy --seconds 0.3 \
    --save "$out/gpu_sparse.json" | tee "$out/gpu_sparse.txt"
cat "$out/device.txt"
