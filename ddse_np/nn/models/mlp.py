"""Baselines I-III (paper 4.2): a (k+1)-layer fully connected ReLU network.

    H0 = relu(X W.0^T + b.0)                  W.0 : m x n
    Hi = relu(H(i-1) W.i^T + b.i)             W.i : m x m,  i = 1..k
    logits = Hk V^T + c

I  'fc'             as written
II 'fc-dropout'     dropout 0.5 on every hidden layer Hi (inverted: scaled at training time)
III 'fc-dropconnect' DropConnect 0.5 on every weight matrix W.i (one mask per batch, inverted)

Initialisation: W.i ~ N(0, 2 / fan_in) (He), b.i = 0, V ~ N(0, 1/m), c = 0.
"""

from __future__ import annotations

from ...backend import as_backend
from ..init import dense_params
from ..layers import (
    dropconnect_backward,
    dropconnect_forward,
    dropout_backward,
    dropout_forward,
    linear_backward,
    linear_forward,
    relu_backward,
    relu_forward,
)
from .base import Model

DROP = 0.5


class FullyConnected(Model):
    """Baseline I; subclasses switch on dropout (II) or DropConnect (III)."""

    name = "fc"
    first_layer = "W.0"
    code_letter = "H"
    atom_stage = 0  # the layers mix units: row j of W.0 drives unit j of H0 only
    dropout = 0.0
    dropconnect = 0.0

    @staticmethod
    def param_shapes(config: dict) -> dict:
        """name -> shape for a config with n, m, k, classes."""
        n, m, k, C = config["n"], config["m"], config["k"], config["classes"]
        shapes = {}
        for i in range(k + 1):
            shapes[f"W.{i}"], shapes[f"b.{i}"] = (m, n if i == 0 else m), (m,)
        shapes.update(V=(C, m), c=(C,))
        return shapes

    @classmethod
    def create(
        cls,
        n: int,
        m: int,
        k: int,
        *,
        seed: int = 0,
        dtype: str = "float32",
        backend="numpy",
        classes: int = 10,
    ):
        """A fresh network of k + 1 ReLU layers of m units (He initialisation, seeded)."""
        backend = as_backend(backend, dtype)
        config = dict(
            model=cls.name,
            n=n,
            m=m,
            k=k,
            s=None,
            classes=classes,
            seed=seed,
            dtype=backend.dtype.name,
        )
        return cls.from_host(dense_params(cls.param_shapes(config), seed), config, backend)

    def features(self, X, train: bool = True, noise=None, codes: list | None = None):
        """X : N x n -> (final hidden code : N x m, backprop(dZ, grads)).

        ``noise`` feeds the dropout/DropConnect masks when ``train``; ``codes``,
        when a list, receives the hidden layers H0, ..., Hk.
        """
        p = self.params
        noise = self.mask_source(noise) if train and (self.dropout or self.dropconnect) else None
        H, caches = X, []
        for i in range(self.k + 1):
            W = p[f"W.{i}"]
            if noise is not None and self.dropconnect:
                A, lin = dropconnect_forward(H, W, self.dropconnect, noise(W.shape))
            else:
                A, lin = linear_forward(H, W)
            A += p[f"b.{i}"]
            H, relu_cache = relu_forward(A)
            drop_cache = None
            if noise is not None and self.dropout:
                H, drop_cache = dropout_forward(H, self.dropout, noise(H.shape))
            caches.append((lin, relu_cache, drop_cache))
            if codes is not None:
                codes.append(H)

        def backprop(dH, grads):
            for i in range(self.k, -1, -1):
                lin, relu_cache, drop_cache = caches[i]
                if drop_cache is not None:
                    dH = dropout_backward(dH, drop_cache)
                dA = relu_backward(dH, relu_cache)
                grads[f"b.{i}"] += dA.sum(axis=0)
                if noise is not None and self.dropconnect:
                    dH, dW = dropconnect_backward(dA, lin)
                    grads[f"W.{i}"] += dW
                else:
                    dH, _ = linear_backward(dA, lin, need_dX=i > 0, dW=grads[f"W.{i}"])

        return H, backprop


class FullyConnectedDropout(FullyConnected):
    """Baseline II: dropout 0.5 on every hidden layer."""

    name = "fc-dropout"
    dropout = DROP


class FullyConnectedDropConnect(FullyConnected):
    """Baseline III: DropConnect 0.5 on every weight matrix."""

    name = "fc-dropconnect"
    dropconnect = DROP
