"""DDSE: whole-network gradient checks for every parameter, the stage pair, and the paper's init."""

import numpy as np
import pytest

from ddse_np.nn.layers import shrink_forward
from ddse_np.nn.models import DDSE
from ddse_np.nn.models.ddse import DDSENoSkip, stage_backward, stage_forward
from ddse_np.nn.models.lista import LISTA
from ddse_np.nn.sparsity import count_nonzeros

from gradcheck import assert_model_gradients, numerical_grad, relative_error

TOL = 1e-6
N, n, m, s = 6, 12, 16, 4


def preactivations(model, X):
    """Reference forward written out plainly: the input of every shrinkage, stage 0..k."""
    p = model.params
    U = X @ p["W1"].T
    pre = [U]
    Z = shrink_forward(U, p["theta.0"])[0]
    for i in range(1, model.k + 1):
        A = U + Z - (Z @ p[f"W2.{i}"].T) @ p[f"W3.{i}"].T
        pre.append(A)
        Z = shrink_forward(A, p[f"theta.{i}"])[0]
    return pre, Z @ p["V"].T + p["c"]


def kink_margin(model, X):
    pre, _ = preactivations(model, X)
    return min(
        float(np.min(np.abs(np.abs(A) - model.params[f"theta.{i}"]))) for i, A in enumerate(pre)
    )


def checkable_model(k, seed):
    """A small float64 model and batch whose shrinkage inputs all sit away from the kinks,
    with thresholds that zero part of every stage (so both branches are checked)."""
    rng = np.random.default_rng(seed)
    for attempt in range(50):
        model = DDSE.create(n, m, k, s, seed=seed + attempt, dtype="float64", init="random")
        X = rng.standard_normal((N, n)) * 2
        pre, _ = preactivations(model, X)
        for i, A in enumerate(pre):
            model.params[f"theta.{i}"][:] = rng.uniform(0.2, 0.6) * np.median(np.abs(A))
        pre, _ = preactivations(model, X)
        zero_fraction = [
            np.mean(np.abs(A) <= model.params[f"theta.{i}"]) for i, A in enumerate(pre)
        ]
        if kink_margin(model, X) > 1e-4 and all(0.05 < z < 0.95 for z in zero_fraction):
            return model, X, rng.integers(0, 10, size=N)
    raise AssertionError("could not draw a batch away from the kinks")


@pytest.mark.parametrize("k", [1, 2, 3])
def test_whole_network_gradients(k):
    model, X, y = checkable_model(k, seed=10 * k)
    assert_model_gradients(model, X, y, TOL)


def test_forward_matches_reference_and_loss_is_mean_cross_entropy():
    model, X, y = checkable_model(2, seed=3)
    _, reference = preactivations(model, X)
    logits = model.forward(X)
    assert np.allclose(logits, reference)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss, _ = model.loss_and_grads(X, y)
    assert np.isclose(loss, -np.log(p[np.arange(N), y]).mean())


def test_gradients_accumulate_into_given_buffers():
    model, X, y = checkable_model(2, seed=5)
    _, once = model.loss_and_grads(X, y)
    buffers = model.zero_grads()
    model.loss_and_grads(X, y, buffers)
    model.loss_and_grads(X, y, buffers)
    for name in once:
        assert np.allclose(buffers[name], 2 * once[name])


def test_stage_pair_gradients(rng):
    model, X, _ = checkable_model(1, seed=7)
    p = model.params
    U = X @ p["W1"].T
    Z = shrink_forward(U, p["theta.0"])[0]
    W2, W3, theta = p["W2.1"], p["W3.1"], p["theta.1"]
    G = rng.standard_normal((N, m))
    out, cache = stage_forward(U, Z, W2, W3, theta)
    dW2, dW3 = np.zeros_like(W2), np.zeros_like(W3)
    dU, dZ, dtheta = stage_backward(G, cache, dW2, dW3)

    def f():
        return (G * stage_forward(U, Z, W2, W3, theta)[0]).sum()

    for analytic, x in [(dU, U), (dZ, Z), (dW2, W2), (dW3, W3), (dtheta, theta)]:
        assert relative_error(analytic, numerical_grad(f, x)) < TOL


