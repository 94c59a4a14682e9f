"""Momentum SGD and the learning-rate schedule (paper 4.1).

Optimizer interface (one, documented once): ``opt.step(params, grads)``
updates every parameter in place from its gradient, keeps per-key state, and
leaves ``grads`` zeroed for the next batch to accumulate into (Thinc style).
It never projects: the sparsity projection is the training loop's job.
"""
from __future__ import annotations

import math

from .backend import cache_blocks


class MomentumSGD:
    """v <- momentum * v - lr * g ;  p <- p + v ;  g <- 0   (per parameter name).

    Every operation is in place: no temporary arrays the size of a parameter.
    On numpy the update walks each parameter in blocks of ``BLOCK_BYTES`` per array
    (:func:`ddse_np.backend.cache_blocks`) and does all four operations on a block
    while its p, v and g sit in the CPU's L2 cache (3 x 256 KB fit the 1 MB L2 of
    the machine it was measured on): each array then crosses memory once per step
    instead of once per operation (the update is memory-bound: the default DDSE
    has 4 M parameters, 48 MB of p, v and g in float32).  The arithmetic, and so
    the result, is the same bit for bit as whole-array operations.  cupy updates
    whole arrays.
    """

    BLOCK_BYTES = 256 * 1024  # of each of p, v, g per block: 65,536 float32 or 32,768 float64

    def __init__(self, lr: float, momentum: float):
        self.lr = lr
        self.momentum = momentum
        self.velocity: dict = {}

    def step(self, params: dict, grads: dict):
        for name, p in params.items():
            g = grads[name]
            v = self.velocity.get(name)
            if v is None:
                g *= -self.lr
                self.velocity[name] = g.copy()
                p += g
                g.fill(0)
                continue
            for pieces in cache_blocks((p, v, g), max(1, self.BLOCK_BYTES // p.itemsize)):
                self._update(*pieces)

    def _update(self, p, v, g):
        g *= -self.lr
        v *= self.momentum
        v += g
        p += v
        g.fill(0)

    def state(self) -> dict:
        """Everything a resumed run needs: lr, momentum (numbers) and velocity (name -> a copy
        of its array, on the parameters' backend; empty before the first step)."""
        return dict(lr=self.lr, momentum=self.momentum,
                    velocity={name: v.copy() for name, v in self.velocity.items()})

    def load_state(self, state: dict):
        """Restore what :meth:`state` returned (velocity arrays on the parameters' backend; copied)."""
        self.lr = float(state["lr"])
        self.momentum = float(state.get("momentum", self.momentum))
        self.velocity = {name: v.copy() for name, v in state.get("velocity", {}).items()}


class PlateauSchedule:
    """Multiply lr by ``factor`` when validation error has not improved for ``patience`` validations.

    ``update(val_error)`` is called once per validation (every ``val_every`` epochs) and returns
    the new lr.
    After a drop the patience counter restarts.
    """

    def __init__(self, lr: float, factor: float, patience: int):
        self.lr = lr
        self.factor = factor
        self.patience = patience
        self.best = math.inf
        self.bad_epochs = 0

    def update(self, val_error: float) -> float:
        if val_error < self.best:
            self.best = val_error
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                self.lr *= self.factor
                self.bad_epochs = 0
        return self.lr

    def state(self) -> dict:
        """JSON-ready state (best is None before the first update)."""
        return dict(lr=self.lr, factor=self.factor, patience=self.patience,
                    best=None if math.isinf(self.best) else self.best, bad_epochs=self.bad_epochs)

    def load_state(self, state: dict):
        """Restore what :meth:`state` returned."""
        self.lr = float(state["lr"])
        self.factor = float(state["factor"])
        self.patience = int(state["patience"])
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
