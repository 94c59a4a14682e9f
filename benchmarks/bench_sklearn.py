"""DDSEClassifier against what users would pick instead: scikit-learn's MLPClassifier (SGD with
momentum, and Adam) on the full MNIST training set, side by side in one run.

Every model gets the same hidden sizes (k + 1 = 3 layers of m = 1024 units; DDSE's are its codes
Z_0..Z_k), the same epochs, batch 128, the same 10% of the training images held out for
validation (each keeps its best-validation model: DDSE's keep='best', MLP's early_stopping with a
patience longer than the run) and the same BLAS threads.  Prints, and writes as JSON with the
machine, fit time and test accuracy of each.

    python benchmarks/bench_sklearn.py --epochs 5 --threads 1 --out results/benchmarks/sklearn.json

Needs scikit-learn (pip install -e '.[sklearn]').
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_info import check_native, describe  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--m", type=int, default=1024)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--train-fraction", type=float, default=1.0, help="of MNIST's 60,000 images")
    p.add_argument("--out", type=Path, default=None, help="JSON file to write")
    return p.parse_args(argv)


def models(args):
    from sklearn.neural_network import MLPClassifier

    from ddse_np.sklearn import DDSEClassifier

    ddse = dict(m=args.m, k=args.k, epochs=args.epochs, batch_size=128, random_state=0)
    mlp = dict(
        hidden_layer_sizes=(args.m,) * (args.k + 1),
        max_iter=args.epochs,
        batch_size=128,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=args.epochs + 1,  # never ends the run early: keeps the best epoch
        random_state=0,
    )
    return {
        "DDSEClassifier (DDSE, lr 0.05)": (DDSEClassifier(model="ddse", lr=0.05, **ddse), "uint8"),
        "DDSEClassifier (baseline I, lr 0.02)": (
            DDSEClassifier(model="fc", lr=0.02, **ddse),
            "uint8",
        ),
        "MLPClassifier (SGD, momentum 0.9, lr 0.02)": (
            MLPClassifier(solver="sgd", learning_rate_init=0.02, momentum=0.9, **mlp),
            "float32",
        ),
        "MLPClassifier (Adam, lr 0.001)": (MLPClassifier(solver="adam", **mlp), "float32"),
    }


def main(argv=None):
    import warnings

    import numpy as np
    from threadpoolctl import threadpool_limits

    from ddse_np.data.mnist import BUNDLED_MNIST, load_split

    args = parse_args(argv)
    blas = check_native()
    train, test = load_split(BUNDLED_MNIST, "train"), load_split(BUNDLED_MNIST, "test")
    if args.train_fraction < 1:
        keep = np.random.default_rng(0).permutation(len(train))[: round(args.train_fraction * 6e4)]
        train = train.take(np.sort(keep))
    inputs = {  # DDSE divides uint8 pixels by 255 itself; the MLPs get the same [0, 1] floats
        "uint8": (train.images.reshape(len(train), -1), test.images.reshape(len(test), -1)),
        "float32": tuple(
            s.images.reshape(len(s), -1).astype(np.float32) / np.float32(255) for s in (train, test)
        ),
    }
    rows = []
    with threadpool_limits(args.threads):
        blas["threads"] = args.threads
        print(f"{len(train)} training images, {args.epochs} epochs; {describe(blas)}")
        for name, (model, kind) in models(args).items():
            X, Xt = inputs[kind]
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MLP's "did not converge" after max_iter
                model.fit(X, train.labels)
            seconds = time.perf_counter() - started
            accuracy = 100 * model.score(Xt, test.labels)
            rows.append(dict(model=name, fit_seconds=seconds, test_accuracy=accuracy))
            print(f"{name:45} fit {seconds:7.1f} s   test accuracy {accuracy:.2f}%", flush=True)
    if args.out:
        record = dict(vars(args), out=str(args.out), blas=blas, rows=rows)
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
