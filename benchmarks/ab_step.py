"""A/B timing of this checkout's ddse_np against another copy of the package, in one process.

Times either the training step or the making of one augmented batch.

    mkdir -p /tmp/old && git archive REV ddse_np | tar -x -C /tmp/old
    mv /tmp/old/ddse_np /tmp/old/ddse_np_old
    python benchmarks/ab_step.py --old /tmp/old --threads 1
    python benchmarks/ab_step.py --old /tmp/old --threads 2 --part batch

Both steps (forward, backward, momentum update, projection every 15 steps) run on the same shape
and data in alternating rounds; prints the median ms per step of each and their ratio.  With
``--part batch`` the timed unit is instead one training batch of the bundled MNIST made as
``ddse train`` makes it (augmentation with the studies' recipe, ``bench_epoch.AUGMENTATION``,
then PCA), timed in the foreground.
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


PACKAGES = {"new": "ddse_np", "old": "ddse_np_old"}


def module(package, *names):
    """The first of ``package.NAME`` for NAME in ``names`` that imports: the same module under
    this layout's name and the names older copies of the package gave it."""
    for name in names[:-1]:
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            continue
    return importlib.import_module(f"{package}.{names[-1]}")


def make_step(package, n, m, k, batch, s, seed=0):
    import numpy as np

    models = module(package, "nn.models", "models")
    optim = module(package, "training.optim", "optim")
    sparsity = module(package, "nn.sparsity", "sparsity")
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


def make_batch(package, train_size=None, seed=0):
    """A function making the next augmented training batch of the bundled MNIST, as between
    steps."""
    import numpy as np
    from bench_epoch import AUGMENTATION

    data = module(package, "data.mnist", "data")
    train = module(package, "training.trainer", "trainer", "train")
    from ddse_np.data.mnist import bundled_mnist  # this checkout's copy of MNIST, for both packages

    split = data.load_split(bundled_mnist(), "train")
    if train_size:
        split = data.Split(split.images[:train_size], split.labels[:train_size])
    config = train.TrainConfig(
        epochs=1, seed=seed, val_size=min(5000, len(split) // 10), **AUGMENTATION
    )
    trainer = train.Trainer.start(split, config)
    batches = trainer.batches
    order = np.random.default_rng(seed).permutation(batches.count)
    count = [0]

    def batch():
        b = count[0] % batches.steps_per_epoch
        count[0] += 1
        return batches._batch(order, 0, b)

    return batch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--old",
        required=True,
        help="directory holding the other copy as package ddse_np_old: "
        "mkdir -p DIR && git archive REV ddse_np | tar -x -C DIR && mv DIR/ddse_np DIR/ddse_np_old",
    )
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default: 1)")
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds (default: 7)")
    p.add_argument("--steps", type=int, default=30, help="units timed per round (default: 30)")
    p.add_argument(
        "--part",
        choices=["step", "batch"],
        default="step",
        help="step: one training step; batch: one augmented batch with PCA (default: step)",
    )
    p.add_argument(
        "--train-size", type=int, default=None, help="batch: first N training images (default: all)"
    )
    a = p.parse_args(argv)
    sys.path.insert(0, a.old)
    try:
        if a.part == "step":
            steps = {
                name: make_step(package, 784, 1024, 2, 128, 196)
                for name, package in PACKAGES.items()
            }
        else:
            steps = {name: make_batch(package, a.train_size) for name, package in PACKAGES.items()}
    except ModuleNotFoundError as exc:
        p.error(
            f"{exc}: --old must be a directory holding the other copy as ddse_np_old (see --help)"
        )
    except TypeError as exc:  # a revision older than a setting this part uses
        p.error(f"the copy in --old cannot run --part {a.part}: {exc}")
    from platform_info import blas_info, describe
    from threadpoolctl import threadpool_limits

    # after both packages are imported (numpy's BLAS is the one the step uses)
    with threadpool_limits(a.threads):
        times = {name: [] for name in steps}
        for step in steps.values():
            for _ in range(a.steps):
                step()
        for r in range(a.rounds):
            # neither always goes first
            for name in ["new", "old"] if r % 2 == 0 else ["old", "new"]:
                step = steps[name]
                start = time.perf_counter()
                for _ in range(a.steps):
                    step()
                times[name].append((time.perf_counter() - start) / a.steps * 1e3)
        print(describe(blas_info()))
    for name, values in times.items():
        print(
            f"{name}: {statistics.median(values):.2f} ms/{a.part} "
            f"(median of {a.rounds} rounds of {a.steps})"
        )
    ratio = statistics.median(times["old"]) / statistics.median(times["new"])
    print(f"old / new: {ratio:.3f}x")
    return {name: statistics.median(values) for name, values in times.items()}


if __name__ == "__main__":
    main()
