"""Initialisation (paper 4.1), drawn on the host from a seed so every backend starts alike.

paper:  S is n x m with s ones per column at random rows; L = ||S||_2^2;
        W1 = W3i = S^T / sqrt(L), W2i = S / sqrt(L).  The untrained network is then
        k+1 steps of ISTA on the dictionary D = D0 S / sqrt(L), with ||D||_2 = 1.
random: each W1, W2i, W3i Gaussian, projected to its constraint, scaled to spectral norm 1.
Both:   thresholds theta_i = theta_init (length m), V ~ N(0, 1/m) (C x m), c = 0.

Baselines: LISTA starts as the same ISTA (W1 = S^T / sqrt(L), S_i = I - S^T S / L, dense);
fully connected layers use He's N(0, 2 / fan_in) with zero biases.
"""

from __future__ import annotations

import numpy as np

from .sparsity import COL, ROW, check_s, project

INITS = ("paper", "random")  # the first is the default
THETA_INIT = 0.01  # initial shrinkage thresholds (docs/design.md, "Initialisation")


def support_matrix(n: int, m: int, s: int, rng: np.random.Generator) -> np.ndarray:
    """S : n x m host float64 matrix with min(s, n) ones per column at random rows (paper eq. 3).

    Raises ValueError for s < 1 (a column of zeros has no spectral norm to scale by).
    """
    check_s(s)
    rows = np.argsort(rng.random((m, n)), axis=1)[:, :s]  # m x s distinct row indices
    S = np.zeros((n, m))
    S[rows, np.arange(m)[:, None]] = 1.0
    return S


def random_sparse(shape, s: int, axis: str, rng: np.random.Generator) -> np.ndarray:
    """Gaussian matrix with <= s nonzeros per row/column, scaled to spectral norm 1."""
    W = project(rng.standard_normal(shape), s, axis)
    return W / np.linalg.norm(W, 2)


def ddse_params(
    n: int,
    m: int,
    k: int,
    s: int,
    seed: int,
    init: str = "paper",
    theta_init: float = THETA_INIT,
    classes: int = 10,
) -> dict:
    """Host float64 parameters of a DDSE, keyed W1, W2.i, W3.i, theta.i, V, c (paper 4.1).

    Shapes: W1 m x n, W2.i n x m, W3.i m x n, theta.i m, V classes x m, c classes.
    Raises ValueError for an unknown ``init``, s < 1 or a theta_init not finite and >= 0.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}")
    check_s(s)
    check_theta(theta_init)
    rng = np.random.default_rng(seed)
    host = {}
    if init == "paper":
        S = support_matrix(n, m, s, rng)
        S /= np.linalg.norm(S, 2)
        host["W1"] = S.T
        for i in range(1, k + 1):
            host[f"W2.{i}"], host[f"W3.{i}"] = S, S.T
    else:
        host["W1"] = random_sparse((m, n), s, ROW, rng)
        for i in range(1, k + 1):
            host[f"W2.{i}"] = random_sparse((n, m), s, COL, rng)
            host[f"W3.{i}"] = random_sparse((m, n), s, ROW, rng)
    host.update(_thresholds(m, k, theta_init))
    host.update(_head(classes, m, rng))
    return host


def variance_preserving_factors(n: int, m: int, k: int, s: int, seed: int) -> dict:
    """W2.i (n x m, s per column) and W3.i (m x n, s per row): standard Gaussians projected to
    their constraint, then divided by sqrt(fan-in) (sqrt(s m / n) for W2.i, sqrt(s) for W3.i).

    The name says what was aimed at, not quite what it gives: the projection keeps each
    line's s largest-magnitude entries, whose mean square is above 1 (about 2.9 at s/n 0.25),
    so each factor raises the mean square of its input about 2.9-fold (docs/design.md).

    Baseline V needs this: without shortcuts the paper's factors (W3 W2 = S^T S / L, whose
    bulk eigenvalues are about s/L, some 0.004 at the defaults) shrink the code towards 0
    at every stage, and the untrained network starts dead.
    """
    rng = np.random.default_rng([seed, 5])
    host = {}
    for i in range(1, k + 1):
        host[f"W2.{i}"] = project(rng.standard_normal((n, m)), s, COL) / np.sqrt(s * m / n)
        host[f"W3.{i}"] = project(rng.standard_normal((m, n)), s, ROW) / np.sqrt(s)
    return host


def lista_params(
    n: int, m: int, k: int, s: int, seed: int, theta_init: float = THETA_INIT, classes: int = 10
) -> dict:
    """Host parameters of LISTA (baseline IV) started as ISTA on D0 S / sqrt(L).

    Keys and shapes: W1 m x n, S.i m x m, theta.i m, V classes x m, c classes.
    Raises ValueError for s < 1 or a theta_init not finite and >= 0.
    """
    check_theta(theta_init)
    rng = np.random.default_rng(seed)
    S = support_matrix(n, m, s, rng)
    S /= np.linalg.norm(S, 2)
    host = {"W1": S.T}
    for i in range(1, k + 1):
        host[f"S.{i}"] = np.eye(m) - S.T @ S
    host.update(_thresholds(m, k, theta_init))
    host.update(_head(classes, m, rng))
    return host


def dense_params(shapes: dict, seed: int) -> dict:
    """Host parameters for fully connected layers: W.* He-initialised, b.* zero, V, c as above."""
    rng = np.random.default_rng(seed)
    host = {}
    for name, shape in shapes.items():
        if name.startswith("W."):
            host[name] = rng.standard_normal(shape) * np.sqrt(2.0 / shape[1])
        elif name.startswith("b."):
            host[name] = np.zeros(shape)
    classes, m = shapes["V"]
    host.update(_head(classes, m, rng))
    return host


def check_theta(theta_init: float) -> None:
    """Raises ValueError unless theta_init is a finite threshold >= 0 (a negative one would shift
    the shrinkage's input instead of shrinking it, an infinite one zero every code)."""
    if not 0 <= theta_init < np.inf:  # also refuses NaN
        raise ValueError(f"theta_init must be a finite threshold >= 0, got {theta_init}")


def _thresholds(m, k, theta_init):
    return {f"theta.{i}": np.full(m, float(theta_init)) for i in range(k + 1)}


def _head(classes, m, rng):
    return {"V": rng.standard_normal((classes, m)) / np.sqrt(m), "c": np.zeros(classes)}
