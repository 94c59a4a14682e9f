"""Baseline IV (paper 4.2): LISTA with k untied dense m x m matrices and dropout.

    B      = X W1^T                                  N x m, fed to every stage
    Z0     = drop(shrink(B, theta0))
    Zi     = drop(shrink(B + Z(i-1) S.i^T, theta_i))   S.i : m x m dense, i = 1..k
    logits = Zk V^T + c

``drop`` is inverted dropout 0.5 at training time and the identity at evaluation.
It starts as ISTA on D0 S / sqrt(L) (see :mod:`ddse_np.nn.init`); no sparsity constraint.
"""

from __future__ import annotations

from ...backend import array_module, as_backend
from ..init import THETA_INIT, lista_params
from ..layers import (
    dropout_backward,
    dropout_forward,
    linear_backward,
    linear_forward,
    shrink_backward,
    shrink_forward,
)
from .base import Model

DROP = 0.5


class LISTA(Model):
    """Baseline IV: k + 1 LISTA stages with dropout after each shrinkage (module docstring)."""

    name = "lista"
    dropout = DROP
    # s/n shapes the support of its ISTA start (no constraint after)
    settings = (
        "sparsity",
        "theta_init",
    )

    @staticmethod
    def param_shapes(config: dict) -> dict:
        """name -> shape for a config with n, m, k, classes."""
        n, m, k, C = config["n"], config["m"], config["k"], config["classes"]
        shapes = {"W1": (m, n)}
        shapes.update({f"S.{i}": (m, m) for i in range(1, k + 1)})
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
        classes: int = 10,
        theta_init: float = THETA_INIT,
    ):
        """A fresh LISTA; ``s`` only shapes the ISTA initialisation.

        Raises ValueError for s < 1 or a theta_init not finite and >= 0, DDSEError for an
        unusable backend.
        """
        backend = as_backend(backend, dtype)
        config = dict(
            model=cls.name,
            n=n,
            m=m,
            k=k,
            s=s,
            classes=classes,
            seed=seed,
            dtype=backend.dtype.name,
            theta_init=theta_init,
        )
        return cls.from_host(lista_params(n, m, k, s, seed, theta_init, classes), config, backend)

    def _layer(self, A, theta, noise):
        Z, shrink_cache = shrink_forward(A, theta)
        drop_cache = None
        if noise is not None and self.dropout:
            Z, drop_cache = dropout_forward(Z, self.dropout, noise(Z.shape))
        return Z, (shrink_cache, drop_cache)

    @staticmethod
    def _layer_backward(dZ, cache):
        shrink_cache, drop_cache = cache
        if drop_cache is not None:
            dZ = dropout_backward(dZ, drop_cache)
        return shrink_backward(dZ, shrink_cache)

    def features(self, X, train: bool = True, noise=None, codes: list | None = None):
        """X : N x n -> (final hidden code : N x m, backprop(dZ, grads)).

        ``noise`` feeds the dropout masks when ``train``; ``codes``, when a list,
        receives Z0, ..., Zk.
        """
        p = self.params
        noise = self.mask_source(noise) if train and self.dropout else None
        B, lin1 = linear_forward(X, p["W1"])
        Z, cache0 = self._layer(B, p["theta.0"], noise)
        caches = []
        for i in range(1, self.k + 1):
            if codes is not None:
                codes.append(Z)
            A, lin = linear_forward(Z, p[f"S.{i}"])
            A += B
            Z, cache = self._layer(A, p[f"theta.{i}"], noise)
            caches.append((lin, cache))
        if codes is not None:
            codes.append(Z)

        def backprop(dZ, grads):
            # B feeds every stage: one running sum of its gradients
            dB = array_module(B).zeros_like(B)
            for i in range(self.k, 0, -1):
                lin, cache = caches[i - 1]
                dA, dtheta = self._layer_backward(dZ, cache)
                grads[f"theta.{i}"] += dtheta
                dZ, _ = linear_backward(dA, lin, dW=grads[f"S.{i}"])
                dB += dA
            dA0, dtheta0 = self._layer_backward(dZ, cache0)
            grads["theta.0"] += dtheta0
            dB += dA0
            linear_backward(dB, lin1, need_dX=False, dW=grads["W1"])

        return Z, backprop
