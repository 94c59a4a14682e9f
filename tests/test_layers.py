"""Float64 finite-difference checks of every primitive, away from the shrinkage kink."""

import numpy as np
import pytest

from ddse_np.nn.layers import (
    linear_backward,
    linear_forward,
    shrink_backward,
    shrink_forward,
    softmax_xent_backward,
    softmax_xent_forward,
)

from gradcheck import numerical_grad, relative_error

TOL = 1e-6


def away_from_kink(rng, shape, theta, margin=0.05):
    """Values whose |v| stays at least ``margin`` away from theta (and 0 away from the kink)."""
    V = rng.standard_normal(shape)
    close = np.abs(np.abs(V) - theta) < margin
    V[close] += np.sign(V[close]) * 2 * margin
    return V


def test_linear_gradients(rng):
    X, W = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    G = rng.standard_normal((5, 3))  # upstream gradient: loss = sum(G * Y)
    Y, cache = linear_forward(X, W)
    assert np.allclose(Y, X @ W.T)
    dX, dW = linear_backward(G, cache)

    def f():
        return (G * linear_forward(X, W)[0]).sum()

    assert relative_error(dX, numerical_grad(f, X)) < TOL
    assert relative_error(dW, numerical_grad(f, W)) < TOL
    assert linear_backward(G, cache, need_dX=False)[0] is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_backward_adds_into_the_gradient_buffer(rng, dtype):
    """dW= adds dY^T X into the given buffer in place; a zero buffer gets the product written into
    it."""
    X, W = rng.standard_normal((6, 5)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    G = rng.standard_normal((6, 4)).astype(dtype)
    _, cache = linear_forward(X, W)
    buffer = rng.standard_normal(W.shape).astype(dtype)
    before = buffer.copy()
    dX, returned = linear_backward(G, cache, dW=buffer)
    assert returned is buffer
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert np.allclose(buffer, before + G.T @ X, rtol=tol, atol=tol)
    assert np.allclose(dX, G @ W, rtol=tol, atol=tol)
    zeros = np.zeros_like(W)
    linear_backward(G, cache, dW=zeros)
    assert np.array_equal(zeros, G.T @ X)  # written straight from the product: the same bits


def test_add_matmul_t_other_layouts_and_dtypes(rng):
    """Zero and non-zero buffers that are Fortran-ordered or strided views, and float64 inputs
    into a float32 buffer, all get exactly what the plain expression gives."""
    from ddse_np.fast import add_matmul_t

    A, B = rng.standard_normal((7, 3)), rng.standard_normal((7, 5))
    for start in (0.0, 1.0):  # a zero buffer is written, another one added into
        fortran = np.full((3, 5), start, order="F")
        strided = np.full((3, 10), start)[:, ::2]
        for out in (fortran, strided):
            assert add_matmul_t(out, A, B) is out
            assert np.array_equal(out, start + A.T @ B)
        assert not strided.base[:, 1::2].any() if start == 0 else np.all(strided.base[:, 1::2] == 1)
    for start in (0.0, 1.0):
        out32 = np.full((3, 5), start, np.float32)
        add_matmul_t(out32, A, B)  # float64 inputs into a float32 buffer: added, then cast
        assert np.array_equal(out32, (start + A.T @ B).astype(np.float32))


def test_shrink_values():
    V = np.array([[-2.0, -0.5, 0.0, 0.3, 1.5]])
    theta = np.array([1.0, 1.0, 0.1, 0.5, 0.5])
    Z, _ = shrink_forward(V, theta)
    assert np.array_equal(Z, [[-1.0, 0.0, 0.0, 0.0, 1.0]])


def test_shrink_gradients(rng):
    theta = rng.uniform(0.2, 0.8, size=6)
    V = away_from_kink(rng, (7, 6), theta)
    G = rng.standard_normal((7, 6))
    Z, cache = shrink_forward(V, theta)
    assert 0 < np.count_nonzero(Z) < Z.size  # both branches are exercised
    dV, dtheta = shrink_backward(G, cache)

    def f():
        return (G * shrink_forward(V, theta)[0]).sum()

    assert relative_error(dV, numerical_grad(f, V)) < TOL
    assert relative_error(dtheta, numerical_grad(f, theta)) < TOL


def test_shrink_does_not_modify_input(rng):
    V = rng.standard_normal((3, 4))
    before = V.copy()
    shrink_forward(V, np.full(4, 0.3))
    assert np.array_equal(V, before)


def test_softmax_xent_value_and_gradient(rng):
    logits = rng.standard_normal((6, 10)) * 3
    y = rng.integers(0, 10, size=6)
    loss, cache = softmax_xent_forward(logits, y)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.isclose(loss, -np.log(p[np.arange(6), y]).mean())
    dlogits = softmax_xent_backward(cache)

    def f():
        return softmax_xent_forward(logits, y)[0]

    assert relative_error(dlogits, numerical_grad(f, logits)) < TOL


def test_softmax_xent_is_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    loss, _ = softmax_xent_forward(logits, np.array([0, 0]))
    assert np.isfinite(loss) and loss < 1e-12
