"""The training loop: multi-step projected momentum SGD (paper 3.2, 4.1).

Each step: gradients of a batch (added into zeroed buffers), one optimizer
update, thresholds clipped at 0.  Every ``project_every`` steps, and before
every evaluation and save, the projection P restores the sparsity constraints.
Once an epoch: one history row; every ``val_every`` epochs (and at the last) also
the validation error and the plateau schedule (``val_error`` is NaN in the other rows).
Training ends after ``epochs`` or, on the plateau schedule, when it would drop the lr below
``min_lr``, whichever comes first; the step schedule (``schedule='step'``) sets the lr of
each epoch from its number alone and never ends a run early.

A :class:`Trainer` can stop after any batch (``should_stop``) and hand out its
whole state (:mod:`ddse_np.training.state`); :func:`ddse_np.training.resume.resume_run` rebuilds it
from a checkpoint so that the continued run is bit-for-bit the run that never stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..backend import Backend
from ..data.pca import fit_pca, rank
from ..data.source import record
from ..data.split import Split, fingerprint, input_divisor, stratified_split, stratified_subset
from ..errors import DDSEError
from ..nn.evaluate import QUIET_OVERFLOW, evaluate
from ..nn.models import MODELS
from ..nn.sparsity import clip_thresholds, project_params
from .batches import BatchSource
from .config import TrainConfig
from .optim import MomentumSGD, PlateauSchedule, StepSchedule
from .state import capture

HISTORY_FIELDS = ("epoch", "train_loss", "val_error", "lr", "seconds", "samples_per_s")


class NumericalFault(DDSEError):
    """The loss or a parameter became NaN or infinite."""


@dataclass
class Progress:
    """Where a run stands: epochs finished, and how far into the next one."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed in epoch + 1
    step: int = 0  # optimizer steps in all
    loss_sum: float = 0.0  # sum of batch losses in the running epoch
    seconds: float = 0.0  # seconds spent in the running epoch
    schedule_ended: bool = False
    best_epoch: int = 0  # the epoch of the lowest validation error so far (0: none yet)
    best_val_error: float | None = None


class NullReporter:
    """Progress reporter interface; this one shows nothing."""

    def start(
        self, epochs: int, steps_per_epoch: int, epoch: int = 0, batch: int = 0, batch_size: int = 1
    ):
        pass

    def step(self, loss: float):
        pass

    def epoch_end(self, row: dict):
        pass

    def close(self):
        pass


def make_schedule(config: TrainConfig):
    """The learning-rate schedule ``config.schedule`` names: a
    :class:`~ddse_np.training.optim.PlateauSchedule` (updated with each validation error) or a
    :class:`~ddse_np.training.optim.StepSchedule` (updated after
    every epoch with the epoch's number)."""
    if config.schedule == "step":
        return StepSchedule(config.lr, config.lr_factor, config.drops(), config.epochs)
    return PlateauSchedule(config.lr, config.lr_factor, config.patience)


def split_training_data(train: Split, config: TrainConfig):
    """(fit, val): a stratified validation split, then the ts/t subset of the rest.

    Raises DDSEError when fewer than 2 training examples would be left.
    """
    rng = np.random.default_rng(config.seed)
    if len(train) - config.val_size < 2:
        raise DDSEError(
            f"only {max(0, len(train) - config.val_size)} training example(s) left: lower "
            f"--val-size ({config.val_size} of the {len(train)} training examples are held out "
            "for validation)"
        )
    rest, held = stratified_split(train.labels, config.val_size, rng)
    fit = train.take(rest)
    fit = fit.take(stratified_subset(fit.labels, config.train_fraction, rng))
    if len(fit) < 2:
        raise DDSEError(f"only {len(fit)} training example(s) left: raise --train-fraction")
    return fit, train.take(held)


def build_model(config: TrainConfig, n: int, backend: Backend, classes: int = 10):
    """A fresh model of ``config.model`` on ``backend`` (its start drawn with ``config.init_s(n)``
    nonzeros per line where ``--init-sparsity`` asks for another s than the constraint's)."""
    cls = MODELS[config.model]
    start = dict(
        sparsity=dict(s=config.sparsity_s(n)),
        init=dict(init=config.init),
        init_sparsity=dict(init_s=config.init_s(n)) if config.init_sparsity else {},
        theta_init=dict(theta_init=config.theta_init),
    )
    extra = {arg: value for name in cls.settings for arg, value in start.get(name, {}).items()}
    return cls.create(
        n=n, m=config.m, k=config.k, seed=config.seed, backend=backend, classes=classes, **extra
    )


