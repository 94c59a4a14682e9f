"""Training batches, with all randomness a pure function of (seed, epoch, batch).

The order of epoch e is a permutation drawn from seed [seed, 1, e]; the
augmentation of batch b of epoch e from [seed, 2, e, b]; dropout masks from
[seed, 3, e, b].  Nothing random carries over from one batch to the next, so a
run resumed at any batch continues exactly as if it had never stopped.
"""
from __future__ import annotations

import numpy as np

from .augment import augment
from .data import IMAGE_SHAPE, Split, flatten
from .pca import pca_transform


class BatchSource:
    """Batches (X : B x n PCA inputs, y : B labels, noise) on the model's backend.

    Without augmentation the PCA inputs are computed once.  With it, the raw
    images stay on the backend and every batch is augmented, then projected.
    """

    def __init__(self, model, fit: Split, config):
        self.model, self.backend = model, model.backend
        self.seed = config.seed
        self.augment = config.augment_config()
        self.batch_size = config.batch_size
        self.y = self.backend.asarray(fit.labels, dtype=np.int64)
        if self.augment.enabled:
            self.images = self.backend.asarray(flatten(fit.images, self.backend.dtype))
        else:
            self.X = model.preprocess(fit.images)
        self.count = len(fit)
        self.steps_per_epoch = -(-self.count // self.batch_size)

    def epoch(self, epoch: int, start: int = 0):
        """Yield (batch index, X, y, noise) for batches ``start``, ``start + 1``, ... of ``epoch``.

        ``noise`` is the batch's own stream of uniform draws (shape -> array) for
        dropout and DropConnect masks, to pass to ``model.loss_and_grads``.
        """
        order = np.random.default_rng([self.seed, 1, epoch]).permutation(self.count)
        order = self.backend.asarray(order, dtype=np.int64)
        for b in range(start, self.steps_per_epoch):
            rows = order[b * self.batch_size : (b + 1) * self.batch_size]
            noise = self.backend.uniform_source([self.seed, 3, epoch, b])
            if self.augment.enabled:
                images = self.images[rows].reshape(len(rows), *IMAGE_SHAPE)
                rng = np.random.default_rng([self.seed, 2, epoch, b])
                images = augment(images, self.augment, rng, self.backend)
                X = pca_transform(images.reshape(len(rows), -1), self.model.mean, self.model.basis)
            else:
                X = self.X[rows]
            yield b, X, self.y[rows], noise
