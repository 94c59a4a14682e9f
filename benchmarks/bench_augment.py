"""The parts of one augmented batch (128 images, the studies' recipe), timed alone.

    python benchmarks/bench_augment.py --threads 2

Alternating rounds in one process, median ms of each part: the whole ``augment``; the elastic
field's Gaussian smoothing as ``scipy.ndimage.gaussian_filter`` and as the two products with
``augment.gaussian_matrix``; ``map_coordinates`` of the batch in one call, and in one call per
core in threads (an idea measured and dropped: no steady gain).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import set_threads  # noqa: E402
from platform_info import check_native, describe  # noqa: E402


def parts(batch: int = 128, seed: int = 0):
    """name -> function timing one part on a batch of random images."""
    import numpy as np
    import scipy.ndimage as ndi
    from bench_epoch import AUGMENTATION

    from ddse_np.backend import as_backend
    from ddse_np.data.augment import AugmentConfig, augment, gaussian_matrix
    from ddse_np.fast import host_cores

    SIDE = 28  # MNIST

    backend, rng = as_backend("numpy"), np.random.default_rng(seed)
    config = AugmentConfig(**{name[len("aug_") :]: value for name, value in AUGMENTATION.items()})
    images = rng.random((batch, SIDE, SIDE)).astype(np.float32)
    field = rng.uniform(-1, 1, (2, batch, SIDE, SIDE)).astype(np.float32)
    G = gaussian_matrix(config.elastic_sigma).astype(np.float32)
    coords = np.stack(
        [
            np.broadcast_to(np.arange(batch, dtype=np.float32)[:, None, None], images.shape),
            *(SIDE / 2 + 3 * rng.standard_normal((2, batch, SIDE, SIDE))),
        ]
    ).astype(np.float32)
    cores = host_cores()
    pool = ThreadPoolExecutor(cores)
    cuts = [batch * i // cores for i in range(cores + 1)]

    def map_in_threads():
        def one(lo, hi):
            local = coords[:, lo:hi].copy()
            local[0] -= lo
            return ndi.map_coordinates(images[lo:hi], local, order=1, mode="constant", cval=0.0)

        return list(pool.map(one, cuts[:-1], cuts[1:]))

    return {
        "augment": lambda: augment(images, config, rng, backend),
        "gaussian_filter": lambda: ndi.gaussian_filter(
            field, sigma=(0, 0, config.elastic_sigma, config.elastic_sigma)
        ),
        "G @ field @ G.T": lambda: G @ field @ G.T,
        "map_coordinates": lambda: ndi.map_coordinates(
            images, coords, order=1, mode="constant", cval=0.0
        ),
        f"map_coordinates, {cores} threads": map_in_threads,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all cores)")
    p.add_argument("--rounds", type=int, default=100, help="alternating rounds (default: 100)")
    p.add_argument("--save", default=None, help="also write the results as JSON to this file")
    p.add_argument(
        "--require-native", action="store_true", help="refuse to run under a BLAS kernel override"
    )
    args = p.parse_args(argv)
    set_threads(args.threads)
    info = check_native(args.require_native)
    timed = parts()
    times = {name: [] for name in timed}
    for _ in range(args.rounds):
        for name, part in timed.items():
            start = time.perf_counter()
            part()
            times[name].append((time.perf_counter() - start) * 1e3)
    print(f"parts of one augmented batch of 128, median ms of {args.rounds} alternating rounds")
    print(describe(info))
    result = dict(
        blas=info, rounds=args.rounds, ms={name: statistics.median(v) for name, v in times.items()}
    )
    for name, ms in result["ms"].items():
        print(f"{name:28s} {ms:7.2f} ms")
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
