"""The Deep Double Sparsity Encoder (paper eq. 5, Fig. 2).

    U      = X W1^T                                    N x m, once, injected into every stage
    Z0     = shrink(U, theta0)
    Zi     = shrink(U + Z(i-1) - (Z(i-1) W2i^T) W3i^T, theta_i)     i = 1..k
    logits = Zk V^T + c

Shapes: X N x n, W1 m x n, W2i n x m, W3i m x n, theta_i m, V C x m, c C.
One stage's forward and backward are :func:`stage_forward` and
:func:`stage_backward`; the model walks them forward, then in reverse,
adding each stage's dU into one running sum for the gradient of the shared W1.
Equations and choices: docs/design.md; derivations: docs/gradients.md.
"""

from __future__ import annotations

from ...backend import array_module, as_backend
from ..init import INITS, THETA_INIT, ddse_params, variance_preserving_factors
from ..layers import linear_backward, linear_forward, shrink_backward, shrink_forward
from ..sparsity import COL, ROW
from .base import Model


def stage_forward(U, Z, W2, W3, theta, skip: bool = True):
    """One unrolled ISTA stage of paper eq. (5): Z' = shrink(U + Z - (Z W2^T) W3^T, theta).

    U : N x m (the injected W1 term),  Z : N x m,  W2 : n x m,  W3 : m x n,  theta : m
    With ``skip=False`` the stage drops both shortcuts (the injected U and the
    identity): Z' = shrink((Z W2^T) W3^T, theta), as in baseline V.
    Returns Z' : N x m and the cache for :func:`stage_backward`.
    """
    R, lin2 = linear_forward(Z, W2)  # N x n
    Q, lin3 = linear_forward(R, W3)  # N x m
    if skip:
        A = U + Z
        A -= Q
    else:
        A = Q
    Z_next, shrink_cache = shrink_forward(A, theta)
    return Z_next, (lin2, lin3, shrink_cache, skip)


def stage_backward(dZ_next, cache, dW2, dW3):
    """Gradients of one stage; the weight gradients are added into ``dW2`` and ``dW3``.

    dZ_next : N x m,  dW2 : n x m,  dW3 : m x n (gradient buffers, updated in place)
      ->  (dU : N x m, or None without the shortcuts (``skip=False``), dZ : N x m, dtheta : m)

    With A = U + Z - Q, Q = R W3^T, R = Z W2^T:
      dA = shrink'(dZ_next);  dU = dA;  dQ = -dA
      dW3 += dQ^T R;  dR = dQ W3;  dW2 += dR^T Z;  dZ = dA (skip) + dR W2
    Without the shortcuts (A = Q): dQ = +dA, no dU, and dZ = dR W2 alone.
    """
    lin2, lin3, shrink_cache, skip = cache
    dA, dtheta = shrink_backward(dZ_next, shrink_cache)
    dQ = -dA if skip else dA
    dR, _ = linear_backward(dQ, lin3, dW=dW3)
    dZ, _ = linear_backward(dR, lin2, dW=dW2)
    if skip:
        dZ += dA
    return (dA if skip else None), dZ, dtheta