def test_paper_init_is_ista_on_the_scaled_dictionary():
    """With init='paper' and shared S, the network is k+1 ISTA steps on D = D0 S / sqrt(L)."""
    model = DDSE.create(n, m, 2, s, seed=1, dtype="float64", theta_init=0.05)
    p = model.params
    S_scaled = p["W2.1"]
    assert np.allclose(np.linalg.norm(S_scaled, 2), 1.0)
    assert np.array_equal(count_nonzeros(S_scaled, "col"), np.full(m, s))
    values = np.unique(S_scaled[S_scaled != 0])
    assert len(values) == 1  # the ones of S, scaled by 1/sqrt(L)
    for name in ("W1", "W3.1", "W3.2"):
        assert np.array_equal(p[name], S_scaled.T)
    assert np.array_equal(p["W2.2"], S_scaled)
    assert not np.shares_memory(p["W1"], p["W3.1"])

    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((n, n)))
    x = rng.standard_normal((N, n))
    D = basis @ S_scaled
    z = np.zeros((N, m))
    for _ in range(3):  # ISTA from z = 0: z <- shrink(z + D^T (x - D z), lambda)
        v = z + (x - z @ D.T) @ D
        z = np.sign(v) * np.maximum(np.abs(v) - 0.05, 0)
    assert np.allclose(model.encode(x @ basis), z)


@pytest.mark.parametrize("cls, init", [(DDSE, "paper"), (DDSE, "random"), (DDSENoSkip, "paper")])
def test_init_s_draws_the_start_apart_from_the_constraint(cls, init):
    """create(s=n, init_s=s): the constraint allows every weight, the start is the s-sparse one."""
    free = cls.create(n, m, 2, n, seed=3, dtype="float64", init=init, init_s=s)
    constrained = cls.create(n, m, 2, s, seed=3, dtype="float64", init=init)
    assert free.s == n and constrained.s == s
    for name in constrained.params:
        assert np.array_equal(free.params[name], constrained.params[name])


def test_random_init_satisfies_constraints_and_unit_norm():
    model = DDSE.create(n, m, 2, s, seed=2, dtype="float64", init="random")
    for name, axis in model.constraints.items():
        W = model.params[name]
        assert count_nonzeros(W, axis).max() <= s
        assert np.isclose(np.linalg.norm(W, 2), 1.0)


def test_same_seed_same_model_and_dtype():
    a = DDSE.create(n, m, 2, s, seed=4, dtype="float32")
    b = DDSE.create(n, m, 2, s, seed=4, dtype="float32")
    c = DDSE.create(n, m, 2, s, seed=5, dtype="float32")
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    assert all(v.dtype == np.float32 for v in a.params.values())


def test_sparse_products_give_the_same_logits(rng):
    from ddse_np.nn.sparse_inference import choose, with_sparse_products

    model = DDSE.create(n, m, 2, s, seed=3, dtype="float64", init="random")
    X = rng.standard_normal((N, n))
    sparse = with_sparse_products(model)
    assert all(hasattr(sparse.params[name], "tocsr") for name in model.constraints)
    assert np.allclose(sparse.forward(X), model.forward(X))
    assert choose(model, "off", 1) is model and choose(model, "on", 10**6) is not model


def test_auto_picks_sparse_only_where_it_was_measured_faster():
    from ddse_np.nn.sparse_inference import choose

    low = DDSE.create(784, 16, 1, 39)  # s/n = 0.05
    default = DDSE.create(784, 16, 1, 196)  # s/n = 0.25
    assert choose(low, "auto", 100) is not low and choose(low, "auto", 2000) is low
    assert choose(default, "auto", 1) is default and choose(default, "auto", 2000) is default


@pytest.mark.parametrize(
    "cls, init", [(DDSE, "paper"), (DDSE, "random"), (DDSENoSkip, "paper"), (LISTA, None)]
)
def test_create_refuses_lines_without_nonzeros_and_negative_thresholds(cls, init):
    """s = 0 would divide by a zero norm (NaN weights); theta < 0 shifts instead of shrinking."""
    kwargs = {} if init is None else {"init": init}
    with pytest.raises(ValueError, match="s must be at least 1"):
        cls.create(n, m, 2, 0, **kwargs)
    for theta in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="theta_init must be a finite threshold >= 0"):
            cls.create(n, m, 2, s, theta_init=theta, **kwargs)
    assert cls.create(n, m, 2, s, theta_init=0.0, **kwargs).params["theta.0"].max() == 0


@pytest.mark.parametrize(
    "labels", [[-1, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 10], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]]
)
def test_loss_and_grads_refuses_labels_outside_the_classes(labels):
    """A label of -1 would otherwise be read as class 9, silently."""
    model = DDSE.create(n, m, 2, s, dtype="float64")
    X = np.random.default_rng(0).standard_normal((N, n))
    with pytest.raises(ValueError, match=r"labels must be integers in 0\.\.9"):
        model.loss_and_grads(X, np.array(labels))
    loss, _ = model.loss_and_grads(X, np.array([0, 1, 2, 3, 4, 9]))
    assert np.isfinite(loss)
