"""The feasible set of eq. (6): at most s nonzeros per row of W1, W3_i, per column of W2_i.

The projection P keeps the s largest-magnitude entries of each row (or
column) and zeros the rest.  It is a separate step that the training loop
calls every ``project_every`` steps and before every evaluation and save;
the optimizer knows nothing about it.
"""
from __future__ import annotations

import numpy as np

from .backend import array_module

ROW, COL = "row", "col"


def project_rows(W, s: int):
    """In place: keep the s largest |entries| of each row of W (m x a), zero the rest.

    Ties at the cut are broken by ``argpartition``, so exactly ``a - s``
    entries of each row are zeroed: a row never keeps more than s nonzeros.
    Returns W.
    """
    xp = array_module(W)
    cols = W.shape[1]
    if s >= cols:
        return W
    drop = xp.argpartition(xp.abs(W), cols - s - 1, axis=1)[:, : cols - s]
    W[xp.arange(W.shape[0])[:, None], drop] = 0
    return W


def project(W, s: int, axis: str):
    """Project W in place onto 'at most s nonzeros per row' (axis='row') or per column ('col')."""
    project_rows(W if axis == ROW else W.T, s)
    return W


def project_params(params: dict, constraints: dict, s: int):
    """Apply P to every constrained parameter; ``constraints`` maps name -> 'row' | 'col'."""
    for name, axis in constraints.items():
        project(params[name], s, axis)


def clip_thresholds(params: dict):
    """Keep every shrinkage threshold ``theta.i`` non-negative (in place)."""
    for name, value in params.items():
        if name.startswith("theta."):
            array_module(value).maximum(value, 0, out=value)


def count_nonzeros(W, axis: str):
    """Nonzeros in each row (axis='row') or column ('col') of a host array."""
    W = np.asarray(W)
    return np.count_nonzero(W, axis=1 if axis == ROW else 0)


def to_sparse(W: np.ndarray, s: int, axis: str):
    """Host matrix with <= s nonzeros per row/column -> (indices, values), each L x s.

    L is the number of rows (axis='row') or columns ('col').  Indices are sorted
    within each line and stored as uint16 when they fit; a line with fewer than
    s nonzeros is padded with explicit zeros at unused positions.
    """
    lines = W if axis == ROW else W.T
    idx = np.sort(np.argsort(-np.abs(lines), axis=1, kind="stable")[:, :s], axis=1)
    values = np.take_along_axis(lines, idx, axis=1)
    index_dtype = np.uint16 if lines.shape[1] <= np.iinfo(np.uint16).max + 1 else np.uint32
    return idx.astype(index_dtype), values


def from_sparse(indices: np.ndarray, values: np.ndarray, shape, axis: str) -> np.ndarray:
    """Inverse of :func:`to_sparse`: the dense host matrix of ``shape``."""
    lines_shape = shape if axis == ROW else (shape[1], shape[0])
    lines = np.zeros(lines_shape, dtype=values.dtype)
    np.put_along_axis(lines, indices.astype(np.int64), values, axis=1)
    return lines if axis == ROW else lines.T.copy()