class DDSE(Model):
    """DDSE with k stages; see the module docstring for the equations."""

    name = "ddse"
    sparse = True
    skip = True
    settings = ("sparsity", "init", "init_sparsity", "theta_init", "project_every")

    @property
    def constraints(self) -> dict:
        """W1 and W3.i: at most s nonzeros per row; W2.i: per column (paper eq. 6)."""
        names = {"W1": ROW}
        for i in range(1, self.k + 1):
            names[f"W2.{i}"] = COL
            names[f"W3.{i}"] = ROW
        return names

    @staticmethod
    def param_shapes(config: dict) -> dict:
        """name -> shape for a config with n, m, k, classes."""
        n, m, k, C = config["n"], config["m"], config["k"], config["classes"]
        shapes = {"W1": (m, n)}
        for i in range(1, k + 1):
            shapes[f"W2.{i}"], shapes[f"W3.{i}"] = (n, m), (m, n)
        shapes.update({f"theta.{i}": (m,) for i in range(k + 1)})
        shapes.update(V=(C, m), c=(C,))
        return shapes

    @classmethod
    def create(
        cls,
        n: int,
        m: int,
        k: int,
        s: int,
        *,
        seed: int = 0,
        dtype: str = "float32",
        backend="numpy",
        init: str = INITS[0],
        classes: int = 10,
        theta_init: float = THETA_INIT,
        init_s: int | None = None,
    ):
        """A fresh model.  ``backend`` is a name or a :class:`Backend`.

        ``init`` is 'paper' or 'random' (see :mod:`ddse_np.nn.init`); all random
        draws happen on the host from ``seed``, so every backend starts alike.
        ``s`` is the constraint's nonzeros per line; the start is drawn with ``init_s``
        (default ``s``), e.g. s = n with init_s = n / 4: a DDSE without the weight
        constraint that starts as the default's ISTA (at s = n the paper's S is all ones).
        Raises ValueError for an unknown ``init``, s < 1 or a theta_init not finite and >= 0,
        DDSEError for an unusable backend.
        """
        backend = as_backend(backend, dtype)
        host = cls.initial_params(
            n, m, k, s if init_s is None else init_s, seed, init, theta_init, classes
        )
        config = dict(
            model=cls.name,
            n=n,
            m=m,
            k=k,
            s=s,
            classes=classes,
            init=init,
            seed=seed,
            dtype=backend.dtype.name,
            theta_init=theta_init,
        )
        return cls.from_host(host, config, backend)

    @staticmethod
    def initial_params(n, m, k, s, seed, init, theta_init, classes) -> dict:
        """Host arrays of a fresh model (paper 4.1, :func:`ddse_np.nn.init.ddse_params`)."""
        return ddse_params(n, m, k, s, seed, init, theta_init, classes)

    def features(self, X, train: bool = True, noise=None, codes: list | None = None):
        """X : N x n -> (Zk : N x m, backprop(dZk, grads)); DDSE has no random parts.

        ``codes``, when a list, receives Z0, ..., Zk (for ``ddse inspect --codes``).
        """
        p, k = self.params, self.k
        U, lin1 = linear_forward(X, p["W1"])
        Z, shrink0 = shrink_forward(U, p["theta.0"])
        caches = []
        for i in range(1, k + 1):
            if codes is not None:
                codes.append(Z)
            Z, cache = stage_forward(U, Z, p[f"W2.{i}"], p[f"W3.{i}"], p[f"theta.{i}"], self.skip)
            caches.append(cache)
        if codes is not None:
            codes.append(Z)

        def backprop(dZ, grads):
            # U feeds every stage: one running sum of its gradients
            dU = array_module(U).zeros_like(U)
            for i in range(k, 0, -1):
                dU_i, dZ, dtheta = stage_backward(
                    dZ, caches[i - 1], grads[f"W2.{i}"], grads[f"W3.{i}"]
                )
                grads[f"theta.{i}"] += dtheta
                if dU_i is not None:  # None without the shortcuts (baseline V)
                    dU += dU_i
            dU0, dtheta0 = shrink_backward(dZ, shrink0)
            grads["theta.0"] += dtheta0
            dU += dU0
            linear_backward(dU, lin1, need_dX=False, dW=grads["W1"])

        return Z, backprop


class DDSENoSkip(DDSE):
    """Baseline V: DDSE with every shortcut removed, Zi = shrink((Z(i-1) W2i^T) W3i^T, theta_i).

    Same constraints, projection, W1 and thresholds as DDSE; W2i and W3i start from
    :func:`ddse_np.nn.init.variance_preserving_factors`, since the paper's factors would
    shrink the shortcut-free code to nothing.
    """

    name = "ddse-noskip"
    skip = False
    atom_stage = 0  # no injection of U: row j of W1 drives unit j of Z0 only

    @staticmethod
    def initial_params(n, m, k, s, seed, init, theta_init, classes) -> dict:
        """DDSE's start with W2i, W3i replaced by rescaled sparse Gaussian factors."""
        host = ddse_params(n, m, k, s, seed, init, theta_init, classes)
        host.update(variance_preserving_factors(n, m, k, s, seed))
        return host
