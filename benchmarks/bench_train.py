"""Side-by-side training-step benchmark: ddse_np against PyTorch autograd on the same network.

One process, one run: for each shape, the training step of DDSE (forward, backward,
momentum update, projection every 15 steps) in ddse_np and in PyTorch 2.x on the CPU,
same shapes, dtype, batch and thread count, measured in alternating rounds; and the
machine's ceiling, the FLOP rate of plain GEMMs of exactly the step's shapes.

    python benchmarks/bench_train.py                  # default shapes, this machine's threads
    python benchmarks/bench_train.py --threads 1 --shapes all
    python benchmarks/bench_train.py --backend cupy   # GPU: ddse_np on cupy vs PyTorch on CUDA

PyTorch is a benchmark-only extra: pip install torch==2.13.0.
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

SHAPES = {  # name: (n, m, k, batch)
    "default": (784, 1024, 2, 128),
    "m2000": (784, 2000, 2, 128),
    "k6": (784, 1024, 6, 128),
    "tiny": (32, 48, 2, 16),
}
PROJECT_EVERY = 15


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--shapes",
        default="default,m2000,k6",
        help="comma-separated names from " + ", ".join(SHAPES) + ", or 'all'",
    )
    p.add_argument(
        "--threads", type=int, default=None, help="BLAS / torch threads (default: all cores)"
    )
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--rounds", type=int, default=5, help="alternating measurement rounds")
    p.add_argument(
        "--steps", type=int, default=2 * PROJECT_EVERY, help="steps per round (a multiple of 15)"
    )
    p.add_argument("--sparsity", type=float, default=0.25)
    p.add_argument(
        "--no-torch", action="store_true", help="skip PyTorch (e.g. where it is not installed)"
    )
    p.add_argument("--save", default=None, help="also write the results as JSON to this file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--require-native",
        action="store_true",
        help="refuse to run when OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE forces a kernel",
    )
    return p.parse_args(argv)


def set_threads(threads):
    if threads is None:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass


def step_flops(n, m, k, batch, classes=10):
    """Multiply-adds x 2 of one DDSE training step's matrix products.

    forward: X W1^T, and per stage Z W2^T, R W3^T;   backward: dW1, and per stage
    dR, dW3, dZ, dW2;   classifier: forward, dV, dZ.
    """
    return 2 * batch * n * m * (2 + 6 * k) + 3 * 2 * batch * m * classes


def gemm_shapes(n, m, k, batch):
    """(rows, inner, cols, count) of the products in one step, for the ceiling."""
    N = batch
    # dW2 (n x N times N x m)
    return [
        (N, n, m, 1 + 2 * k),  # X W1^T, R W3^T, dR W2 (N x n times n x m)
        (N, m, n, 2 * k),  # Z W2^T, dA W3 (N x m times m x n)
        (m, N, n, 1 + k),  # dW1, dW3 (m x N times N x n)
        (n, N, m, k),
    ]


class DDSENumpyStep:
    def __init__(self, n, m, k, batch, s, backend, seed=0):
        import numpy as np

        from ddse_np.backend import Backend
        from ddse_np.nn.models import DDSE
        from ddse_np.nn.sparsity import clip_thresholds, project_params
        from ddse_np.training.optim import MomentumSGD

        self.backend = Backend(backend, "float32")
        self.model = DDSE.create(n, m, k, s, seed=seed, backend=self.backend)
        rng = np.random.default_rng(seed)
        self.X = self.backend.asarray(rng.standard_normal((batch, n)) * 0.5)
        self.y = self.backend.asarray(rng.integers(0, 10, batch), dtype=np.int64)
        self.grads = self.model.zero_grads()
        self.opt = MomentumSGD(0.01, 0.9)
        self.project, self.clip = project_params, clip_thresholds
        self.count = 0

    def step(self):
        model = self.model
        model.loss_and_grads(self.X, self.y, self.grads)
        self.opt.step(model.params, self.grads)  # also zeroes the gradients
        self.clip(model.params)
        self.count += 1
        if self.count % PROJECT_EVERY == 0:
            self.project(model.params, model.constraints, model.s)

    def sync(self):
        if self.backend.name == "cupy":
            self.backend.xp.cuda.Device().synchronize()


class DDSETorchStep:
    """The same network, loss, optimizer and projection written with PyTorch autograd."""

    def __init__(self, n, m, k, batch, s, device, seed=0):
        import numpy as np
        import torch

        from ddse_np.nn.init import ddse_params

        self.torch, self.device, self.k, self.s = torch, device, k, s
        host = ddse_params(n, m, k, s, seed, "paper", 0.01, 10)
        self.p = {
            name: torch.tensor(v, dtype=torch.float32, device=device, requires_grad=True)
            for name, v in host.items()
        }
        rng = np.random.default_rng(seed)
        self.X = torch.tensor(
            rng.standard_normal((batch, n)) * 0.5, dtype=torch.float32, device=device
        )
        self.y = torch.tensor(rng.integers(0, 10, batch), device=device)
        self.opt = torch.optim.SGD(self.p.values(), lr=0.01, momentum=0.9)
        self.count = 0

    def shrink(self, v, theta):
        return self.torch.sign(v) * self.torch.relu(v.abs() - theta)

    def step(self):
        torch, p = self.torch, self.p
        U = self.X @ p["W1"].T
        Z = self.shrink(U, p["theta.0"])
        for i in range(1, self.k + 1):
            Z = self.shrink(U + Z - (Z @ p[f"W2.{i}"].T) @ p[f"W3.{i}"].T, p[f"theta.{i}"])
        loss = torch.nn.functional.cross_entropy(Z @ p["V"].T + p["c"], self.y)
        self.opt.zero_grad(set_to_none=False)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            for i in range(self.k + 1):
                p[f"theta.{i}"].clamp_(min=0)
            self.count += 1
            if self.count % PROJECT_EVERY == 0:
                self.project()

    def project(self):
        torch, p = self.torch, self.p
        for name, W in p.items():
            if name == "W1" or name.startswith("W3."):
                lines = W  # rows
            elif name.startswith("W2."):
                lines = W.T  # columns
            else:
                continue
            keep = lines.abs().topk(self.s, dim=1).indices
            mask = torch.zeros_like(lines, dtype=torch.bool).scatter_(1, keep, True)
            lines.mul_(mask)

    def sync(self):
        if self.device != "cpu":
            self.torch.cuda.synchronize()


def time_steps(impl, steps):
    impl.sync()
    start = time.perf_counter()
    for _ in range(steps):
        impl.step()
    impl.sync()
    return (time.perf_counter() - start) / steps


def gemm_ceiling(n, m, k, batch, backend, repeats=20):
    """FLOP/s of plain float32 GEMMs of the step's shapes (weighted by how often each occurs)."""
    import numpy as np

    from ddse_np.backend import Backend

    b = Backend(backend, "float32")
    rng = np.random.default_rng(0)
    total_flops, total_time = 0.0, 0.0
    for rows, inner, cols, count in gemm_shapes(n, m, k, batch):
        A = b.asarray(rng.standard_normal((rows, inner)))
        B = b.asarray(rng.standard_normal((inner, cols)))
        C = b.xp.empty((rows, cols), dtype=b.dtype)
        b.xp.matmul(A, B, out=C)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            b.xp.matmul(A, B, out=C)
            if backend == "cupy":
                b.xp.cuda.Device().synchronize()
            samples.append(time.perf_counter() - start)
        total_time += statistics.median(samples) * count
        total_flops += 2.0 * rows * inner * cols * count
    return total_flops / total_time


