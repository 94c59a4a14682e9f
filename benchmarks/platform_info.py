"""What a benchmark ran on: the BLAS library, its version, the kernel it chose and its threads.

numpy's OpenBLAS picks the fastest kernel for the processor at load time unless the
environment overrides it: ``OPENBLAS_CORETYPE`` forces a kernel (e.g. Haswell on a
machine that has AVX-512) and ``OPENBLAS_L2_SIZE`` a cache size.  A user's machine has
no such override, so a benchmark run under one measures kernels users do not get.
Every benchmark here reports the kernel it ran with and warns (``--require-native``:
refuses) when an override is set.  See benchmarks/README.md.
"""

from __future__ import annotations

import os
import sys

OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_info() -> dict:
    """The BLAS numpy uses, as threadpoolctl sees it (call after numpy is imported).

    ``also`` lists every other BLAS loaded in the process at that moment (e.g. scipy's own
    OpenBLAS, once scipy.linalg has been imported); the training step uses numpy's alone.
    """
    overrides = {name: os.environ[name] for name in OVERRIDES if name in os.environ}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return dict(library="unknown (pip install threadpoolctl)", overrides=overrides)
    pools = [
        dict(
            library=pool.get("internal_api"),
            version=pool.get("version"),
            kernel=pool.get("architecture"),
            threads=pool.get("num_threads"),
            path=pool.get("filepath", ""),
        )
        for pool in threadpool_info()
        if pool.get("user_api") == "blas"
    ]
    if not pools:
        return dict(library="none found", overrides=overrides)
    pools.sort(key=lambda pool: "numpy" not in pool["path"])  # numpy's own first
    info = {key: value for key, value in pools[0].items() if key != "path"}
    info["also"] = [
        {key: value for key, value in pool.items() if key != "path"} for pool in pools[1:]
    ]
    return dict(info, overrides=overrides)


def check_native(require: bool = False) -> dict:
    """blas_info(), after warning on stderr (or exiting, with ``require``) if a kernel override is
    set."""
    import numpy  # noqa: F401  (loads the BLAS)

    info = blas_info()
    if info["overrides"]:
        names = " ".join(f"{k}={v}" for k, v in info["overrides"].items())
        message = (
            f"{names} is set: OpenBLAS runs the {info.get('kernel')} kernel, not the one "
            f"this processor would get; unset {' and '.join(OVERRIDES)} for this command "
            "(benchmarks/README.md)"
        )
        if require:
            sys.exit(f"error: {message}")
        print(f"warning: {message}", file=sys.stderr)
    return info


def describe(info: dict) -> str:
    """One line for a table's header."""
    text = (
        f"BLAS {info.get('library')} {info.get('version', '')}, kernel {info.get('kernel')}, "
        f"{info.get('threads')} threads"
    )
    for other in info.get("also", []):
        text += (
            f"; also {other['library']} {other['version']}, kernel {other['kernel']}, "
            f"{other['threads']} threads"
        )
    if info.get("overrides"):
        text += " (OVERRIDDEN: " + ", ".join(f"{k}={v}" for k, v in info["overrides"].items()) + ")"
    return text
