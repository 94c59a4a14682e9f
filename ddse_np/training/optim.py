"""Momentum SGD and the learning-rate schedule (paper 4.1).

Optimizer interface (one, documented once): ``opt.step(params, grads)``
updates every parameter in place from its gradient, keeps per-key state, and
leaves ``grads`` zeroed for the next batch to accumulate into (Thinc style).
It never projects: the sparsity projection is the training loop's job.
"""

from __future__ import annotations

import math

from ..fast import cache_blocks

SCHEDULES = ("plateau", "step")  # the learning-rate schedules (TrainConfig.schedule)


class MomentumSGD:
    """v <- momentum * v - lr * g ;  p <- p + v ;  g <- 0   (per parameter name).

    Every operation is in place: no temporary arrays the size of a parameter.
    On numpy the update walks each parameter in blocks of ``BLOCK_BYTES`` per array
    (:func:`ddse_np.fast.cache_blocks`) and does all four operations on a block
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
        """One update of every parameter, in place: v = momentum v - lr g, p += v; then g = 0.

        ``params`` and ``grads``: dicts name -> array of the same shapes.  The first step of a
        parameter starts its velocity at -lr g.  No projection here (ddse_np.nn.sparsity).
        """
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
        return dict(
            lr=self.lr,
            momentum=self.momentum,
            velocity={name: v.copy() for name, v in self.velocity.items()},
        )

    def load_state(self, state: dict):
        """Restore what :meth:`state` returned (the velocities copied as given: the caller,
        :func:`ddse_np.training.state.restore`, has put them on the parameters' backend)."""
        self.lr = float(state["lr"])
        self.momentum = float(state.get("momentum", self.momentum))
        self.velocity = {name: v.copy() for name, v in state.get("velocity", {}).items()}


class StepSchedule:
    """A fixed step schedule: lr0, multiplied by ``factor`` after each epoch round(f * epochs) for f
    in ``drops`` (fractions of the run, increasing, in (0, 1)); e.g. epochs 100, drops (0.5, 0.75):
    lr0 for epochs 1-50, lr0 * factor for 51-75, lr0 * factor**2 for 76-100.  It never ends a run.

    ``update(epoch)`` is called after every epoch (1-based, the one just finished) and returns the
    lr of the next.  It depends on the epoch alone, so a resumed run needs no state of its own.
    """

    def __init__(self, lr: float, factor: float, drops, epochs: int):
        self.lr0, self.factor, self.epochs = lr, factor, epochs
        self.drop_epochs = tuple(drop_epochs(drops, epochs))
        self.lr = lr

    def lr_after(self, epoch: int) -> float:
        """The lr of epoch ``epoch + 1``: lr0 * factor ** (drops at or before ``epoch``)."""
        return self.lr0 * self.factor ** sum(1 for d in self.drop_epochs if d <= epoch)

    def update(self, epoch: int) -> float:
        """After epoch ``epoch`` (1-based): the lr of the next epoch, also kept in ``lr``."""
        self.lr = self.lr_after(epoch)
        return self.lr

    def state(self) -> dict:
        """JSON-ready record of the schedule (a function of the epoch: nothing else to keep)."""
        return dict(
            kind="step",
            lr=self.lr,
            lr0=self.lr0,
            factor=self.factor,
            epochs=self.epochs,
            drop_epochs=list(self.drop_epochs),
        )

    def load_state(self, state: dict):
        """Restore the current lr from what :meth:`state` returned (the rest is the config's)."""
        self.lr = float(state["lr"])


def drop_epochs(drops, epochs: int) -> list:
    """The epochs after which a :class:`StepSchedule` of ``epochs`` epochs drops the lr:
    round(f * epochs) for each fraction f, at least 1."""
    return [max(1, int(round(f * epochs))) for f in drops]


def parse_drops(text: str) -> tuple:
    """'0.5,0.75' -> (0.5, 0.75); ValueError (in words) unless increasing fractions in (0, 1)."""
    try:
        drops = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of numbers") from None
    if not drops:
        raise ValueError("no fractions given")
    if not all(0.0 < f < 1.0 and math.isfinite(f) for f in drops):
        raise ValueError(f"{text!r}: each fraction must lie in (0, 1)")
    if any(b <= a for a, b in zip(drops, drops[1:])):
        raise ValueError(f"{text!r}: the fractions must increase")
    return drops


class PlateauSchedule:
    """Multiply lr by ``factor`` when validation error has not improved for ``patience``
    validations.

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
        """After an epoch of validation error ``val_error`` (%): the lr of the next epoch,
        multiplied by ``factor`` once ``patience`` epochs in a row have not beaten the best."""
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
        return dict(
            lr=self.lr,
            factor=self.factor,
            patience=self.patience,
            best=None if math.isinf(self.best) else self.best,
            bad_epochs=self.bad_epochs,
        )

    def load_state(self, state: dict):
        """Restore what :meth:`state` returned."""
        self.lr = float(state["lr"])
        self.factor = float(state["factor"])
        self.patience = int(state["patience"])
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
