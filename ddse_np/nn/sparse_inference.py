"""Evaluation with the constrained matrices as CSR sparse products (paper 3.3.2).

A k-stage DDSE needs (2k+1) s m multiply-adds per sample with sparse products,
against (2k+1) n m dense.  Whether that pays depends on s/n, the batch size and
the machine; ``choose`` encodes what benchmarks/bench_sparse.py measured here
(see the README's table).
"""

from __future__ import annotations

from ..errors import DDSEError

MODES = ("auto", "on", "off")
# Largest batch at which CSR products beat dense ones, by s/n, as measured by
# benchmarks/bench_sparse.py on the development machine with both cores (README, "Sparse
# inference"): at s/n 0.05 sparse wins up to batch 128 (2.4x at 1, 1.2x at 128, 0.76x at
# 10,000); from 0.1 on never (0.86x at batch 1).  scipy's CSR product is single-threaded
# while BLAS uses every core: on one thread sparse also wins at s/n 0.1, batch 1 (1.8x).
AUTO_MAX_BATCH = {0.05: 128, 0.1: 0, 0.25: 0, 0.5: 0}


def with_sparse_products(model):
    """A copy of ``model`` for evaluation whose constrained matrices are CSR matrices.

    The copy shares the other arrays and cannot be trained (no backward through CSR).
    Raises DDSEError for a model without constrained matrices.
    """
    if not model.constraints:
        raise DDSEError(f"--sparse on: model {model.config['model']} has no sparse matrices")
    csr = model.backend.sparse.csr_matrix
    params = dict(model.params)
    for name in model.constraints:
        params[name] = csr(params[name])
    clone = type(model)(params, model.config, model.backend, model.mean, model.basis)
    return clone


def choose(model, mode: str, batch_size: int):
    """The model to evaluate with: itself (dense) or its sparse-product copy.

    ``mode``: 'off', 'on' or 'auto' (sparse only where AUTO_MAX_BATCH measured it faster).
    Raises DDSEError for another mode, or 'on' for a model without constrained matrices.
    """
    if mode not in MODES:
        raise DDSEError(f"--sparse must be one of {', '.join(MODES)} (got {mode!r})")
    if mode == "off" or (mode == "auto" and not model.constraints):
        return model
    if mode == "auto":
        density = model.config["s"] / model.config["n"]
        nearest = min(AUTO_MAX_BATCH, key=lambda d: abs(d - density))
        if batch_size > AUTO_MAX_BATCH[nearest]:
            return model
    return with_sparse_products(model)
