"""Centered finite differences in float64 (Chainer / cs231n style)."""

from __future__ import annotations

import numpy as np

from ddse_np.backend import to_host


def numerical_grad(f, x, h=1e-6):
    """d f / d x for a scalar function f() of the array x (perturbed in place), host result."""
    grad = np.zeros(x.shape)
    flat = x.reshape(-1)
    for i in range(flat.size):
        old = float(flat[i])
        flat[i] = old + h
        plus = float(f())
        flat[i] = old - h
        minus = float(f())
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(analytic, numeric):
    """||a - b|| / max(||a||, ||b||, tiny): one number per checked array."""
    a, b = to_host(analytic), np.asarray(numeric)
    scale = max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)
    return float(np.linalg.norm(a - b) / scale)


def assert_model_gradients(model, X, y, tol=1e-6, noise=None):
    """Every parameter's analytic gradient matches centered differences of the mean loss,
    and every parameter affects the loss (so no gradient is trivially zero on both sides).
    ``noise`` must give the same masks on every call (see test_baselines.frozen_noise)."""
    _, grads = model.loss_and_grads(X, y, noise=noise)
    assert set(grads) == set(model.params)

    def f():
        return model.loss_and_grads(X, y, noise=noise)[0]

    for name, value in model.params.items():
        numeric = numerical_grad(f, value)
        assert relative_error(grads[name], numeric) < tol, name
        assert np.linalg.norm(numeric) > 0, f"{name} has no effect on the loss"
