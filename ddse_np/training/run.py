"""One training run, from its start (or resume) to its end: the single path behind ``ddse train``,
a sweep's job and :func:`ddse_np.train`, each a thin adapter over :func:`run_training`.

A run trains until its schedule or its epochs end, or until ``should_stop()`` turns true after a
batch; saves its resumable state as its :class:`SavePolicy` says (every so many epochs, every so
many seconds, on a stop, at the end); reports a numerical fault as a result, not a traceback;
and tests the model it keeps (the best-validation epoch's by default).  What each caller then
does with the :class:`RunResult` (exit with one line, record a row, return the model) is its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DDSEError
from ..nn.evaluate import evaluate
from .trainer import NumericalFault, Trainer


@dataclass
class SavePolicy:
    """Where and when a run saves its whole resumable state (:meth:`Trainer.save`).

    ``path``: the checkpoint to write (None: never saved).  At the end of an epoch, the state is
    saved every ``every_epochs`` epochs (0: not by epochs) and at the first epoch end at least
    ``every_seconds`` after the start or the last save (None: not by time); mid-epoch, when the run
    is stopped; and when it finishes, if ``at_end``.  A save that fails raises, unless
    ``keep_going``: then the failure is noted in :attr:`RunResult.notes`, the run goes on, and no
    later save is tried.
    """

    path: Path | None = None
    every_epochs: int = 0
    every_seconds: float | None = None
    at_end: bool = True
    keep_going: bool = False


@dataclass
class RunResult:
    """How a run ended.

    ``finished``: it trained to its end (False: stopped on request, or a fault).  ``fault``: the
    :class:`NumericalFault` that ended it, else None.  ``saved``: the epochs (completed) at which
    its state was saved, in order; ``stop_saved``: whether a stopped run's state was saved where
    it stopped.  ``test``: :func:`ddse_np.nn.evaluate.evaluate` of the kept model on
    the test data (a finished run given test data only).  ``notes``: what went wrong but did not
    stop the run (a failed save with ``keep_going``).
    """

    trainer: Trainer
    finished: bool
    fault: NumericalFault | None = None
    saved: list = field(default_factory=list)
    stop_saved: bool = False
    test: dict | None = None
    notes: list = field(default_factory=list)

    @property
    def model(self):
        """The model the run keeps: the best-validation epoch's (``keep='best'``), else the last."""
        return self.trainer.kept_model()

    @property
    def kept(self) -> str:
        return "best" if self.trainer.keeps_best else "last"


class _Saver:
    """The :class:`SavePolicy` of one run, applied."""

    def __init__(self, trainer: Trainer, policy: SavePolicy, result: RunResult):
        self.trainer, self.policy, self.result = trainer, policy, result
        self.path = policy.path
        self.last = time.perf_counter()

    def save(self) -> bool:
        """Save now, if there is still a path to save to; True when saved."""
        if self.path is None:
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.trainer.save(self.path)
        except (DDSEError, OSError) as exc:
            if not self.policy.keep_going:
                raise
            self.result.notes.append(
                f"partial run not saved: {exc.strerror if isinstance(exc, OSError) else exc}"
            )
            self.path = None
        else:
            self.result.saved.append(self.trainer.progress.epoch)
        self.last = time.perf_counter()
        return self.path is not None

    def after_epoch(self, trainer: Trainer):
        if trainer.finished:  # the end is the at_end save's
            return
        policy, epoch = self.policy, trainer.progress.epoch
        by_epochs = policy.every_epochs and epoch % policy.every_epochs == 0
        by_time = (
            policy.every_seconds is not None
            and time.perf_counter() - self.last >= policy.every_seconds
        )
        if by_epochs or by_time:
            self.save()


def run_training(
    trainer: Trainer,
    test=None,
    save: SavePolicy | None = None,
    should_stop=lambda: False,
    reporter=None,
) -> RunResult:
    """Run ``trainer`` to its end (or until ``should_stop()``), saving as ``save`` says, and test
    the model it keeps on ``test`` (a :class:`~ddse_np.data.mnist.Split`, or None not to test).

    Returns a :class:`RunResult`; a numerical fault is returned in it (``fault``), with the last
    save as it was.  Raises what a save raises without ``keep_going`` (DDSEError, OSError).
    """
    result = RunResult(trainer, finished=False)
    saver = _Saver(trainer, save or SavePolicy(), result)
    try:
        finished = trainer.run(reporter, should_stop, saver.after_epoch)
    except NumericalFault as fault:
        result.fault = fault
        return result
    if not finished:
        result.stop_saved = saver.save()
        return result
    result.finished = True
    if saver.policy.at_end:
        saver.save()
    if test is not None:
        model = result.model
        result.test = evaluate(
            model, model.preprocess(test.images), model.backend.asarray(test.labels, "int64")
        )
    return result


def train(train_split, config, reporter=None, backend=None):
    """Train one model from ``config`` on ``train_split``, start to end.

    ``train_split``: N x d vectors or N x H x W images with labels in 0..C-1, as
    :meth:`Trainer.start` takes them (uint8 pixels divided by 255, other types used as given).

    Returns (model, history): the model ``ddse train`` would save and test, i.e. the
    :meth:`Trainer.kept_model` (with ``keep='best'``, the default, the parameters of the epoch of
    lowest validation error, not necessarily the last epoch's), and a dict of per-epoch lists
    (:data:`~ddse_np.training.trainer.HISTORY_FIELDS`).  Raises DDSEError for settings refused
    before training, :class:`NumericalFault` when the loss or a parameter becomes NaN or infinite.
    """
    result = run_training(Trainer.start(train_split, config, backend), reporter=reporter)
    if result.fault is not None:
        raise result.fault
    return result.model, result.trainer.history
