"""The feasible set of eq. (6): at most s nonzeros per row of W1, W3_i, per column of W2_i.

The projection P keeps the s largest-magnitude entries of each row (or
column) and zeros the rest.  It is a separate step that the training loop
calls every ``project_every`` steps and before every evaluation and save;
the optimizer knows nothing about it.
"""

from __future__ import annotations

import numpy as np

from ..backend import array_module

ROW, COL = "row", "col"


def check_s(s: int) -> None:
    """Raises ValueError unless s >= 1 (an all-zero line is no projection of anything)."""
    if s < 1:
        raise ValueError(f"s must be at least 1 nonzero per line, got {s}")


def project(W, s: int, axis: str):
    """In place: keep the s largest |entries| of each row (axis='row') or column ('col') of W.

    The s-th largest magnitude of each line comes from ``partition`` (a selection,
    not a sort) on a C-ordered copy of the lines of |W|; the mask is then applied
    in W's own memory order.  Zeros are never "kept", so a line with at most s
    nonzeros is left as it is at the cost of the selection alone.  Lines where ties
    at the s-th magnitude would keep more than s entries are redone with
    ``argpartition``, which keeps exactly s, so a line never keeps more than s
    nonzeros.  Returns W.  Raises ValueError for s < 1.
    """
    check_s(s)
    xp = array_module(W)
    rows = axis == ROW
    length = W.shape[1] if rows else W.shape[0]
    if s >= length or int(xp.count_nonzero(W, axis=1 if rows else 0).max()) <= s:
        return W  # already feasible (as before every evaluation and save): nothing to select
    magnitude = xp.abs(W)
    selection = (magnitude if rows else magnitude.T).copy(order="C")  # partitioned in place
    kth = length - s
    selection.partition(kth, axis=1)
    # a line with fewer than s nonzeros has threshold 0: keep its nonzeros only, not every entry,
    # so that an already feasible line never needs the tie path below (same result, no argpartition)
    threshold = xp.maximum(
        selection[:, kth], xp.nextafter(xp.zeros((), W.dtype), xp.ones((), W.dtype))
    )
    keep = magnitude >= (threshold[:, None] if rows else threshold[None, :])
    W *= keep
    tied = xp.flatnonzero(xp.count_nonzero(keep, axis=1 if rows else 0) > s)
    if tied.size:
        lines = W if rows else W.T
        line_magnitude = magnitude[tied] if rows else magnitude.T[tied]
        drop = xp.argpartition(line_magnitude, kth - 1, axis=1)[:, :kth]
        lines[tied[:, None], drop] = 0
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
    """Host matrix with <= s nonzeros per row/column -> (mask, values) for storage.

    A "line" is a row (axis='row') or a column ('col'); L lines of length a.
    mask : L x ceil(a / 8) uint8, the packed bitmap (np.packbits) of the s kept
    positions of each line; values : L x s, the kept entries in position order.
    A line with fewer than s nonzeros keeps some explicit zeros, so every line
    has exactly s bits set.  The bitmap costs a/8 bytes a line, less than s
    uint16 indices whenever s > a/16.
    """
    lines = W if axis == ROW else W.T
    keep = np.sort(np.argsort(-np.abs(lines), axis=1, kind="stable")[:, :s], axis=1)
    bits = np.zeros(lines.shape, dtype=bool)
    np.put_along_axis(bits, keep, True, axis=1)
    return np.packbits(bits, axis=1), np.take_along_axis(lines, keep, axis=1)


def from_sparse(mask: np.ndarray, values: np.ndarray, shape, axis: str) -> np.ndarray:
    """Inverse of :func:`to_sparse`: the dense host matrix of ``shape``.

    Raises ValueError when a line of the bitmap does not hold exactly as many bits as values.
    """
    lines_shape = shape if axis == ROW else (shape[1], shape[0])
    bits = np.unpackbits(mask, axis=1, count=lines_shape[1]).astype(bool)
    if not np.all(bits.sum(axis=1) == values.shape[1]):
        raise ValueError("bitmap and values disagree")
    lines = np.zeros(lines_shape, dtype=values.dtype)
    lines[bits] = values.reshape(-1)  # row-major order: the values of each line, in position order
    return lines if axis == ROW else lines.T.copy()
