"""The training loop: multi-step projected momentum SGD (paper 3.2, 4.1).

Each step: gradients of a batch (added into zeroed buffers), one optimizer
update, thresholds clipped at 0.  Every ``project_every`` steps, and before
every evaluation and save, the projection P restores the sparsity constraints.
Once an epoch: validation error, the plateau schedule, one history row.
Training ends after ``epochs`` or when the schedule would drop the lr below
``min_lr``, whichever comes first.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, fields

import numpy as np

from .backend import Backend
from .augment import AugmentConfig, augment
from .data import IMAGE_SHAPE, NUM_CLASSES, Split, flatten, stratified_split, stratified_subset
from .errors import DDSEError
from .evaluate import evaluate
from .models import MODELS
from .optim import MomentumSGD, PlateauSchedule
from .pca import fit_pca, pca_transform
from .sparsity import clip_thresholds, project_params

HISTORY_FIELDS = ("epoch", "train_loss", "val_error", "lr", "seconds")


@dataclass
class TrainConfig:
    """Every setting of a training run; saved in the checkpoint."""

    model: str = "ddse"
    m: int = 1024
    k: int = 2
    sparsity: float = 0.25  # s / n
    init: str = "paper"
    theta_init: float = 0.01
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    project_every: int = 15
    val_size: int = 5000
    patience: int = 3
    lr_factor: float = 0.1
    min_lr: float = 1e-5
    train_fraction: float = 1.0
    aug_noise: float = 0.0
    aug_blur: float = 0.0
    aug_flip: float = 0.0
    aug_rotate: float = 0.0
    aug_scale: float = 0.0
    seed: int = 0
    backend: str = "numpy"
    dtype: str = "float32"

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def augment_config(self) -> AugmentConfig:
        return AugmentConfig(noise=self.aug_noise, blur=self.aug_blur, flip=self.aug_flip,
                             rotate=self.aug_rotate, scale=self.aug_scale)

    def sparsity_s(self, n: int) -> int:
        """s = round(sparsity * n): nonzeros per row/column of the constrained matrices."""
        return int(round(self.sparsity * n))

    def validate(self, n: int = 784):
        """Refuse impossible settings with one line, before any work starts."""
        checks = [
            (self.model in MODELS, f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}"),
            (self.m >= 1, f"--m must be at least 1 (got {self.m})"),
            (self.k >= 1, f"--k must be at least 1 (got {self.k})"),
            (0.0 < self.sparsity <= 1.0, f"--sparsity s/n must lie in (0, 1] (got {self.sparsity})"),
            (self.sparsity_s(n) >= 1, f"--sparsity {self.sparsity} leaves s = 0 nonzeros of n = {n}"),
            (0.0 < self.train_fraction <= 1.0,
             f"--train-fraction must lie in (0, 1] (got {self.train_fraction})"),
            (self.epochs >= 1, f"--epochs must be at least 1 (got {self.epochs})"),
            (self.batch_size >= 1, f"--batch-size must be at least 1 (got {self.batch_size})"),
            (self.lr > 0, f"--lr must be positive (got {self.lr})"),
            (0.0 <= self.momentum < 1.0, f"--momentum must lie in [0, 1) (got {self.momentum})"),
            (self.project_every >= 1, f"--project-every must be at least 1 (got {self.project_every})"),
            (self.val_size >= 0, f"--val-size must be non-negative (got {self.val_size})"),
            (self.patience >= 1, f"--patience must be at least 1 (got {self.patience})"),
            (0.0 < self.lr_factor < 1.0, f"--lr-factor must lie in (0, 1) (got {self.lr_factor})"),
            (self.theta_init >= 0, f"--theta-init must be non-negative (got {self.theta_init})"),
            (self.min_lr >= 0, f"--min-lr must be non-negative (got {self.min_lr})"),
        ]
        for ok, message in checks:
            if not ok:
                raise DDSEError(message)
        self.augment_config().validate()


class NullReporter:
    """Progress reporter interface; this one shows nothing."""

    def start(self, epochs: int, steps_per_epoch: int):
        pass

    def step(self, loss: float):
        pass

    def epoch_end(self, row: dict):
        pass

    def close(self):
        pass


def split_training_data(train: Split, config: TrainConfig):
    """(fit, val): a stratified validation split, then the ts/t subset of the rest."""
    rng = np.random.default_rng(config.seed)
    if config.val_size >= len(train):
        raise DDSEError(f"--val-size {config.val_size} leaves no training data (of {len(train)})")
    rest, held = stratified_split(train.labels, config.val_size, rng)
    fit = train.take(rest)
    fit = fit.take(stratified_subset(fit.labels, config.train_fraction, rng))
    if len(fit) < 2:
        raise DDSEError(f"only {len(fit)} training example(s) left: raise --train-fraction")
    return fit, train.take(held)


def build_model(config: TrainConfig, n: int, backend: Backend):
    """A fresh model of ``config.model`` on ``backend``."""
    cls = MODELS[config.model]
    return cls.create(n=n, m=config.m, k=config.k, s=config.sparsity_s(n), seed=config.seed,
                      backend=backend, init=config.init, theta_init=config.theta_init,
                      classes=NUM_CLASSES)


class BatchSource:
    """Training batches (X : B x n PCA inputs, y : B labels) on the backend, one epoch at a time.

    Without augmentation the PCA inputs are computed once.  With it, the raw
    images stay on the backend and every batch is augmented, then projected.
    """

    def __init__(self, model, fit: Split, config: TrainConfig):
        self.model, self.backend = model, model.backend
        self.augment = config.augment_config()
        self.batch_size = config.batch_size
        self.order_rng = np.random.default_rng([config.seed, 1])
        self.augment_rng = np.random.default_rng([config.seed, 2])
        self.y = self.backend.asarray(fit.labels, dtype=np.int64)
        if self.augment.enabled:
            self.images = self.backend.asarray(flatten(fit.images, self.backend.dtype))
        else:
            self.X = model.preprocess(fit.images)
        self.count = len(fit)
        self.steps_per_epoch = -(-self.count // self.batch_size)

    def epoch(self):
        order = self.backend.asarray(self.order_rng.permutation(self.count), dtype=np.int64)
        for first in range(0, self.count, self.batch_size):
            batch = order[first : first + self.batch_size]
            if self.augment.enabled:
                images = self.images[batch].reshape(len(batch), *IMAGE_SHAPE)
                images = augment(images, self.augment, self.augment_rng, self.backend)
                X = pca_transform(images.reshape(len(batch), -1), self.model.mean, self.model.basis)
            else:
                X = self.X[batch]
            yield X, self.y[batch]


def train(train_split: Split, config: TrainConfig, reporter=None, backend: Backend | None = None):
    """Train one model from ``config`` on the MNIST training split.

    Stops after ``config.epochs`` epochs, or earlier when the plateau schedule
    would take the lr below ``config.min_lr``.  Returns (model, history) where
    history is a dict of per-epoch lists (:data:`HISTORY_FIELDS`).
    """
    reporter = reporter or NullReporter()
    n = int(np.prod(train_split.images.shape[1:]))
    config.validate(n)
    backend = backend or Backend(config.backend, config.dtype)
    fit, val = split_training_data(train_split, config)

    mean, basis, _ = fit_pca(flatten(fit.images, np.float64))
    model = build_model(config, n, backend)
    model.set_pca(mean, basis)
    batches = BatchSource(model, fit, config)
    X_val = model.preprocess(val.images) if len(val) else None
    y_val = backend.asarray(val.labels, dtype=np.int64) if len(val) else None

    params, constraints, s = model.params, model.constraints, model.s
    optimizer = MomentumSGD(config.lr, config.momentum)
    schedule = PlateauSchedule(config.lr, config.lr_factor, config.patience)
    grads = model.zero_grads()
    history = {name: [] for name in HISTORY_FIELDS}
    step = 0
    project_params(params, constraints, s)
    reporter.start(config.epochs, batches.steps_per_epoch)
    try:
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            loss_sum = 0.0
            for X, y in batches.epoch():
                loss, _ = model.loss_and_grads(X, y, grads)
                optimizer.step(params, grads)
                for g in grads.values():
                    g.fill(0)
                clip_thresholds(params)
                step += 1
                if step % config.project_every == 0:
                    project_params(params, constraints, s)
                loss_sum += loss
                reporter.step(loss)
            project_params(params, constraints, s)
            val_error = evaluate(model, X_val, y_val)["error"] if X_val is not None else float("nan")
            row = dict(epoch=epoch, train_loss=loss_sum / batches.steps_per_epoch, val_error=val_error,
                       lr=optimizer.lr, seconds=time.perf_counter() - started)
            for name in HISTORY_FIELDS:
                history[name].append(row[name])
            reporter.epoch_end(row)
            if X_val is not None:
                optimizer.lr = schedule.update(val_error)
                if optimizer.lr < config.min_lr * (1 - 1e-9):
                    break  # the schedule has ended
    finally:
        reporter.close()
    project_params(params, constraints, s)
    return model, history
