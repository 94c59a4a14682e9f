"""Speed tricks, kept apart from the derivations: each does what a plain expression does, faster
on numpy, and a test holds it equal to that plain form (``reference_*`` below, tests/test_fast.py).

- :func:`add_matmul_t`: ``out += A.T @ B`` written straight from the product when ``out`` holds
zeros;
- :func:`cache_blocks`: pieces of arrays small enough to stay in the CPU cache across several
  in-place operations (the momentum update);
- :func:`host_cores`, :func:`blas_threads`: what the machine and numpy's BLAS offer (prefetching,
  worker counts).
"""

from __future__ import annotations

import os

import numpy

from .backend import array_module


def host_cores() -> int:
    """CPU cores this process may run on."""
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )


def blas_threads() -> int:
    """Threads numpy's BLAS uses (threadpoolctl); all cores if it cannot tell."""
    from threadpoolctl import threadpool_info

    counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return max(counts) if counts else host_cores()


def add_matmul_t(out, A, B):
    """In place: out += A^T B (the weight gradient of a linear layer added into its buffer).

    A : N x b,  B : N x a,  out : b x a  ->  out
    On numpy, a buffer that holds only zeros (as after every optimizer step)
    receives the product straight from ``matmul(..., out=out)``: no temporary the
    size of ``out`` and no second pass to add it, at the cost of one read of
    ``out``.  Otherwise, and on every other array module (on cupy the zero check
    would stop the host for the device at every weight), the product is added.
    Same values either way.
    """
    xp = array_module(out)
    if xp is numpy and out.dtype == xp.result_type(A, B) and not out.any():
        xp.matmul(A.T, B, out=out)
    else:
        out += A.T @ B
    return out


def cache_blocks(arrays, size: int):
    """Matching pieces of same-shaped arrays, to run several in-place operations on one
    piece while it sits in the CPU cache (the momentum update).

    ``arrays`` : same-shape arrays.  When every one is a C-contiguous numpy array: a
    list of tuples of flat views, ``size`` elements each (the last may be shorter);
    writing into a view writes into the array.  Otherwise (cupy, where one kernel per
    whole array is best, or another layout): ``[tuple(arrays)]``.
    """
    if not all(array_module(a) is numpy and a.flags.c_contiguous for a in arrays):
        return [tuple(arrays)]
    flat = [a.reshape(-1) for a in arrays]
    return [tuple(a[start : start + size] for a in flat) for start in range(0, flat[0].size, size)]


def reference_add_matmul_t(out, A, B):
    """The plain form of :func:`add_matmul_t`."""
    out += A.T @ B
    return out