def bench_shape(name, args, torch_available):
    n, m, k, batch = SHAPES[name]
    s = max(1, round(args.sparsity * n))
    ours = DDSENumpyStep(n, m, k, batch, s, args.backend)
    impls = {"ddse_np": ours}
    if torch_available:
        impls["pytorch"] = DDSETorchStep(
            n, m, k, batch, s, "cuda" if args.backend == "cupy" else "cpu"
        )
    for impl in impls.values():  # warm up, including one projection
        time_steps(impl, PROJECT_EVERY)
    times = {key: [] for key in impls}
    for _ in range(args.rounds):  # alternate, so that load changes hit both alike
        for key, impl in impls.items():
            times[key].append(time_steps(impl, args.steps))
    ceiling = gemm_ceiling(n, m, k, batch, args.backend)
    flops = step_flops(n, m, k, batch)
    row = dict(
        shape=name,
        n=n,
        m=m,
        k=k,
        batch=batch,
        s=s,
        gemm_ceiling_gflops=ceiling / 1e9,
        step_gflop=flops / 1e9,
    )
    for key, samples in times.items():
        t = statistics.median(samples)
        row[key] = dict(
            step_ms=1e3 * t,
            samples_per_s=batch / t,
            gflops=flops / t / 1e9,
            fraction_of_ceiling=flops / t / ceiling,
        )
    if "pytorch" in row:
        row["speedup_vs_pytorch"] = row["pytorch"]["step_ms"] / row["ddse_np"]["step_ms"]
    return row


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    blas = check_native(args.require_native)
    torch_available = False
    if not args.no_torch:
        try:
            import torch

            torch_available = True
            if args.threads:
                torch.set_num_threads(args.threads)
        except ImportError:
            print(
                "PyTorch not installed (pip install torch==2.13.0): measuring ddse_np only",
                file=sys.stderr,
            )
    names = list(SHAPES) if args.shapes == "all" else args.shapes.split(",")
    unknown = [name for name in names if name not in SHAPES]
    if unknown:
        sys.exit(f"error: unknown shape {unknown[0]!r}: choose from {', '.join(SHAPES)}")
    rows = [bench_shape(name, args, torch_available) for name in names]
    result = dict(
        backend=args.backend,
        threads=args.threads or os.cpu_count(),
        rounds=args.rounds,
        steps=args.steps,
        blas=blas,
        rows=rows,
    )
    if torch_available:
        import torch

        result["torch"] = torch.__version__
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
        return result
    print(
        f"backend {args.backend}, threads {result['threads']}, median of {args.rounds} alternating "
        f"rounds of {args.steps} steps (projection every {PROJECT_EVERY})"
    )
    print(describe(blas) + (f"; PyTorch {result['torch']}" if "torch" in result else ""))
    header = (
        f"{'shape':8} {'n':>4} {'m':>5} {'k':>2} {'GEMM ceiling':>13}  {'impl':8} {'ms/step':>8} "
        f"{'samples/s':>10} {'GFLOP/s':>8} {'of ceiling':>10}"
    )
    print(header)
    for row in rows:
        for key in ("ddse_np", "pytorch"):
            if key in row:
                r = row[key]
                print(
                    f"{row['shape']:8} {row['n']:>4} {row['m']:>5} {row['k']:>2} "
                    f"{row['gemm_ceiling_gflops']:>9.1f} GF/s  {key:8} {r['step_ms']:>8.2f} "
                    f"{r['samples_per_s']:>10.0f} {r['gflops']:>8.1f} "
                    f"{100 * r['fraction_of_ceiling']:>9.0f}%"
                )
        if "speedup_vs_pytorch" in row:
            print(f"{'':8} ddse_np / pytorch throughput: {row['speedup_vs_pytorch']:.2f}x")
    return result


if __name__ == "__main__":
    main()
