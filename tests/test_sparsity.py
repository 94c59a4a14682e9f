"""The projection P: exactly the top s per row/column, ties, idempotence; sparse storage."""

import numpy as np
import pytest

from ddse_np.nn.init import support_matrix
from ddse_np.nn.sparsity import (
    clip_thresholds,
    count_nonzeros,
    from_sparse,
    project,
    project_params,
    to_sparse,
)


@pytest.mark.parametrize("axis", ["row", "col"])
def test_keeps_exactly_the_s_largest_magnitudes(rng, axis):
    W = rng.standard_normal((9, 13))
    s = 4
    P = project(W.copy(), s, axis)
    lines, kept = (W, P) if axis == "row" else (W.T, P.T)
    for line, out in zip(lines, kept):
        top = np.sort(np.argsort(-np.abs(line))[:s])
        assert np.array_equal(np.flatnonzero(out), top)
        assert np.array_equal(out[top], line[top])  # kept values are unchanged
    assert count_nonzeros(P, axis).max() == s


def test_ties_never_keep_more_than_s():
    W = np.ones((3, 10))
    W[0, 2] = -1.0  # same magnitude, other sign
    P = project(W.copy(), 3, "row")
    assert np.array_equal(count_nonzeros(P, "row"), [3, 3, 3])
    W = np.array([[5.0, 1.0, 1.0, 1.0, 0.5]])
    P = project(W.copy(), 2, "row")
    assert P[0, 0] == 5.0 and np.count_nonzero(P) == 2 and np.count_nonzero(P[0, 1:4]) == 1


def test_projection_is_idempotent_and_in_place(rng):
    W = rng.standard_normal((6, 8))
    once = project(W, 3, "col")
    assert once is W
    twice = project(W.copy(), 3, "col")
    assert np.array_equal(once, twice)


def test_lines_with_fewer_than_s_nonzeros_are_untouched():
    W = np.zeros((2, 6))
    W[0, 1] = 2.0
    P = project(W.copy(), 3, "row")
    assert np.array_equal(P, W)


def test_s_at_least_line_length_is_identity(rng):
    W = rng.standard_normal((4, 5))
    assert np.array_equal(project(W.copy(), 5, "row"), W)


@pytest.mark.parametrize("axis", ["row", "col"])
def test_s_below_one_is_refused_and_w_left_alone(rng, axis):
    W = rng.standard_normal((4, 5))
    before = W.copy()
    with pytest.raises(ValueError, match="s must be at least 1"):
        project(W, 0, axis)
    with pytest.raises(ValueError, match="s must be at least 1"):
        support_matrix(4, 5, 0, rng)
    assert np.array_equal(W, before)


def test_project_params_only_touches_constrained(rng):
    params = {
        "A": rng.standard_normal((4, 6)),
        "B": rng.standard_normal((6, 4)),
        "c": rng.standard_normal(4),
    }
    before = params["c"].copy()
    project_params(params, {"A": "row", "B": "col"}, 2)
    assert count_nonzeros(params["A"], "row").max() == 2
    assert count_nonzeros(params["B"], "col").max() == 2
    assert np.array_equal(params["c"], before)


def test_clip_thresholds():
    params = {"theta.0": np.array([-1.0, 0.5]), "V": np.array([-1.0])}
    clip_thresholds(params)
    assert np.array_equal(params["theta.0"], [0.0, 0.5])
    assert params["V"][0] == -1.0


def test_support_matrix_has_s_ones_per_column(rng):
    S = support_matrix(20, 30, 5, rng)
    assert S.shape == (20, 30)
    assert np.array_equal(S.sum(axis=0), np.full(30, 5.0))
    assert set(np.unique(S)) == {0.0, 1.0}


@pytest.mark.parametrize("axis", ["row", "col"])
def test_sparse_storage_round_trip(rng, axis):
    W = project(rng.standard_normal((7, 11)), 3, axis)
    W[0] = 0.0 if axis == "row" else W[0]  # a line with fewer than s nonzeros
    mask, values = to_sparse(W, 3, axis)
    lines, length = (7, 11) if axis == "row" else (11, 7)
    assert (
        values.shape == (lines, 3)
        and mask.shape == (lines, -(-length // 8))
        and mask.dtype == np.uint8
    )
    assert np.array_equal(np.unpackbits(mask, axis=1, count=length).sum(axis=1), np.full(lines, 3))
    assert np.array_equal(from_sparse(mask, values, W.shape, axis), W)


def test_sparse_storage_refuses_inconsistent_bitmaps(rng):
    mask, values = to_sparse(project(rng.standard_normal((4, 9)), 2, "row"), 2, "row")
    mask[0, 0] ^= 0xFF
    with pytest.raises(ValueError):
        from_sparse(mask, values, (4, 9), "row")


@pytest.mark.parametrize("axis", ["row", "col"])
def test_a_feasible_matrix_skips_the_tie_path_and_is_unchanged(axis, monkeypatch):
    rng = np.random.default_rng(3)
    W = project(rng.standard_normal((40, 30)), 6, axis)
    lines = W if axis == "row" else W.T
    lines[:5] *= rng.random(lines[:5].shape) < 0.1  # some lines with fewer than s nonzeros
    lines[5, :] = 0.0
    lines[6, :] = 0.0
    # tied, but the smallest subnormal still counts as a nonzero
    lines[6, :3] = np.nextafter(0.0, 1.0)
    before = W.copy()
    monkeypatch.setattr(np, "argpartition", lambda *a, **k: pytest.fail("tie path taken"))
    project(W, 6, axis)
    assert np.array_equal(W, before)
    # one infeasible line: the selection runs for all
    lines[7] = rng.standard_normal(lines.shape[1])
    project(W, 6, axis)
    assert np.count_nonzero(lines[7]) == 6 and np.array_equal(
        np.delete(W, 7, 0 if axis == "row" else 1), np.delete(before, 7, 0 if axis == "row" else 1)
    )