class Trainer:
    """One training run: model, optimizer, schedule, data and progress."""

    def __init__(
        self,
        model,
        fit: Split,
        val: Split,
        config: TrainConfig,
        history: dict | None = None,
        progress: Progress | None = None,
    ):
        self.model, self.config = model, config
        self.backend = model.backend
        self.batches = BatchSource(model, fit, config)
        self.X_val = model.preprocess(val.images) if len(val) else None
        self.y_val = self.backend.asarray(val.labels, dtype=np.int64) if len(val) else None
        self.optimizer = MomentumSGD(config.lr, config.momentum)
        self.schedule = make_schedule(config)
        self.grads = model.zero_grads()
        self.history = history or {name: [] for name in HISTORY_FIELDS}
        self.progress = progress or Progress()
        self.best_params = None  # copies of the parameters at progress.best_epoch (keep='best')
        self.recipe = None  # the recipe file the settings came from: dict(name, text), or None
        self.data = None  # the training data: dict(directory, images, shape, sha256), or None

    @classmethod
    def start(
        cls, train_split: Split, config: TrainConfig, backend: Backend | None = None, data_dir=None
    ):
        """A fresh run: split the data, fit PCA on the training part, build the model.

        ``train_split``: N x d vectors or N x H x W images (uint8 pixels are divided by 255,
        other types used as given) with labels in 0..C-1.  The model's n is the PCA dimension,
        min(d, training examples - 1).  The training data are recorded for resuming
        (``data``): :func:`ddse_np.data.source.record` of ``data_dir``, when given, and the
        :func:`~ddse_np.data.split.fingerprint` of ``train_split``.
        Raises DDSEError for settings these data or this backend cannot run
        (:meth:`TrainConfig.validate` with the data's n and shape, augmentation of vectors, too
        few examples left, an unusable backend, labels outside 0..C-1).
        """
        labels, classes = train_split.labels, len(train_split.classes)
        if labels.dtype.kind not in "iu" or (
            len(labels) and not 0 <= labels.min() <= labels.max() < classes
        ):
            raise DDSEError(
                f"training labels must be integers in 0..{classes - 1} (the classes' indices)"
            )
        if config.augment_config().enabled and train_split.images.ndim != 3:
            raise DDSEError(
                "augmentation (--aug-*) needs images (N x H x W); these inputs are vectors "
                f"of {train_split.images.shape[1]} features"
            )
        d = int(np.prod(train_split.images.shape[1:]))
        config.validate(d, train_split.input_shape)
        backend = backend or Backend(config.backend, config.dtype)
        fit, val = split_training_data(train_split, config)
        n = rank(len(fit), d)
        if n < d:  # fewer training examples than features: s/n of the PCA's rank
            config.validate(n, train_split.input_shape)
        divisor = input_divisor(train_split.images)
        mean, basis, _ = fit_pca(fit.images.reshape(len(fit), -1), divisor=divisor)
        model = build_model(config, n, backend, len(train_split.classes))
        model.config.update(
            inputs=d,
            input_shape=list(train_split.input_shape),
            input_divisor=divisor,
            class_names=list(train_split.classes),
        )
        model.set_pca(mean, basis)
        project_params(model.params, model.constraints, model.s)
        trainer = cls(model, fit, val, config, None, None)
        trainer.data = dict(**(record(data_dir) if data_dir else dict(directory=None)))
        trainer.data.update(fingerprint(train_split))
        return trainer

    @property
    def keeps_best(self) -> bool:
        """True when the kept model is the best-validation one (keep='best', a validation split)."""
        return self.config.keep == "best" and self.X_val is not None

    def kept_model(self):
        """The model to save and test: the parameters of the epoch with the lowest validation
        error (keep='best'), else the current ones.  Shares arrays with the trainer: save or
        evaluate it before training goes on."""
        if self.keeps_best and self.best_params is not None:
            model = self.model
            return type(model)(
                self.best_params, model.config, model.backend, model.mean, model.basis
            )
        return self.model

    @property
    def finished(self) -> bool:
        """True once the run has trained its ``config.epochs`` or its schedule has ended it."""
        return self.progress.schedule_ended or self.progress.epoch >= self.config.epochs

    def run(self, reporter=None, should_stop=lambda: False, on_epoch_end=None):
        """Train until ``config.epochs`` or the end of the schedule, or until ``should_stop()``
        turns true after a batch.  ``on_epoch_end(trainer)`` is called after every epoch.
        Returns True when the run is finished, False when it was stopped early.
        """
        reporter, config, progress = reporter or NullReporter(), self.config, self.progress
        steps = self.batches.steps_per_epoch
        reporter.start(config.epochs, steps, progress.epoch, progress.batch, config.batch_size)
        try:
            while not self.finished:
                if not self._run_epoch(reporter, should_stop):
                    return False
                if on_epoch_end is not None:
                    on_epoch_end(self)
        finally:
            reporter.close()
        return True

    def _run_epoch(self, reporter, should_stop) -> bool:
        # overflow on the way to a NaN loss is reported as a NumericalFault, not as numpy warnings
        with np.errstate(**QUIET_OVERFLOW):
            return self._epoch(reporter, should_stop)

    def _epoch(self, reporter, should_stop) -> bool:
        model, config, progress = self.model, self.config, self.progress
        params, constraints, s = model.params, model.constraints, model.s
        epoch = progress.epoch + 1
        started = time.perf_counter() - progress.seconds
        for b, X, y, noise in self.batches.epoch(epoch, progress.batch):
            loss, _ = model.loss_and_grads(X, y, self.grads, noise=noise, check_labels=False)
            if not math.isfinite(loss):
                raise NumericalFault(
                    f"the loss became {loss} at step {progress.step + 1} "
                    f"(epoch {epoch}, batch {b + 1}), lr {self.optimizer.lr:g}"
                )
            self.optimizer.step(params, self.grads)  # also zeroes the gradients
            clip_thresholds(params)
            progress.step += 1
            if progress.step % config.project_every == 0:
                project_params(params, constraints, s)
            progress.batch, progress.loss_sum = b + 1, progress.loss_sum + loss
            reporter.step(loss)
            if should_stop() and progress.batch < self.batches.steps_per_epoch:
                progress.seconds = time.perf_counter() - started
                return False
        training_seconds = time.perf_counter() - started  # the steps alone, without validation
        project_params(params, constraints, s)
        check_finite(params, self.backend.xp, epoch)
        validates = self.X_val is not None and (
            epoch % config.val_every == 0 or epoch >= config.epochs
        )
        val_error = evaluate(model, self.X_val, self.y_val)["error"] if validates else float("nan")
        row = dict(
            epoch=epoch,
            train_loss=progress.loss_sum / self.batches.steps_per_epoch,
            val_error=val_error,
            lr=self.optimizer.lr,
            seconds=time.perf_counter() - started,
            samples_per_s=self.batches.count / training_seconds,
        )
        for name in HISTORY_FIELDS:
            self.history[name].append(row[name])
        if validates and (progress.best_val_error is None or val_error < progress.best_val_error):
            progress.best_epoch, progress.best_val_error = epoch, val_error
            if self.keeps_best:
                self.best_params = {name: value.copy() for name, value in params.items()}
        progress.epoch, progress.batch, progress.loss_sum, progress.seconds = epoch, 0, 0.0, 0.0
        reporter.epoch_end(row)
        if config.schedule == "step":
            self.optimizer.lr = self.schedule.update(epoch)
        elif validates:
            self.optimizer.lr = self.schedule.update(val_error)
            progress.schedule_ended = self.optimizer.lr < config.min_lr * (1 - 1e-9)
        return not (should_stop() and not self.finished)

    def state(self):
        """(JSON-ready training state, host arrays needed to resume): see
        :func:`ddse_np.training.state.capture`."""
        return capture(self)

    def save(self, path):
        """Write the kept model (:meth:`kept_model`), history and whole training state to ``path``
        (atomically; see :func:`ddse_np.files.checkpoint.save`)."""
        from ..files.checkpoint import save

        state, arrays = self.state()
        save(path, self.kept_model(), self.history, state, arrays)


def check_finite(params: dict, xp, epoch: int):
    """Raise :class:`NumericalFault` when a parameter holds NaN or infinity after ``epoch``."""
    for name, value in params.items():
        if not bool(xp.isfinite(value).all()):
            raise NumericalFault(f"parameter {name} holds NaN or infinity after epoch {epoch}")
