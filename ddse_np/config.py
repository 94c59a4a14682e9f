"""Every setting of a training run, validated before any work starts; saved in checkpoints."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .augment import AugmentConfig
from .errors import DDSEError
from .models import MODELS


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

    def to_dict(self) -> dict:
        return asdict(self)
