"""Baselines I-V: float64 finite-difference checks of every parameter, masks held fixed."""

import numpy as np
import pytest

import ddse_np.nn.models.ddse as ddse_module
import ddse_np.nn.models.lista as lista_module
import ddse_np.nn.models.mlp as mlp_module
from ddse_np.nn.layers import dropconnect_forward, dropout_forward
from ddse_np.nn.models import MODELS
from ddse_np.nn.sparsity import count_nonzeros, project_params

from conftest import fresh
from gradcheck import assert_model_gradients

TOL = 1e-6
N, n, m, s = 6, 12, 16, 4
BASELINES = ["fc", "fc-dropout", "fc-dropconnect", "lista", "ddse-noskip"]


def frozen_noise(shape):
    """The same uniform draws for every call with this shape: masks stay fixed across passes."""
    return np.random.default_rng(sum(shape) * 7919 + len(shape)).random(shape)


@pytest.fixture
def kink_inputs(monkeypatch):
    """Record the input of every ReLU and shrinkage, with its kink, during forward passes."""
    seen = []
    for module in (ddse_module, lista_module, mlp_module):
        if hasattr(module, "shrink_forward"):
            original = module.shrink_forward
            monkeypatch.setattr(
                module,
                "shrink_forward",
                lambda V, t, f=original: (seen.append(np.abs(np.abs(V) - t).min()), f(V, t))[1],
            )
        if hasattr(module, "relu_forward"):
            original = module.relu_forward
            monkeypatch.setattr(
                module,
                "relu_forward",
                lambda V, f=original: (seen.append(np.abs(V).min()), f(V))[1],
            )
    return seen


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("name", BASELINES)
def test_baseline_gradients(name, k, kink_inputs):
    rng = np.random.default_rng(k)
    model = fresh(name, n=n, m=m, k=k, s=s, seed=k, dtype="float64", theta_init=0.05)
    for attempt in range(50):
        X = rng.standard_normal((N, n)) * 2
        y = rng.integers(0, 10, N)
        kink_inputs.clear()
        model.loss_and_grads(X, y, noise=frozen_noise)
        if min(kink_inputs) > 1e-4:
            break
    else:
        raise AssertionError("no batch away from the kinks")
    assert_model_gradients(model, X, y, TOL, noise=frozen_noise)


@pytest.mark.parametrize("name", ["fc-dropout", "fc-dropconnect", "lista"])
def test_random_regularisers_are_off_at_evaluation(name, rng):
    model = fresh(name, n=n, m=m, k=2, s=s, seed=0, dtype="float64")
    X = rng.standard_normal((N, n))
    a, b = model.forward(X), model.forward(X)
    assert np.array_equal(a, b)
    train_a, _ = model.forward_train(X, train=True)
    train_b, _ = model.forward_train(X, train=True)
    assert not np.allclose(train_a, train_b)  # fresh masks each training pass without a source
    assert np.array_equal(model.forward_train(X, train=False)[0], a)
    same_a, _ = model.forward_train(X, train=True, noise=frozen_noise)
    same_b, _ = model.forward_train(X, train=True, noise=frozen_noise)
    assert np.array_equal(same_a, same_b)  # the masks come from the source passed in
    assert not np.allclose(same_a, a)


def test_dropout_keeps_half_and_preserves_the_mean(rng):
    H = np.ones((200, 300))
    Y, _ = dropout_forward(H, 0.5, rng.random(H.shape))
    assert set(np.unique(Y)) == {0.0, 2.0}
    assert abs(Y.mean() - 1.0) < 0.02


def test_dropconnect_preserves_the_mean(rng):
    X, W = np.ones((1, 400)), np.ones((50, 400))
    Y, (_, W_masked, _) = dropconnect_forward(X, W, 0.5, rng.random(W.shape))
    assert set(np.unique(W_masked)) == {0.0, 2.0}
    assert abs(Y.mean() / 400 - 1.0) < 0.02


def test_baseline_v_has_ddse_constraints_and_no_shortcut(rng):
    model = MODELS["ddse-noskip"].create(
        n=n, m=m, k=2, s=s, seed=0, dtype="float64", theta_init=0.0
    )
    assert model.constraints == MODELS["ddse"].create(n=n, m=m, k=2, s=s).constraints
    project_params(model.params, model.constraints, s)
    for name, axis in model.constraints.items():
        assert count_nonzeros(model.params[name], axis).max() <= s
    X = rng.standard_normal((N, n))
    p = model.params
    Z = X @ p["W1"].T  # theta = 0: shrink is the identity
    for i in (1, 2):
        Z = (Z @ p[f"W2.{i}"].T) @ p[f"W3.{i}"].T
    assert np.allclose(model.encode(X), Z)


def test_dense_baselines_have_no_constraints():
    for name in ("fc", "fc-dropout", "fc-dropconnect", "lista"):
        assert fresh(name, n=n, m=m, k=1, s=s).constraints == {}


@pytest.mark.parametrize("name", BASELINES)
def test_gradients_accumulate_into_given_buffers(name, rng):
    """Two passes into one set of buffers give twice one pass (masks held fixed): the second pass
    adds into non-zero buffers, the first writes into zeroed ones."""
    model = fresh(name, n=n, m=m, k=2, s=s, seed=1, dtype="float64", theta_init=0.05)
    X, y = rng.standard_normal((N, n)), rng.integers(0, 10, N)
    _, once = model.loss_and_grads(X, y, noise=frozen_noise)
    buffers = model.zero_grads()
    model.loss_and_grads(X, y, buffers, noise=frozen_noise)
    model.loss_and_grads(X, y, buffers, noise=frozen_noise)
    for name_ in once:
        assert np.allclose(buffers[name_], 2 * once[name_], rtol=1e-12, atol=1e-12), name_
