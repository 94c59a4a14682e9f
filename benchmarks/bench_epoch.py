"""One training epoch of the default DDSE on the bundled MNIST: without augmentation, with it
(next batch prepared in a background thread), and with it but no prefetching; and the epoch's
training time against steps x the step time measured in the same rounds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_epoch.py --threads 1
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_epoch.py --threads 2

Alternating rounds in one process; every round builds fresh trainers (PCA and setup are not
timed) and times ``Trainer.run`` for one epoch: its training steps and the validation pass.
The validation split is 5,000 images (a tenth of
``--train-size`` when that is smaller).  Augmentation: the reproduction studies' recipe
(docs/reproduction.md): the ``paper`` sweep budget's rotation 10 degrees, zoom 0.1 and noise 0.05,
plus elastic distortions of alpha 34 pixels, sigma 4 (``--set aug_elastic=34``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import set_threads  # noqa: E402
from platform_info import check_native, describe  # noqa: E402

from ddse_np.experiments.sweep import BUDGETS  # noqa: E402

AUGMENTATION = {
    **{k: v for k, v in BUDGETS["paper"].items() if k.startswith("aug_")},
    "aug_elastic": 34.0,
}
CASES = {
    "none": ({}, None),
    "aug, prefetch": (AUGMENTATION, True),
    "aug, no prefetch": (AUGMENTATION, False),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all cores)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--train-size", type=int, default=None, help="first N training images (default: all 60,000)"
    )
    p.add_argument("--m", type=int, default=1024)
    p.add_argument("--save", default=None, help="also write the results as JSON to this file")
    p.add_argument("--require-native", action="store_true")
    return p.parse_args(argv)


def one_epoch(split, settings: dict, prefetch, m: int, val_size: int):
    """(seconds of Trainer.run, training seconds, steps, ms per step) for one epoch."""
    from ddse_np.training.trainer import TrainConfig, Trainer

    config = TrainConfig(epochs=1, m=m, val_size=val_size, **settings)
    trainer = Trainer.start(split, config)
    trainer.batches.prefetch = prefetch
    started = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - started
    training = trainer.batches.count / trainer.history["samples_per_s"][-1]
    return seconds, training, trainer.batches.steps_per_epoch, step_ms(trainer)


def step_ms(trainer, steps: int = 30) -> float:
    """Mean ms of ``steps`` training steps on one fixed batch of the epoch after (projection
    every 15)."""
    from ddse_np.nn.sparsity import clip_thresholds, project_params

    model, grads = trainer.model, trainer.grads
    # one batch, made here: no background thread left preparing the next
    trainer.batches.prefetch = False
    _, X, y, noise = next(iter(trainer.batches.epoch(2)))
    started = time.perf_counter()
    for i in range(1, steps + 1):
        model.loss_and_grads(X, y, grads, noise=noise)
        trainer.optimizer.step(model.params, grads)
        clip_thresholds(model.params)
        if i % trainer.config.project_every == 0:
            project_params(model.params, model.constraints, model.s)
    return (time.perf_counter() - started) / steps * 1e3


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    from ddse_np.data.mnist import Split, bundled_mnist, load_split

    info = check_native(args.require_native)
    split = load_split(bundled_mnist(), "train")
    if args.train_size:
        split = Split(split.images[: args.train_size], split.labels[: args.train_size])
    results = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name, (settings, prefetch) in CASES.items():
            results[name].append(
                one_epoch(split, settings, prefetch, args.m, min(5000, len(split) // 10))
            )
    print(
        f"one epoch of DDSE (m {args.m}, k 2, batch 128), "
        f"median of {args.rounds} alternating rounds"
    )
    print(describe(info))
    rows = []
    base = statistics.median(r[0] for r in results["none"])
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        training = statistics.median(r[1] for r in runs)
        steps = runs[0][2]
        step = statistics.median(r[3] for r in runs)
        rows.append(
            dict(
                case=name,
                epoch_s=seconds,
                training_s=training,
                steps=steps,
                step_ms=step,
                rounds=[round(r[0], 2) for r in runs],
            )
        )
        print(
            f"{name:17s} epoch {seconds:6.2f} s ({seconds / base - 1:+.0%} vs none)"
            f"  training {training:6.2f} s"
            f"  = {steps} steps x {training / steps * 1e3:5.1f} ms;  step alone {step:5.1f} ms"
            f"  rounds {rows[-1]['rounds']}"
        )
    result = dict(blas=info, rounds=args.rounds, m=args.m, images=len(split), cases=rows)
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
