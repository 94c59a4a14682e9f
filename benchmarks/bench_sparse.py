"""Dense against sparse (CSR) inference of a trained-size DDSE, by density s/n and batch size.

    python benchmarks/bench_sparse.py                       # m=1024, k=2, this machine's threads
    python benchmarks/bench_sparse.py --threads 1 --json

Times the forward pass (PCA input -> logits) both ways, alternating, median of repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_info import check_native, describe  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--densities", default="0.05,0.1,0.25,0.5")
    p.add_argument("--batches", default="1,128,10000")
    p.add_argument("--m", type=int, default=1024)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--seconds", type=float, default=1.0, help="time budget per measurement")
    p.add_argument("--save", default=None, help="also write the results as JSON to this file")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--require-native",
        action="store_true",
        help="refuse to run when OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE forces a kernel",
    )
    return p.parse_args(argv)


def timed(f, seconds, sync):
    f()
    sync()
    samples, spent = [], 0.0
    while spent < seconds or len(samples) < 3:
        start = time.perf_counter()
        f()
        sync()
        samples.append(time.perf_counter() - start)
        spent += samples[-1]
    return statistics.median(samples)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    import numpy as np

    blas = check_native(args.require_native)
    from ddse_np.backend import Backend
    from ddse_np.nn.models import DDSE
    from ddse_np.nn.sparse_inference import with_sparse_products

    backend = Backend(args.backend, "float32")
    sync = (
        (lambda: backend.xp.cuda.Device().synchronize())
        if args.backend == "cupy"
        else (lambda: None)
    )
    n, rng, rows = 784, np.random.default_rng(0), []
    for density in [float(d) for d in args.densities.split(",")]:
        s = max(1, round(density * n))
        dense = DDSE.create(n, args.m, args.k, s, init="random", backend=backend)
        sparse = with_sparse_products(dense)
        for batch in [int(b) for b in args.batches.split(",")]:
            X = backend.asarray(rng.standard_normal((batch, n)))
            assert np.array_equal(
                backend.xp.argmax(dense.forward(X), 1), backend.xp.argmax(sparse.forward(X), 1)
            )
            t_dense = timed(lambda: dense.forward(X), args.seconds, sync)
            t_sparse = timed(lambda: sparse.forward(X), args.seconds, sync)
            rows.append(
                dict(
                    density=density,
                    s=s,
                    batch=batch,
                    dense_ms=1e3 * t_dense,
                    sparse_ms=1e3 * t_sparse,
                    sparse_speedup=t_dense / t_sparse,
                )
            )
    result = dict(
        backend=args.backend,
        m=args.m,
        k=args.k,
        threads=args.threads or os.cpu_count(),
        blas=blas,
        rows=rows,
    )
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
        return result
    print(
        f"backend {args.backend}, m {args.m}, k {args.k}, threads {result['threads']}; "
        "forward pass, median"
    )
    print(describe(blas))
    print(
        f"{'s/n':>5} {'s':>4} {'batch':>6} "
        f"{'dense ms':>10} {'sparse ms':>10} {'sparse speed-up':>16}"
    )
    for r in rows:
        print(
            f"{r['density']:>5} {r['s']:>4} {r['batch']:>6} "
            f"{r['dense_ms']:>10.3f} {r['sparse_ms']:>10.3f} "
            f"{r['sparse_speedup']:>15.2f}x"
        )
    return result


if __name__ == "__main__":
    main()
