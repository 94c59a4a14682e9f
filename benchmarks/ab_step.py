"""A/B of the training step: this checkout's ddse_np against another copy of the package, same process.

    mkdir -p /tmp/old && git archive REV ddse_np | tar -x -C /tmp/old && mv /tmp/old/ddse_np /tmp/old/ddse_np_old
    python benchmarks/ab_step.py --old /tmp/old --threads 1

Both steps (forward, backward, momentum update, projection every 15 steps) run on the same shape
and data in alternating rounds; prints the median ms per step of each and their ratio.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def make_step(package, n, m, k, batch, s, seed=0):
    import numpy as np

    models = importlib.import_module(f"{package}.models")
    optim = importlib.import_module(f"{package}.optim")
    sparsity = importlib.import_module(f"{package}.sparsity")
    model = models.DDSE.create(n, m, k, s, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, n)).astype(np.float32) * 0.5
    y = rng.integers(0, 10, batch)
    grads, opt, count = model.zero_grads(), optim.MomentumSGD(0.01, 0.9), [0]

    def step():
        model.loss_and_grads(X, y, grads)
        opt.step(model.params, grads)
        sparsity.clip_thresholds(model.params)
        count[0] += 1
        if count[0] % 15 == 0:
            sparsity.project_params(model.params, model.constraints, model.s)

    return step


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", required=True, help="directory holding the other copy as package ddse_np_old")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=30)
    a = p.parse_args()
    sys.path.insert(0, a.old)
    steps = {"new": make_step("ddse_np", 784, 1024, 2, 128, 196), "old": make_step("ddse_np_old", 784, 1024, 2, 128, 196)}
    from threadpoolctl import threadpool_limits

    from platform_info import blas_info, describe

    threadpool_limits(a.threads)  # after both packages are imported (numpy's BLAS is the one the step uses)
    times = {name: [] for name in steps}
    for step in steps.values():
        for _ in range(a.steps):
            step()
    for r in range(a.rounds):
        for name in (["new", "old"] if r % 2 == 0 else ["old", "new"]):  # neither always goes first
            step = steps[name]
            start = time.perf_counter()
            for _ in range(a.steps):
                step()
            times[name].append((time.perf_counter() - start) / a.steps * 1e3)
    print(describe(blas_info()))
    for name, values in times.items():
        print(f"{name}: {statistics.median(values):.2f} ms/step (median of {a.rounds} rounds of {a.steps} steps)")
    print(f"old / new: {statistics.median(times['old']) / statistics.median(times['new']):.3f}x")


if __name__ == "__main__":
    main()
