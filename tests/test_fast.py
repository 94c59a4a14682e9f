"""The speed tricks of ddse_np/fast.py against their plain forms."""

import numpy as np
import pytest

from ddse_np.fast import add_matmul_t, cache_blocks, reference_add_matmul_t


@pytest.mark.parametrize("start", ["zeros", "values"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_matmul_t_is_the_plain_form_bit_for_bit(start, dtype):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((50, 7)).astype(dtype), rng.standard_normal((50, 9)).astype(dtype)
    first = (
        np.zeros((7, 9), dtype) if start == "zeros" else rng.standard_normal((7, 9)).astype(dtype)
    )
    fast, plain = first.copy(), first.copy()
    assert add_matmul_t(fast, A, B) is fast
    assert np.array_equal(fast, reference_add_matmul_t(plain, A, B))


def test_cache_blocks_cover_every_element_once_and_write_through():
    a, b = np.arange(10.0).reshape(2, 5), np.zeros((2, 5))
    pieces = cache_blocks((a, b), 3)
    assert [len(p[0]) for p in pieces] == [3, 3, 3, 1]
    for x, y in pieces:
        y += x  # in place, through the views
    assert np.array_equal(b, a)
    (whole,) = cache_blocks((a.T, b.T), 3)  # not C-ordered: the arrays themselves, in one piece
    assert whole[0] is not None and whole[0].shape == (5, 2) and np.shares_memory(whole[0], a)
